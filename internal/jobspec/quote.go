package jobspec

import (
	"fmt"
	"strings"
	"unicode"
)

// Quote returns s as an HCL native-syntax string literal. Backslashes,
// quotes and control characters are escaped, and the template introducers
// "${" and "%{" are doubled ("$${", "%%{") so HCL reads them literally: the
// result always evaluates to exactly s, never to an interpolation.
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '$', '%':
			b.WriteRune(r)
			if i+1 < len(s) && s[i+1] == '{' {
				b.WriteRune(r)
			}
		default:
			if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
				if r > 0xFFFF {
					fmt.Fprintf(&b, `\U%08x`, r)
				} else {
					fmt.Fprintf(&b, `\u%04x`, r)
				}
				continue
			}
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
