package jobhcl

import (
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Bodies without a schema (a task driver's `config`, `meta` and `env` written as blocks, and everything
// nested in them) are read by Nomad's parser as plain arguments, with every nested block turned into an
// argument too: the blocks of one type become a list of objects under the type's name (a labelled block
// nests one single-element list per label: `x "a" { … }` is `x = [{ a = [{ … }] }]`), and an argument
// written as an object constructor (`sysctl = { … }`) becomes a list holding that object. `dynamic` blocks
// inside such a body are not expanded: they are just more nested blocks. Bodies with a schema are read
// normally, so the wrapping only shows where a body is read as plain arguments.
//
// freeBody does that: it wraps a syntax body so that JustAttributes converts blocks, and Content and
// PartialContent hand out nested bodies wrapped the same way (what PartialContent consumed stays hidden
// from a later JustAttributes).

type freeBody struct {
	body   hcl.Body
	hidden map[string]bool // argument and block names a PartialContent consumed
}

// wrapFree wraps body when it is a syntax body.
func wrapFree(body hcl.Body) hcl.Body {
	if _, ok := body.(*hclsyntax.Body); ok {
		return &freeBody{body: body}
	}
	return body
}

func wrapBlocks(blocks hcl.Blocks) hcl.Blocks {
	out := make(hcl.Blocks, len(blocks))
	for i, b := range blocks {
		c := *b
		c.Body = wrapFree(b.Body)
		out[i] = &c
	}
	return out
}

// Content implements hcl.Body.
func (f *freeBody) Content(schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Diagnostics) {
	c, diags := f.body.Content(schema)
	c.Blocks = wrapBlocks(c.Blocks)
	return c, diags
}

// PartialContent implements hcl.Body.
func (f *freeBody) PartialContent(schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Body, hcl.Diagnostics) {
	c, rest, diags := f.body.PartialContent(schema)
	c.Blocks = wrapBlocks(c.Blocks)
	hidden := map[string]bool{}
	for k := range f.hidden {
		hidden[k] = true
	}
	for _, a := range schema.Attributes {
		hidden[a.Name] = true
	}
	for _, b := range schema.Blocks {
		hidden[b.Type] = true
	}
	return c, &freeBody{body: rest, hidden: hidden}, diags
}

// JustAttributes implements hcl.Body: the arguments, and every nested block type as one more argument.
func (f *freeBody) JustAttributes() (hcl.Attributes, hcl.Diagnostics) {
	syn := syntaxOf(f.body)
	if syn == nil {
		return f.body.JustAttributes()
	}
	attrs := hcl.Attributes{}
	for name, a := range syn.Attributes {
		if f.hidden[name] {
			continue
		}
		c := a.AsHCLAttribute()
		c.Expr = listOfObject(a.Expr)
		attrs[name] = c
	}
	for _, group := range blocksByType(syn.Blocks) {
		first := group[0]
		if f.hidden[first.Type] {
			continue
		}
		attrs[first.Type] = &hcl.Attribute{
			Name:      first.Type,
			Expr:      blocksExpr(group),
			Range:     first.Body.SrcRange,
			NameRange: first.TypeRange,
		}
	}
	return attrs, nil
}

// MissingItemRange implements hcl.Body.
func (f *freeBody) MissingItemRange() hcl.Range { return f.body.MissingItemRange() }

// syntaxOf returns the syntax body under a body that PartialContent may have narrowed.
func syntaxOf(body hcl.Body) *hclsyntax.Body {
	switch b := body.(type) {
	case *hclsyntax.Body:
		return b
	case *freeBody:
		return syntaxOf(b.body)
	}
	return nil
}

// blocksByType groups blocks by type, types in the order they first appear.
func blocksByType(blocks hclsyntax.Blocks) []hclsyntax.Blocks {
	var order []string
	by := map[string]hclsyntax.Blocks{}
	for _, b := range blocks {
		if by[b.Type] == nil {
			order = append(order, b.Type)
		}
		by[b.Type] = append(by[b.Type], b)
	}
	out := make([]hclsyntax.Blocks, 0, len(order))
	for _, t := range order {
		out = append(out, by[t])
	}
	return out
}

// blocksExpr is the list-of-objects expression standing for blocks of one type.
func blocksExpr(blocks hclsyntax.Blocks) hclsyntax.Expression {
	exprs := make([]hclsyntax.Expression, 0, len(blocks))
	for _, b := range blocks {
		exprs = append(exprs, blockExpr(b))
	}
	last := blocks[len(blocks)-1]
	return &hclsyntax.TupleConsExpr{
		Exprs:     exprs,
		SrcRange:  hcl.RangeBetween(blocks[0].OpenBraceRange, last.CloseBraceRange),
		OpenRange: blocks[0].OpenBraceRange,
	}
}

// blockExpr is the object expression standing for one block: its arguments and nested block types, inside
// one single-element list per label.
func blockExpr(b *hclsyntax.Block) hclsyntax.Expression {
	var items []hclsyntax.ObjectConsItem
	names := make([]string, 0, len(b.Body.Attributes))
	for name := range b.Body.Attributes {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		a := b.Body.Attributes[name]
		items = append(items, hclsyntax.ObjectConsItem{KeyExpr: keyExpr(a.Name, a.NameRange), ValueExpr: listOfObject(a.Expr)})
	}
	for _, group := range blocksByType(b.Body.Blocks) {
		items = append(items, hclsyntax.ObjectConsItem{KeyExpr: keyExpr(group[0].Type, group[0].TypeRange), ValueExpr: blocksExpr(group)})
	}
	var v hclsyntax.Expression = &hclsyntax.ObjectConsExpr{Items: items}
	for i := len(b.Labels) - 1; i >= 0; i-- {
		v = &hclsyntax.ObjectConsExpr{Items: []hclsyntax.ObjectConsItem{{
			KeyExpr:   keyExpr(b.Labels[i], b.LabelRanges[i]),
			ValueExpr: &hclsyntax.TupleConsExpr{Exprs: []hclsyntax.Expression{v}},
		}}}
	}
	return v
}

// keyExpr is an object key that is a bare name.
func keyExpr(name string, rng hcl.Range) *hclsyntax.ObjectConsKeyExpr {
	return &hclsyntax.ObjectConsKeyExpr{Wrapped: &hclsyntax.ScopeTraversalExpr{
		Traversal: hcl.Traversal{hcl.TraverseRoot{Name: name, SrcRange: rng}},
		SrcRange:  rng,
	}}
}

// listOfObject wraps an object constructor in a single-element list; other expressions stay as they are.
func listOfObject(expr hclsyntax.Expression) hclsyntax.Expression {
	if _, ok := expr.(*hclsyntax.ObjectConsExpr); !ok {
		return expr
	}
	return &hclsyntax.TupleConsExpr{Exprs: []hclsyntax.Expression{expr}, SrcRange: expr.Range(), OpenRange: expr.StartRange()}
}
