package jobhcl

import (
	"math/big"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// decoder holds what decoding a job needs: the evaluation context (`var`, `local`, the runtime references
// and the functions) and an index of the syntax tree.
type decoder struct {
	ctx    *hcl.EvalContext
	bodies map[int]*hclsyntax.Body // every body of the jobspec, by the byte offset where it starts
}

// indexBodies records body and all bodies nested in it.
func (d *decoder) indexBodies(body *hclsyntax.Body) {
	if d.bodies == nil {
		d.bodies = map[int]*hclsyntax.Body{}
	}
	d.bodies[body.SrcRange.Start.Byte] = body
	for _, b := range body.Blocks {
		d.indexBodies(b.Body)
	}
}

// syntaxBody returns the syntax tree of a body. Bodies are wrapped for dynamic block expansion, so the
// source body is found by its position.
func (d *decoder) syntaxBody(body hcl.Body) *hclsyntax.Body {
	if syn, ok := body.(*hclsyntax.Body); ok {
		return syn
	}
	return d.bodies[body.MissingItemRange().Start.Byte]
}

// eval evaluates an expression in the jobspec's context (runtime references were already replaced; see
// runtime.go).
func (d *decoder) eval(expr hcl.Expression) (cty.Value, hcl.Diagnostics) {
	return expr.Value(d.ctx)
}

// freeform decodes a body whose contents are not fixed by a schema (a task driver's config, a scaling
// policy) into a map, as Nomad does: arguments become plain Go values, and each nested block becomes a map
// appended to a list under the block's type (with one level of nesting per label). The schema is taken from
// the body's own source, so that `dynamic` blocks inside it are expanded too.
func (d *decoder) freeform(body hcl.Body) (map[string]any, hcl.Diagnostics) {
	out := map[string]any{}
	syn := d.syntaxBody(body)
	if syn == nil {
		attrs, diags := body.JustAttributes()
		for name, a := range attrs {
			v, vd := d.eval(a.Expr)
			diags = append(diags, vd...)
			out[name] = goValue(v)
		}
		return out, diags
	}
	schema := &hcl.BodySchema{}
	for name := range syn.Attributes {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: name})
	}
	seen := map[string]bool{}
	for _, b := range syn.Blocks {
		typ, labels := b.Type, len(b.Labels)
		if typ == "dynamic" && len(b.Labels) == 1 {
			typ, labels = b.Labels[0], 0
			if _, ok := b.Body.Attributes["labels"]; ok {
				labels = 1
			}
		}
		if seen[typ] || (typ == "dynamic" && body != syn) {
			continue
		}
		seen[typ] = true
		schema.Blocks = append(schema.Blocks, hcl.BlockHeaderSchema{Type: typ, LabelNames: make([]string, labels)})
	}
	content, diags := body.Content(schema)
	for name, a := range content.Attributes {
		if seen[name] {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unsupported block type",
				Detail:   "An argument named \"" + name + "\" is already set here, so a block of that type is not expected.",
				Subject:  a.NameRange.Ptr(),
			})
			continue
		}
		v, vd := d.eval(a.Expr)
		diags = append(diags, vd...)
		if vd.HasErrors() {
			continue
		}
		out[name] = goValue(v)
	}
	for _, b := range content.Blocks {
		m, md := d.freeform(b.Body)
		diags = append(diags, md...)
		var v any = m
		for i := len(b.Labels) - 1; i >= 0; i-- {
			v = map[string]any{b.Labels[i]: []map[string]any{v.(map[string]any)}}
		}
		list, _ := out[b.Type].([]map[string]any)
		out[b.Type] = append(list, v.(map[string]any))
	}
	return out, diags
}

// goValue converts a cty value to the plain Go value Nomad keeps in free-form maps: strings, bools, int or
// float64 numbers, []any lists and map[string]any maps. Null is nil.
func goValue(v cty.Value) any {
	if v.IsNull() || !v.IsKnown() {
		return nil
	}
	v, _ = v.Unmark()
	ty := v.Type()
	switch {
	case ty == cty.String:
		return v.AsString()
	case ty == cty.Bool:
		return v.True()
	case ty == cty.Number:
		bf := v.AsBigFloat()
		if bf.IsInt() {
			if i, acc := bf.Int64(); acc == big.Exact {
				return int(i)
			}
		}
		f, _ := bf.Float64()
		return f
	case ty.IsListType() || ty.IsTupleType() || ty.IsSetType():
		out := make([]any, 0, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			_, ev := it.Element()
			out = append(out, goValue(ev))
		}
		return out
	case ty.IsMapType() || ty.IsObjectType():
		out := make(map[string]any, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			out[k.AsString()] = goValue(ev)
		}
		return out
	}
	return nil
}
