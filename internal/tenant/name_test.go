package tenant

import (
	"strings"
	"testing"
)

func TestParseName(t *testing.T) {
	valid := []string{
		"ACME Corporation", `O'Brien & "Sons"`, `$ {var.secret}`, "$x", "{x}", `%{ if true }x%{ endif }`, "a; DROP TABLE x;--",
		"`id`", "../../etc/passwd", "Ünïcödé 株式会社", "аcme (Cyrillic)", strings.Repeat("é", MaxNameLen), `back\slash`,
		"{{ .Data.password }}", "x",
	}
	for _, s := range valid {
		n, err := ParseName(s)
		if err != nil {
			t.Errorf("ParseName(%q): got %v; want ok", s, err)
			continue
		}
		if n.String() != s {
			t.Errorf("ParseName(%q) = %q; want it unchanged", s, n)
		}
	}
	invalid := []string{
		"", " lead", "trail ", "line\nbreak", "cr\rx", "tab\tx", "nul\x00x", "bidi\u202ex", "zw\u200bx",
		"ls\u2028x", "${node.unique.name}", "ACME $${x}", "a${", strings.Repeat("a", MaxNameLen+1), strings.Repeat("x", 300), "bad\xffutf8",
	}
	for _, s := range invalid {
		if _, err := ParseName(s); err == nil {
			t.Errorf("ParseName(%q): got ok; want error", s)
		}
	}
}
