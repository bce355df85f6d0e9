// Package exit defines tenantctl's exit codes and the error type that carries
// one, together with a remedy a user can act on.
//
// Every package may return an *Error; the CLI prints it as
//
//	Error: <message>
//	Try: <remedy>
//
// and exits with its code. Any other error exits with Failure.
package exit

import (
	"errors"
	"fmt"
)

// Code is a process exit code. The table is documented in the README and in
// `tenantctl --help`; it never changes meaning between releases.
type Code int

// The exit-code table.
const (
	OK          Code = 0 // success; for plan: no changes
	Failure     Code = 1 // an error not covered below
	Usage       Code = 2 // bad command line or invalid input; nothing was changed
	Changes     Code = 3 // plan: the tenant has changes to apply
	Unreachable Code = 4 // Nomad, Consul or Vault unreachable, or a version or permission preflight failed
	Partial     Code = 5 // apply stopped part way; re-run to converge
	Locked      Code = 6 // another operator holds the tenant's lock, or the command lost it while running
	Interrupted Code = 130
)

// Table lists every code with its meaning, in order, for help text and docs.
var Table = []struct {
	Code    Code
	Meaning string
}{
	{OK, "success (plan: no changes)"},
	{Failure, "error"},
	{Usage, "usage error or invalid input; nothing was changed"},
	{Changes, "plan: changes to apply"},
	{Unreachable, "Nomad, Consul or Vault unreachable or not usable (preflight)"},
	{Partial, "apply stopped part way; run the command again to converge"},
	{Locked, "the tenant is locked by another operator, or the command lost its lock while running"},
	{Interrupted, "interrupted"},
}

// Error is an error with an exit code and, when the user can fix it, a remedy.
type Error struct {
	Code Code
	// Hint is the remedy printed after "Try:"; empty when there is none.
	Hint string
	// Cause names the condition, for a front end that words the remedy
	// itself (see Because); empty when there is none.
	Cause Cause
	Err   error
}

// Cause names a condition whose remedy depends on the front end: how the
// user points tenantctl at Nomad, Consul or Vault, or gives it a token, is the
// CLI's business (its flags and environment variables), not the adapters'.
// Adapters mark such errors with a cause and no hint; the CLI words the
// remedy.
type Cause string

// Because returns err with code and cause c and no remedy. It returns nil
// when err is nil.
func Because(err error, code Code, c Cause) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Cause: c, Err: err}
}

func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// New returns an *Error with the given code, remedy and message.
func New(code Code, hint, format string, args ...any) *Error {
	return &Error{Code: code, Hint: hint, Err: fmt.Errorf(format, args...)}
}

// Wrap attaches a code and remedy to err. It returns nil when err is nil.
func Wrap(err error, code Code, hint string) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Hint: hint, Err: err}
}

// UsageError returns a Usage error: invalid input that the user can correct.
func UsageError(hint, format string, args ...any) *Error {
	return New(Usage, hint, format, args...)
}

// CodeOf returns the exit code for err: OK for nil, the code of the outermost
// *Error in its chain, otherwise Failure.
func CodeOf(err error) Code {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Failure
}

// HintOf returns the remedy of the outermost *Error in err's chain that has one.
func HintOf(err error) string {
	return outermost(err, func(e *Error) string { return e.Hint })
}

// CauseOf returns the cause of the outermost *Error in err's chain that has
// one, or "".
func CauseOf(err error) Cause {
	return outermost(err, func(e *Error) Cause { return e.Cause })
}

// outermost returns the first non-zero field(e) of the *Errors in err's
// chain, outermost first.
func outermost[T comparable](err error, field func(*Error) T) T {
	var zero T
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return zero
		}
		if v := field(e); v != zero {
			return v
		}
		err = e.Err
	}
	return zero
}
