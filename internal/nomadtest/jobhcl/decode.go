package jobhcl

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// The decoder is driven by the `hcl:"..."` struct tags that the nomad/api types already carry: each tagged
// field is one argument or one block type of the jobspec. A tag is "name,kind" where kind is one of
// "optional" (an optional argument), "" (a required argument), "block" or "label". The tags are the schema
// table; the few places where a jobspec differs from what the tags say are handled by the noun files
// (job.go, network.go, task.go).

// fieldKind says how a tagged struct field appears in HCL.
type fieldKind int

const (
	kindAttr fieldKind = iota
	kindBlock
	kindLabel
)

// fieldSpec is one tagged field of an api struct.
type fieldSpec struct {
	name     string
	kind     fieldKind
	required bool
	index    []int
	typ      reflect.Type
}

// isDuration reports whether t is time.Duration, which jobspecs write as a string such as "30s".
func isDuration(t reflect.Type) bool { return t == reflect.TypeFor[time.Duration]() }

// fieldSpecs lists the tagged fields of struct type t, in declaration order.
func fieldSpecs(t reflect.Type) []fieldSpec {
	var specs []fieldSpec
	for i := range t.NumField() {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("hcl")
		if !ok || tag == "-" || !f.IsExported() {
			continue
		}
		name, kind, _ := strings.Cut(tag, ",")
		s := fieldSpec{name: name, index: f.Index, typ: f.Type}
		switch kind {
		case "optional":
			s.kind = kindAttr
		case "":
			s.kind, s.required = kindAttr, true
		case "block":
			s.kind = kindBlock
		case "label":
			s.kind = kindLabel
			if s.name == "" {
				s.name = "name"
			}
		default:
			continue
		}
		specs = append(specs, s)
	}
	return specs
}

// structOf returns the struct type a block field holds (through pointers, slices and maps), or nil when the
// field holds a plain map (meta, env, config).
func structOf(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct {
		return t
	}
	return nil
}

// labelNames lists the label names a block of struct type t takes.
func labelNames(t reflect.Type) []string {
	if t == nil {
		return nil
	}
	var names []string
	for _, s := range fieldSpecs(t) {
		if s.kind == kindLabel {
			names = append(names, s.name)
		}
	}
	return names
}

// isPlainMap reports whether a block field is a map decoded from a block's arguments (meta, env, config,
// header) rather than a map of labelled blocks; such fields also accept the argument form `meta = { ... }`.
func isPlainMap(t reflect.Type) bool {
	return t.Kind() == reflect.Map && structOf(t) == nil
}

// decodeBlock decodes a block (labels and body) into the struct rv points to.
func (d *decoder) decodeBlock(block *hcl.Block, rv reflect.Value) hcl.Diagnostics {
	li := 0
	for _, s := range fieldSpecs(rv.Type()) {
		if s.kind != kindLabel || li >= len(block.Labels) {
			continue
		}
		fv := rv.FieldByIndex(s.index)
		label := block.Labels[li]
		li++
		switch {
		case fv.Kind() == reflect.String:
			fv.SetString(label)
		case fv.Kind() == reflect.Pointer && fv.Type().Elem().Kind() == reflect.String:
			p := reflect.New(fv.Type().Elem())
			p.Elem().SetString(label)
			fv.Set(p)
		}
	}
	return d.decodeBody(block.Body, rv)
}

// decodeBody decodes a body into the struct rv (addressable) by the struct's hcl tags. Arguments and blocks
// that the struct does not declare are errors, as in Nomad.
func (d *decoder) decodeBody(body hcl.Body, rv reflect.Value) hcl.Diagnostics {
	specs := fieldSpecs(rv.Type())
	syn := d.syntaxBody(body)
	schema := &hcl.BodySchema{}
	attrForm := map[string]bool{}
	for _, s := range specs {
		switch s.kind {
		case kindAttr:
			schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: s.name, Required: s.required})
		case kindBlock:
			if isPlainMap(s.typ) && syn != nil && syn.Attributes[s.name] != nil {
				attrForm[s.name] = true
				schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: s.name})
				continue
			}
			schema.Blocks = append(schema.Blocks, hcl.BlockHeaderSchema{Type: s.name, LabelNames: labelNames(structOf(s.typ))})
		}
	}
	content, diags := body.Content(schema)
	byType := content.Blocks.ByType()
	for _, s := range specs {
		fv := rv.FieldByIndex(s.index)
		switch {
		case s.kind == kindAttr || attrForm[s.name]:
			attr := content.Attributes[s.name]
			if attr == nil {
				continue
			}
			val, vd := d.eval(attr.Expr)
			diags = append(diags, vd...)
			if vd.HasErrors() {
				continue
			}
			diags = append(diags, d.assign(val, fv, attr.Expr.Range())...)
		case s.kind == kindBlock:
			diags = append(diags, d.decodeBlocks(s, byType[s.name], fv)...)
		}
	}
	return diags
}

// decodeBlocks decodes all blocks of one type into the field fv.
func (d *decoder) decodeBlocks(s fieldSpec, blocks []*hcl.Block, fv reflect.Value) hcl.Diagnostics {
	if len(blocks) == 0 {
		return nil
	}
	var diags hcl.Diagnostics
	t := fv.Type()
	switch {
	case t.Kind() == reflect.Pointer || t.Kind() == reflect.Struct:
		if len(blocks) > 1 {
			diags = append(diags, duplicateBlock(s.name, blocks[0], blocks[1]))
		}
		if t.Kind() == reflect.Pointer {
			p := reflect.New(t.Elem())
			diags = append(diags, d.decodeBlock(blocks[0], p.Elem())...)
			fv.Set(p)
		} else {
			diags = append(diags, d.decodeBlock(blocks[0], fv)...)
		}
	case t.Kind() == reflect.Slice:
		et := t.Elem()
		for _, b := range blocks {
			p := reflect.New(structOf(et))
			diags = append(diags, d.decodeBlock(b, p.Elem())...)
			if et.Kind() == reflect.Pointer {
				fv.Set(reflect.Append(fv, p))
			} else {
				fv.Set(reflect.Append(fv, p.Elem()))
			}
		}
	case isPlainMap(t):
		if len(blocks) > 1 {
			diags = append(diags, duplicateBlock(s.name, blocks[0], blocks[1]))
		}
		if t.Elem().Kind() == reflect.Interface {
			m, md := d.freeform(blocks[0].Body)
			diags = append(diags, md...)
			fv.Set(reflect.ValueOf(m))
			return diags
		}
		attrs, ad := blocks[0].Body.JustAttributes()
		diags = append(diags, ad...)
		m := reflect.MakeMapWithSize(t, len(attrs))
		for _, a := range sortedAttrs(attrs) {
			val, vd := d.eval(a.Expr)
			diags = append(diags, vd...)
			if vd.HasErrors() {
				continue
			}
			ev := reflect.New(t.Elem()).Elem()
			diags = append(diags, d.assign(val, ev, a.Expr.Range())...)
			m.SetMapIndex(reflect.ValueOf(a.Name), ev)
		}
		fv.Set(m)
	case t.Kind() == reflect.Map:
		if fv.IsNil() {
			fv.Set(reflect.MakeMap(t))
		}
		seen := map[string]*hcl.Block{}
		for _, b := range blocks {
			key := ""
			if len(b.Labels) > 0 {
				key = b.Labels[0]
			}
			if prev := seen[key]; prev != nil {
				diags = append(diags, duplicateBlock(fmt.Sprintf("%s %q", s.name, key), prev, b))
				continue
			}
			seen[key] = b
			p := reflect.New(structOf(t.Elem()))
			diags = append(diags, d.decodeBlock(b, p.Elem())...)
			if t.Elem().Kind() == reflect.Pointer {
				fv.SetMapIndex(reflect.ValueOf(key), p)
			} else {
				fv.SetMapIndex(reflect.ValueOf(key), p.Elem())
			}
		}
	}
	return diags
}

// duplicateBlock reports a second block of a type that may appear only once.
func duplicateBlock(name string, first, second *hcl.Block) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Duplicate %s block", name),
		Detail: fmt.Sprintf("Only one %s block is allowed here. Another was defined at %s.",
			name, first.DefRange.String()),
		Subject: second.DefRange.Ptr(),
	}
}

// sortedAttrs returns a body's attributes in source order.
func sortedAttrs(attrs hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *hcl.Attribute) int { return a.Range.Start.Byte - b.Range.Start.Byte })
	return out
}

// unsuitable is the diagnostic for a value that does not fit the field it is assigned to.
func unsuitable(rng hcl.Range, format string, args ...any) hcl.Diagnostics {
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Unsuitable value type",
		Detail:   "Unsuitable value: " + fmt.Sprintf(format, args...),
		Subject:  rng.Ptr(),
	}}
}

// assign stores val into fv, converting it to the field's Go type. A null value leaves the field unset.
func (d *decoder) assign(val cty.Value, fv reflect.Value, rng hcl.Range) hcl.Diagnostics {
	if val.IsNull() {
		return nil
	}
	if !val.IsWhollyKnown() {
		return unsuitable(rng, "the value is not known")
	}
	val, _ = val.Unmark()
	t := fv.Type()
	switch {
	case t.Kind() == reflect.Pointer:
		p := reflect.New(t.Elem())
		if diags := d.assign(val, p.Elem(), rng); diags.HasErrors() {
			return diags
		}
		fv.Set(p)
		return nil
	case isDuration(t):
		return assignDuration(val, fv, rng)
	case t.Kind() == reflect.String:
		s, err := convert.Convert(val, cty.String)
		if err != nil {
			return unsuitable(rng, "%s", err)
		}
		fv.SetString(s.AsString())
	case t.Kind() == reflect.Bool:
		b, err := convert.Convert(val, cty.Bool)
		if err != nil {
			return unsuitable(rng, "%s", err)
		}
		fv.SetBool(b.True())
	case isInt(t.Kind()) || isUint(t.Kind()):
		return assignInteger(val, fv, rng)
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		n, err := convert.Convert(val, cty.Number)
		if err != nil {
			return unsuitable(rng, "%s", err)
		}
		f, _ := n.AsBigFloat().Float64()
		fv.SetFloat(f)
	case t.Kind() == reflect.Slice:
		ty := val.Type()
		if !ty.IsListType() && !ty.IsTupleType() && !ty.IsSetType() {
			return unsuitable(rng, "%s required", collectionName("list", t.Elem()))
		}
		out := reflect.MakeSlice(t, 0, val.LengthInt())
		for it := val.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			elem := reflect.New(t.Elem()).Elem()
			if diags := d.assign(ev, elem, rng); diags.HasErrors() {
				return diags
			}
			out = reflect.Append(out, elem)
		}
		fv.Set(out)
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		ty := val.Type()
		if !ty.IsMapType() && !ty.IsObjectType() {
			return unsuitable(rng, "%s required", collectionName("map", t.Elem()))
		}
		out := reflect.MakeMapWithSize(t, val.LengthInt())
		for it := val.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			elem := reflect.New(t.Elem()).Elem()
			if diags := d.assign(ev, elem, rng); diags.HasErrors() {
				return diags
			}
			out.SetMapIndex(reflect.ValueOf(k.AsString()).Convert(t.Key()), elem)
		}
		fv.Set(out)
	case t.Kind() == reflect.Interface:
		if g := goValue(val); g != nil {
			fv.Set(reflect.ValueOf(g))
		}
	case t.Kind() == reflect.Struct:
		// A struct in argument position (rare in jobspecs): decode an object's attributes by the tags.
		if !val.Type().IsObjectType() && !val.Type().IsMapType() {
			return unsuitable(rng, "an object is required")
		}
		for _, s := range fieldSpecs(t) {
			if s.kind != kindAttr || !val.Type().IsObjectType() || !val.Type().HasAttribute(s.name) {
				continue
			}
			if diags := d.assign(val.GetAttr(s.name), fv.FieldByIndex(s.index), rng); diags.HasErrors() {
				return diags
			}
		}
	default:
		return unsuitable(rng, "a value of Go type %s cannot be decoded", t)
	}
	return nil
}

// collectionName names a list or map of Go element type elem the way cty names types: "list of string".
func collectionName(kind string, elem reflect.Type) string {
	for elem.Kind() == reflect.Pointer {
		elem = elem.Elem()
	}
	switch {
	case isDuration(elem) || elem.Kind() == reflect.String:
		return kind + " of string"
	case elem.Kind() == reflect.Bool:
		return kind + " of bool"
	case isInt(elem.Kind()) || isUint(elem.Kind()) || elem.Kind() == reflect.Float64 || elem.Kind() == reflect.Float32:
		return kind + " of number"
	case elem.Kind() == reflect.Slice:
		return kind + " of " + collectionName("list", elem.Elem())
	}
	return kind
}

func isInt(k reflect.Kind) bool {
	return k == reflect.Int || k == reflect.Int8 || k == reflect.Int16 || k == reflect.Int32 || k == reflect.Int64
}

func isUint(k reflect.Kind) bool {
	return k == reflect.Uint || k == reflect.Uint8 || k == reflect.Uint16 || k == reflect.Uint32 || k == reflect.Uint64
}

// assignInteger stores a whole number into an integer field, checking its range.
func assignInteger(val cty.Value, fv reflect.Value, rng hcl.Range) hcl.Diagnostics {
	n, err := convert.Convert(val, cty.Number)
	if err != nil {
		return unsuitable(rng, "%s", err)
	}
	bf := n.AsBigFloat()
	if !bf.IsInt() {
		return unsuitable(rng, "a whole number is required")
	}
	if isInt(fv.Kind()) {
		i, acc := bf.Int64()
		if acc != 0 || fv.OverflowInt(i) {
			return unsuitable(rng, "the number %s is out of range", bf.Text('f', -1))
		}
		fv.SetInt(i)
		return nil
	}
	u, acc := bf.Uint64()
	if acc != 0 || bf.Sign() < 0 || fv.OverflowUint(u) {
		return unsuitable(rng, "the number %s is out of range", bf.Text('f', -1))
	}
	fv.SetUint(u)
	return nil
}

// assignDuration stores a duration given as a Go duration string ("30s", "1h30m"). A number is taken as
// nanoseconds, as the JSON API does.
func assignDuration(val cty.Value, fv reflect.Value, rng hcl.Range) hcl.Diagnostics {
	if val.Type() == cty.Number {
		return assignInteger(val, fv, rng)
	}
	s, err := convert.Convert(val, cty.String)
	if err != nil {
		return unsuitable(rng, "%s", err)
	}
	dur, err := time.ParseDuration(s.AsString())
	if err != nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Unsuitable duration value",
			Detail:   fmt.Sprintf("Unsuitable duration: %s", err),
			Subject:  rng.Ptr(),
		}}
	}
	fv.SetInt(int64(dur))
	return nil
}
