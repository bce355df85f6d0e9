package migrate

import (
	"net/url"
	"regexp"
	"strings"
)

var (
	// urlRE finds postgres URLs inside a longer text.
	urlRE = regexp.MustCompile(`postgres(?:ql)?://[^\s"'` + "`" + `]+`)
	// kvPasswordRE finds password=... in keyword/value connection strings,
	// quoted or not.
	kvPasswordRE = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s]+)`)
	// queryPasswordRE finds password=... in a URL's query.
	queryPasswordRE = regexp.MustCompile(`(?i)([?&]password=)[^&#\s]*`)
)

// RedactURL returns s with the password of every PostgreSQL connection
// string in it replaced by "xxxxx": postgres:// URLs (user info and the
// password query parameter) and keyword/value strings (password=...).
func RedactURL(s string) string {
	s = urlRE.ReplaceAllStringFunc(s, func(u string) string {
		if parsed, err := url.Parse(u); err == nil && parsed.User != nil {
			if _, has := parsed.User.Password(); has {
				parsed.User = url.UserPassword(parsed.User.Username(), "xxxxx")
				u = parsed.String()
			}
		} else if err != nil {
			// Unparseable: drop everything between "://" and the last "@".
			if at := strings.LastIndex(u, "@"); at > 0 {
				scheme := u[:strings.Index(u, "://")+3]
				u = scheme + "xxxxx" + u[at:]
			}
		}
		return queryPasswordRE.ReplaceAllString(u, "${1}xxxxx")
	})
	return kvPasswordRE.ReplaceAllString(s, "${1}xxxxx")
}
