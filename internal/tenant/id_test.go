package tenant

import (
	"errors"
	"strings"
	"testing"
)

// hostile are values that must never pass as an id or a host, and must never
// break the HCL a display name reaches.
var hostile = []string{
	``, `"`, `acme"`, `acme" ; rm -rf /`, `${var.x}`, `acme${x}`, `%{if true}x%{endif}`, "acme\nb", "acme\r",
	`acme;drop`, "acme`id`", `../etc`, `acme/../b`, `аcme` /* Cyrillic а */, `acmе` /* Cyrillic е */, `ACME`,
	`Acme`, `-acme`, `acme-`, `ac--me`, `a`, strings.Repeat("a", 300), `acme corp`, `acme.corp`, `acme_corp`,
	"acme\x00", `\acme`, `acme'`, `{{acme}}`, `１acme`, "acme\u200b",
}

func TestParseIDValid(t *testing.T) {
	for _, s := range []string{"ab", "acme", "acme-corp", "acme2", "a1", "a-b-c", strings.Repeat("a", 32), "x0-9z"} {
		id, err := ParseID(s)
		if err != nil {
			t.Errorf("ParseID(%q): got error %v; want ok", s, err)
			continue
		}
		if id.String() != s {
			t.Errorf("ParseID(%q) = %q; want %q", s, id, s)
		}
	}
}

func TestParseIDInvalid(t *testing.T) {
	invalid := append([]string{"1acme", "default", "vault", "admin", "www", "api", strings.Repeat("a", 33)}, hostile...)
	for _, s := range invalid {
		_, err := ParseID(s)
		if err == nil {
			t.Errorf("ParseID(%q): got ok; want error", s)
			continue
		}
		var ie *InvalidError
		if !errors.As(err, &ie) || ie.Example == "" || ie.Reason == "" {
			t.Errorf("ParseID(%q): got %v; want an *InvalidError with reason and example", s, err)
		}
		if strings.ContainsAny(err.Error(), "\n\r") {
			t.Errorf("ParseID(%q): error %q spans lines; want one line", s, err)
		}
		if len(err.Error()) > 200 {
			t.Errorf("ParseID(%q): error is %d bytes; want it truncated", s, len(err.Error()))
		}
	}
}
