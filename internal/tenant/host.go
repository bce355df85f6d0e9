package tenant

import (
	"fmt"
	"strings"
)

// Host is a validated, lower-case DNS host name such as acme.tenants.example.com:
// at most 253 characters, at least two labels, each label 1–63 characters of
// a-z, 0-9 and '-' that neither starts nor ends with '-', and a top-level
// label that is not all digits. No trailing dot, no wildcard, no port.
type Host string

// ExampleHost is shown in error messages as a valid host.
const ExampleHost = "acme.tenants.example.com"

// ParseHost validates s as a host name.
func ParseHost(s string) (Host, error) {
	if err := ValidateHostname(s); err != nil {
		return "", &InvalidError{What: "host", Value: s, Reason: err.Error(),
			Example: ExampleHost + " (lower-case DNS name)"}
	}
	return Host(s), nil
}

// DefaultHost returns <id>.<baseDomain>, validated.
func DefaultHost(id ID, baseDomain string) (Host, error) {
	return ParseHost(string(id) + "." + baseDomain)
}

// ValidateHostname reports why s is not a lower-case DNS host name, or nil. It
// is shared with the project config (base domain).
func ValidateHostname(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("it is empty")
	case len(s) > 253:
		return fmt.Errorf("it is longer than 253 characters")
	case strings.HasSuffix(s, "."):
		return fmt.Errorf("it must not end with a dot")
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return fmt.Errorf("it needs at least two labels, like example.com")
	}
	for _, l := range labels {
		if err := validateLabel(l); err != nil {
			return err
		}
	}
	tld := labels[len(labels)-1]
	if strings.Trim(tld, "0123456789") == "" {
		return fmt.Errorf("its last label %q is all digits", tld)
	}
	return nil
}

func validateLabel(l string) error {
	switch {
	case l == "":
		return fmt.Errorf("it has an empty label (two dots in a row or a leading dot)")
	case len(l) > 63:
		return fmt.Errorf("its label %q is longer than 63 characters", truncateForError(l))
	case l[0] == '-' || l[len(l)-1] == '-':
		return fmt.Errorf("its label %q starts or ends with a hyphen", l)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
		case c >= 'A' && c <= 'Z':
			return fmt.Errorf("it has an upper-case letter %q; use lower case", c)
		default:
			r := []rune(l[i:])[0]
			return fmt.Errorf("it has the character %q; only a-z, 0-9, '-' and '.' are allowed", r)
		}
	}
	return nil
}

// String returns the host.
func (h Host) String() string { return string(h) }
