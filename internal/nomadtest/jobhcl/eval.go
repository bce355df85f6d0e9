package jobhcl

import (
	"math/big"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// decoder holds what decoding a job needs: the source (to re-emit runtime references as written) and the
// evaluation context with `var`, `local` and the functions.
type decoder struct {
	src    []byte
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

// evaluatedRoot reports whether a variable root is evaluated at parse time. A reference with any other root
// (attr, node, meta, env, NOMAD_*, ...) is a runtime interpolation that Nomad resolves on the client, so the
// parser leaves it as the text `${<reference>}`, just as it was written.
func evaluatedRoot(name string) bool { return name == "var" || name == "local" }

// eval evaluates an expression. References to runtime roots evaluate to their own source text wrapped in
// `${...}`, so `"${NOMAD_SECRETS_DIR}/app.env"` stays as written while `"${var.x}/app.env"` is interpolated.
func (d *decoder) eval(expr hcl.Expression) (cty.Value, hcl.Diagnostics) {
	ctx := d.ctx
	if vars := d.runtimeVariables(expr); len(vars) > 0 {
		ctx = d.ctx.NewChild()
		ctx.Variables = vars
	}
	return expr.Value(ctx)
}

// refNode is one step of the tree of runtime references found in an expression.
type refNode struct {
	text     string // the leaf's value, `${...}`, when no deeper step exists
	children map[string]*refNode
}

func (n *refNode) value() cty.Value {
	if len(n.children) == 0 {
		return cty.StringVal(n.text)
	}
	attrs := make(map[string]cty.Value, len(n.children))
	for k, c := range n.children {
		attrs[k] = c.value()
	}
	return cty.ObjectVal(attrs)
}

// runtimeVariables builds, for the runtime references of expr, objects whose leaves are the references'
// source text: `attr.kernel.name` gets the variable attr = {kernel = {name = "${attr.kernel.name}"}}.
func (d *decoder) runtimeVariables(expr hcl.Expression) map[string]cty.Value {
	var roots map[string]*refNode
	for _, tr := range expr.Variables() {
		root := tr.RootName()
		if evaluatedRoot(root) {
			continue
		}
		if roots == nil {
			roots = map[string]*refNode{}
		}
		node := roots[root]
		if node == nil {
			node = &refNode{}
			roots[root] = node
		}
		for _, step := range tr[1:] {
			key, ok := stepKey(step)
			if !ok {
				break
			}
			if node.children == nil {
				node.children = map[string]*refNode{}
			}
			next := node.children[key]
			if next == nil {
				next = &refNode{}
				node.children[key] = next
			}
			node = next
		}
		if node.text == "" {
			node.text = "${" + d.source(tr.SourceRange()) + "}"
		}
	}
	vars := make(map[string]cty.Value, len(roots))
	for name, n := range roots {
		vars[name] = n.value()
	}
	return vars
}

// stepKey is the attribute name a static traversal step selects.
func stepKey(step hcl.Traverser) (string, bool) {
	switch s := step.(type) {
	case hcl.TraverseAttr:
		return s.Name, true
	case hcl.TraverseIndex:
		switch {
		case s.Key.Type() == cty.String:
			return s.Key.AsString(), true
		case s.Key.Type() == cty.Number:
			return s.Key.AsBigFloat().Text('f', -1), true
		}
	}
	return "", false
}

// source returns the source text of a range of the jobspec.
func (d *decoder) source(r hcl.Range) string {
	if r.Start.Byte < 0 || r.End.Byte > len(d.src) || r.Start.Byte > r.End.Byte {
		return ""
	}
	return string(d.src[r.Start.Byte:r.End.Byte])
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
