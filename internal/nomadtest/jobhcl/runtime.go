package jobhcl

import (
	"strconv"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Runtime references: a reference whose root is neither `var` nor `local` (attr, node, meta, env, NOMAD_*,
// ...) is resolved by the Nomad client when it runs the task, so the parser leaves it as the text
// `${<reference>}`, exactly as written: "${NOMAD_SECRETS_DIR}/app.env" stays as it is while
// "${var.x}/app.env" is interpolated.
//
// Before evaluation, every such reference in the syntax tree is replaced by a reference to a variable of its
// own whose value is that text, so each occurrence keeps its own source text wherever it appears (in a
// template, a function argument, a list). Names bound inside the expression (for-expression symbols,
// dynamic block iterators) are not runtime references.

// evaluatedRoot reports whether a variable root is evaluated at parse time.
func evaluatedRoot(name string) bool { return name == "var" || name == "local" }

// runtimeRewriter is the hclsyntax.Walker that replaces runtime references.
type runtimeRewriter struct {
	src    []byte
	vars   map[string]cty.Value
	scopes []map[string]struct{}
	skip   map[*hclsyntax.ScopeTraversalExpr]bool
}

// rewriteRuntimeRefs replaces the runtime references under node and returns the variables they now refer
// to, which the evaluation context must hold.
func rewriteRuntimeRefs(src []byte, nodes ...hclsyntax.Node) map[string]cty.Value {
	r := &runtimeRewriter{src: src, vars: map[string]cty.Value{}, skip: map[*hclsyntax.ScopeTraversalExpr]bool{}}
	for _, n := range nodes {
		hclsyntax.Walk(n, r)
	}
	return r.vars
}

// Enter implements hclsyntax.Walker.
func (r *runtimeRewriter) Enter(node hclsyntax.Node) hcl.Diagnostics {
	switch n := node.(type) {
	case hclsyntax.ChildScope:
		r.scopes = append(r.scopes, n.LocalNames)
	case *hclsyntax.Block:
		if name, ok := r.iterator(n); ok {
			r.scopes = append(r.scopes, map[string]struct{}{name: {}})
		}
	case *hclsyntax.FunctionCallExpr:
		// convert's second argument is a type expression (string,
		// list(number), …), read as syntax, never evaluated.
		if n.Name == "convert" && len(n.Args) == 2 {
			hclsyntax.VisitAll(n.Args[1], func(c hclsyntax.Node) hcl.Diagnostics {
				if t, ok := c.(*hclsyntax.ScopeTraversalExpr); ok {
					r.skip[t] = true
				}
				return nil
			})
		}
	case *hclsyntax.ScopeTraversalExpr:
		r.rewrite(n)
	}
	return nil
}

// Exit implements hclsyntax.Walker.
func (r *runtimeRewriter) Exit(node hclsyntax.Node) hcl.Diagnostics {
	switch n := node.(type) {
	case hclsyntax.ChildScope:
		r.scopes = r.scopes[:len(r.scopes)-1]
	case *hclsyntax.Block:
		if _, ok := r.iterator(n); ok {
			r.scopes = r.scopes[:len(r.scopes)-1]
		}
	}
	return nil
}

// iterator returns the iterator name a `dynamic` block binds: its `iterator` argument or else its label.
// The `iterator` argument itself names a symbol and is left alone.
func (r *runtimeRewriter) iterator(b *hclsyntax.Block) (string, bool) {
	if b.Type != "dynamic" || len(b.Labels) != 1 {
		return "", false
	}
	name := b.Labels[0]
	if a := b.Body.Attributes["iterator"]; a != nil {
		if t, ok := a.Expr.(*hclsyntax.ScopeTraversalExpr); ok {
			r.skip[t] = true
			name = t.Traversal.RootName()
		}
	}
	return name, true
}

func (r *runtimeRewriter) rewrite(n *hclsyntax.ScopeTraversalExpr) {
	root := n.Traversal.RootName()
	if evaluatedRoot(root) || r.skip[n] {
		return
	}
	for _, s := range r.scopes {
		if _, bound := s[root]; bound {
			return
		}
	}
	rng := n.Traversal.SourceRange()
	text := ""
	if rng.Start.Byte >= 0 && rng.End.Byte <= len(r.src) && rng.Start.Byte <= rng.End.Byte {
		text = string(r.src[rng.Start.Byte:rng.End.Byte])
	}
	name := "__nomad_runtime_" + strconv.Itoa(len(r.vars))
	r.vars[name] = cty.StringVal("${" + text + "}")
	n.Traversal = hcl.Traversal{hcl.TraverseRoot{Name: name, SrcRange: rng}}
}
