package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/cronexpr"
)

// scheduleRE is the character set of a cron expression: fields of digits,
// names, * / , - ? L W #, or one of the @ macros. It keeps the value safe
// in a var file before cronexpr (the parser Nomad itself uses) judges it.
var scheduleRE = regexp.MustCompile(`^(@[a-z]+|[A-Za-z0-9*/,?#-]+( [A-Za-z0-9*/,?#-]+){4,6})$`)

// CheckSchedule validates a cron expression for a Nomad periodic job: five
// to seven fields (minute first) or a macro such as @daily, as Nomad's cron
// parser reads them, that fires at least once in the future.
func CheckSchedule(s string) error {
	if len(s) > 100 || !scheduleRE.MatchString(s) {
		return fmt.Errorf("use a cron expression such as \"0 3 * * *\" (minute hour day-of-month month day-of-week) or @daily")
	}
	if strings.HasPrefix(s, "@") {
		switch s {
		case "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@hourly":
		default:
			return fmt.Errorf("unknown macro %s: use @hourly, @daily, @weekly, @monthly or @yearly", s)
		}
	}
	expr, err := cronexpr.Parse(s)
	if err != nil {
		return fmt.Errorf("not a cron expression: %v", err)
	}
	if expr.Next(time.Now()).IsZero() {
		return fmt.Errorf("the expression never fires")
	}
	return nil
}

// CheckScheduleOrEmpty accepts "" (no scheduled backups) or a cron
// expression (CheckSchedule).
func CheckScheduleOrEmpty(s string) error {
	if s == "" {
		return nil
	}
	return CheckSchedule(s)
}

// CheckKeep validates a retention count: 0 (keep every backup) to 10000.
func CheckKeep(n int) error {
	if n < 0 || n > 10000 {
		return fmt.Errorf("it must be between 0 (keep all) and 10000")
	}
	return nil
}
