package vault

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// field is one desired value of a Vault object and how to compare it with
// what Vault answers.
type field struct {
	key   string
	value any
	// set compares a list ignoring order and duplicates (Vault may sort).
	set bool
	// readBack, when not nil, is the value as Vault answers it (for example
	// a redacted URL), compared instead of value.
	readBack any
}

// diff returns the keys of want whose values differ from have's. Values are
// compared after normalising Vault's JSON numbers, lists and maps, so 3600
// equals json.Number("3600") and []string{"a"} equals []any{"a"}.
func diff(have map[string]any, want []field) []string {
	var out []string
	for _, f := range want {
		want := f.value
		if f.readBack != nil {
			want = f.readBack
		}
		if canon(have[f.key], f.set) != canon(want, f.set) {
			out = append(out, f.key)
		}
	}
	return out
}

// canon renders v as a canonical string.
func canon(v any, set bool) string {
	switch x := v.(type) {
	case nil:
		return ""
	case json.Number:
		return x.String()
	case string:
		return x
	case bool, int, int64, float64:
		return fmt.Sprint(x)
	case []string:
		items := append([]string(nil), x...)
		return canonList(items, set)
	case []any:
		items := make([]string, 0, len(x))
		for _, it := range x {
			items = append(items, canon(it, false))
		}
		return canonList(items, set)
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, v := range x {
			m[k] = v
		}
		return canonMap(m)
	case map[string]any:
		return canonMap(x)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func canonList(items []string, set bool) string {
	if set {
		sort.Strings(items)
		items = dedupe(items)
	}
	if len(items) == 0 {
		return ""
	}
	b, _ := json.Marshal(items)
	return string(b)
}

func canonMap(m map[string]any) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%q=%q;", k, canon(m[k], false))
	}
	return b.String()
}

func dedupe(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// payload turns fields into a request body.
func payload(fields []field) map[string]any {
	m := make(map[string]any, len(fields))
	for _, f := range fields {
		m[f.key] = f.value
	}
	return m
}

// only keeps the fields whose keys are in keys.
func only(fields []field, keys []string) []field {
	var out []field
	for _, f := range fields {
		for _, k := range keys {
			if f.key == k {
				out = append(out, f)
			}
		}
	}
	return out
}
