// Package tenant is tenantctl's domain: the tenant id, its display name and
// host, and the name of every resource a tenant owns in Nomad, Consul, Vault,
// Postgres and Redis. It imports nothing outside the standard library.
package tenant

import (
	"fmt"
	"strings"
)

// ID is a validated tenant id: a DNS label of 2–32 lowercase letters, digits
// and hyphens that starts with a letter, does not end with a hyphen, contains
// no "--" and is not reserved. The zero value is invalid.
type ID string

const (
	minIDLen = 2
	maxIDLen = 32
)

// reserved ids would collide with cluster-wide names or confuse operators.
var reserved = map[string]bool{
	"default": true, "system": true, "nomad": true, "consul": true, "vault": true,
	"admin": true, "www": true, "api": true, "root": true, "tenantctl": true,
	"router": true, "global": true, "localhost": true, "postgres": true, "redis": true,
	"internal": true, "kube-system": true, "all": true, "none": true, "test": true,
}

// ExampleID is shown in error messages as a valid id.
const ExampleID = "acme-corp"

// ParseID validates s as a tenant id.
func ParseID(s string) (ID, error) {
	if err := validateID(s); err != nil {
		return "", &InvalidError{What: "tenant id", Value: s, Reason: err.Error(),
			Example: ExampleID + " (2–32 lowercase letters, digits and single hyphens, starting with a letter)"}
	}
	return ID(s), nil
}

func validateID(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("it is empty")
	case len(s) < minIDLen:
		return fmt.Errorf("it is shorter than %d characters", minIDLen)
	case len(s) > maxIDLen:
		return fmt.Errorf("it is longer than %d characters", maxIDLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
		case c >= 'A' && c <= 'Z':
			return fmt.Errorf("it has an upper-case letter %q", c)
		default:
			r := []rune(s[i:])[0]
			return fmt.Errorf("it has the character %q; only a-z, 0-9 and - are allowed", r)
		}
	}
	switch {
	case s[0] < 'a' || s[0] > 'z':
		return fmt.Errorf("it must start with a letter")
	case s[len(s)-1] == '-':
		return fmt.Errorf("it must not end with a hyphen")
	case strings.Contains(s, "--"):
		return fmt.Errorf("it must not contain \"--\" (tenantctl uses it to separate names)")
	case reserved[s]:
		return fmt.Errorf("%q is reserved", s)
	}
	return nil
}

// String returns the id.
func (id ID) String() string { return string(id) }

// InvalidError reports an invalid value with the reason and a valid example.
type InvalidError struct {
	What    string
	Value   string
	Reason  string
	Example string
}

// Error returns "invalid <what> <value>: <reason>", the value truncated.
func (e *InvalidError) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.What, truncateForError(e.Value), e.Reason)
}

// truncateForError keeps hostile or huge values from flooding an error line.
func truncateForError(s string) string {
	const max = 64
	r := []rune(s)
	if len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
}
