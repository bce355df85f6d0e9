package tenant

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameLen is the longest display name, in characters (runes).
const MaxNameLen = 100

// ExampleName is shown in error messages as a valid display name.
const ExampleName = "ACME Corporation"

// Name is a validated display name: 1–100 characters of valid UTF-8 with no
// control or invisible formatting characters, no leading or trailing space
// and no "${". Anything else is allowed (quotes, "%{", ";", backticks,
// non-Latin scripts): a Name is data, never markup. Every place it reaches
// quotes it for that place: HCL through jobspec's var-file writer, SQL through
// bind parameters. It never reaches nginx config: the router
// selects on the tenant id and host only. "${" is the one sequence no quoting
// can protect: Nomad interpolates ${...} in job meta and task environment
// when the job runs, after the HCL is parsed, so a name holding
// "${node.unique.name}" would show the node's name instead.
type Name string

// ParseName validates s as a display name.
func ParseName(s string) (Name, error) {
	if err := validateName(s); err != nil {
		return "", &InvalidError{What: "display name", Value: s, Reason: err.Error(),
			Example: fmt.Sprintf("%q (1–%d characters, no control characters)", ExampleName, MaxNameLen)}
	}
	return Name(s), nil
}

func validateName(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("it is empty")
	case !utf8.ValidString(s):
		return fmt.Errorf("it is not valid UTF-8")
	case utf8.RuneCountInString(s) > MaxNameLen:
		return fmt.Errorf("it is longer than %d characters", MaxNameLen)
	case strings.TrimSpace(s) != s:
		return fmt.Errorf("it has leading or trailing space")
	case strings.Contains(s, "${"):
		return fmt.Errorf("it contains \"${\", which Nomad would interpolate when the job runs")
	}
	for _, r := range s {
		switch {
		case unicode.IsControl(r):
			return fmt.Errorf("it has the control character %U (newlines and tabs are not allowed)", r)
		case unicode.Is(unicode.Cf, r):
			// Bidi overrides, zero-width joiners and the like can make a name
			// display as something it is not.
			return fmt.Errorf("it has the invisible formatting character %U", r)
		case r == utf8.RuneError:
			return fmt.Errorf("it has the replacement character U+FFFD")
		case unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r):
			return fmt.Errorf("it has the line separator %U", r)
		}
	}
	return nil
}

// String returns the name.
func (n Name) String() string { return string(n) }
