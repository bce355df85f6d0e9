package jobhcl

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/nomad/api"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/gocty"
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
	switch p := rv.Addr().Interface().(type) {
	case *api.Constraint:
		return d.decodeConstraint(block.Body, p)
	case *api.Affinity:
		return d.decodeAffinity(block.Body, p)
	case *api.TaskGroup:
		return d.decodeGroup(block.Body, p)
	case *api.Task:
		return d.decodeTask(block.Body, p)
	}
	return d.decodeBody(block.Body, rv)
}

// mapArgument reads `name = { … }`, the argument form Nomad accepts besides the block form for the meta of a
// job, group or task and a task's env. It returns the map (nil when the body has no such argument) and the
// body without it.
func (d *decoder) mapArgument(body hcl.Body, name string) (map[string]string, hcl.Body, hcl.Diagnostics) {
	c, rest, diags := body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: name}}})
	attr := c.Attributes[name]
	if diags.HasErrors() || attr == nil {
		return nil, body, nil
	}
	bc, _, _ := rest.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: name}}})
	if len(bc.Blocks) > 0 {
		return nil, rest, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Duplicate %s block", name),
			Detail:   fmt.Sprintf("%s may not be defined more than once. Another definition is defined at %s.", name, attr.Range.String()),
			Subject:  bc.Blocks[0].DefRange.Ptr(),
		}}
	}
	m := map[string]string{}
	diags = append(diags, gohcl.DecodeExpression(attr.Expr, d.ctx, &m)...)
	return m, rest, diags
}

// decodeBody decodes a body into the struct rv (addressable) by the struct's hcl tags. Arguments and blocks
// that the struct does not declare are errors.
func (d *decoder) decodeBody(body hcl.Body, rv reflect.Value) hcl.Diagnostics {
	specs := fieldSpecs(rv.Type())
	schema := &hcl.BodySchema{}
	for _, s := range specs {
		switch s.kind {
		case kindAttr:
			schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: s.name, Required: s.required})
		case kindBlock:
			schema.Blocks = append(schema.Blocks, hcl.BlockHeaderSchema{Type: s.name, LabelNames: labelNames(structOf(s.typ))})
		}
	}
	content, diags := body.Content(schema)
	byType := content.Blocks.ByType()
	for _, s := range specs {
		fv := rv.FieldByIndex(s.index)
		switch s.kind {
		case kindAttr:
			if attr := content.Attributes[s.name]; attr != nil {
				diags = append(diags, d.decodeExpr(attr.Expr, fv)...)
			}
		case kindBlock:
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
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate %s block", s.name),
				Detail: fmt.Sprintf("Only one %s block is allowed. Another was defined at %s.",
					s.name, blocks[0].DefRange.String()),
				Subject: blocks[1].DefRange.Ptr(),
			})
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
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate %s block", s.name),
				Detail: fmt.Sprintf("Only one %s block is allowed. Another was defined at %s.",
					s.name, blocks[0].DefRange.String()),
				Subject: blocks[1].DefRange.Ptr(),
			})
		}
		attrs, ad := blocks[0].Body.JustAttributes()
		diags = append(diags, ad...)
		if t.Elem().Kind() == reflect.Interface {
			// Free-form maps (a task's config) are evaluated after the whole job decoded, as in Nomad.
			m := map[string]any{}
			fv.Set(reflect.ValueOf(m))
			for _, a := range sortedAttrs(attrs) {
				d.deferred = append(d.deferred, deferredArg{m: m, name: a.Name, expr: a.Expr})
			}
			return diags
		}
		m := reflect.MakeMapWithSize(t, len(attrs))
		for _, a := range sortedAttrs(attrs) {
			ev := reflect.New(t.Elem())
			diags = append(diags, d.decodeExpr(a.Expr, ev.Elem())...)
			m.SetMapIndex(reflect.ValueOf(a.Name), ev.Elem())
		}
		fv.Set(m)
	case t.Kind() == reflect.Map:
		// Labelled blocks by label: a later block of the same label replaces an earlier one.
		if fv.IsNil() {
			fv.Set(reflect.MakeMap(t))
		}
		for _, b := range blocks {
			key := ""
			if len(b.Labels) > 0 {
				key = b.Labels[0]
			}
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

// sortedAttrs returns a body's attributes in source order.
func sortedAttrs(attrs hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *hcl.Attribute) int { return a.Range.Start.Byte - b.Range.Start.Byte })
	return out
}

// decodeExpr evaluates expr into the field fv as Nomad's decoder does: the value is converted to the
// field's type (errors are "Unsuitable value type" at the start of the expression), durations are strings
// such as "30s" or numbers of nanoseconds.
func (d *decoder) decodeExpr(expr hcl.Expression, fv reflect.Value) hcl.Diagnostics {
	t := fv.Type()
	if isDuration(t) || (t.Kind() == reflect.Pointer && isDuration(t.Elem())) {
		return d.decodeDuration(expr, fv)
	}
	if _, err := gocty.ImpliedType(fv.Addr().Interface()); err != nil {
		val, diags := expr.Value(d.ctx)
		if g := goValue(val); g != nil && !diags.HasErrors() && t.Kind() == reflect.Interface {
			fv.Set(reflect.ValueOf(g))
		}
		return diags
	}
	return gohcl.DecodeExpression(expr, d.ctx, fv.Addr().Interface())
}

// decodeDuration decodes a duration field.
func (d *decoder) decodeDuration(expr hcl.Expression, fv reflect.Value) hcl.Diagnostics {
	val, diags := expr.Value(d.ctx)
	fail := func(summary, detail string) hcl.Diagnostics {
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  summary,
			Detail:   detail,
			Subject:  expr.StartRange().Ptr(),
			Context:  expr.Range().Ptr(),
		})
	}
	if val.IsNull() {
		return fail("Unsuitable value", "Unsuitable duration value: nil")
	}
	if val.Type() == cty.String {
		if !val.IsKnown() {
			return fail("Unsuitable value type", "Unsuitable value: value must be known")
		}
		dur, err := time.ParseDuration(val.AsString())
		if err != nil {
			return fail("Unsuitable value type", "Unsuitable duration value: "+err.Error())
		}
		val = cty.NumberIntVal(int64(dur))
	}
	if val.Type() != cty.Number {
		// Nomad formats the type with %s, which cty types do not implement.
		return fail("Unsuitable value type", fmt.Sprintf("Unsuitable value: expected a string but found %s", typeDump(val.Type())))
	}
	if err := gocty.FromCtyValue(val, fv.Addr().Interface()); err != nil {
		return fail("Unsuitable value type", "Unsuitable value: "+err.Error())
	}
	return diags
}

// typeDump is how Nomad's error text shows a cty type it formats with %s: the primitive kind as a number.
func typeDump(t cty.Type) string {
	kinds := map[cty.Type]int{cty.Bool: 'B', cty.Number: 'N', cty.String: 'S'}
	if k, ok := kinds[t]; ok {
		return fmt.Sprintf("{{{} %%!s(cty.primitiveTypeKind=%d)}}", k)
	}
	return fmt.Sprintf("%s", t.FriendlyName())
}
