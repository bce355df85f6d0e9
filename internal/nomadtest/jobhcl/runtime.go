package jobhcl

import (
	"reflect"
	"strconv"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/nomad/api"
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
	bodies []bodyKind
}

// bodyKind says how the parser reads a body: by the schema of an api struct, as the body of a `dynamic`
// block that is expanded, or free-form (no schema: nested blocks are plain values and a `dynamic` block in
// it is not expanded, so its iterator binds nothing).
type bodyKind struct {
	schema  reflect.Type // the struct, or nil when free-form
	dynamic *bodyKind    // for an expanded dynamic block: how its content is read
	binds   bool         // the block bound an iterator name (a scope was pushed)
}

// rewriteRuntimeRefs replaces the runtime references in the locals bodies and the job bodies and returns
// the variables they now refer to, which the evaluation context must hold.
func rewriteRuntimeRefs(src []byte, locals, jobs []hclsyntax.Node) map[string]cty.Value {
	r := &runtimeRewriter{src: src, vars: map[string]cty.Value{}, skip: map[*hclsyntax.ScopeTraversalExpr]bool{}}
	for _, n := range locals {
		r.bodies = []bodyKind{{}}
		hclsyntax.Walk(n, r)
	}
	for _, n := range jobs {
		r.bodies = []bodyKind{{schema: reflect.TypeFor[api.Job]()}}
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
		kind := r.blockKind(n)
		if kind.binds {
			r.scopes = append(r.scopes, map[string]struct{}{r.iterator(n): {}})
		}
		r.bodies = append(r.bodies, kind)
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
	switch node.(type) {
	case hclsyntax.ChildScope:
		r.scopes = r.scopes[:len(r.scopes)-1]
	case *hclsyntax.Block:
		if r.bodies[len(r.bodies)-1].binds {
			r.scopes = r.scopes[:len(r.scopes)-1]
		}
		r.bodies = r.bodies[:len(r.bodies)-1]
	}
	return nil
}

// blockKind says how the body of block b is read, given how its parent body is.
func (r *runtimeRewriter) blockKind(b *hclsyntax.Block) bodyKind {
	parent := r.bodies[len(r.bodies)-1]
	switch {
	case parent.dynamic != nil:
		if b.Type == "content" {
			return *parent.dynamic
		}
		return bodyKind{}
	case parent.schema == nil:
		return bodyKind{}
	case b.Type == "dynamic" && len(b.Labels) == 1:
		if t, free, ok := blockField(parent.schema, b.Labels[0]); ok {
			content := bodyKind{schema: t}
			if free {
				content = bodyKind{}
			}
			return bodyKind{dynamic: &content, binds: true}
		}
		return bodyKind{}
	}
	if t, free, ok := blockField(parent.schema, b.Type); ok && !free {
		return bodyKind{schema: t}
	}
	return bodyKind{}
}

// extraBlocks are the block types Nomad's parser reads besides those of the api structs' tags.
var extraBlocks = map[reflect.Type]map[string]reflect.Type{
	reflect.TypeFor[api.Job]():       {"vault": reflect.TypeFor[api.Vault](), "secret": reflect.TypeFor[api.Secret](), "task": reflect.TypeFor[api.Task]()},
	reflect.TypeFor[api.TaskGroup](): {"vault": reflect.TypeFor[api.Vault](), "secret": reflect.TypeFor[api.Secret]()},
	reflect.TypeFor[api.Task]():      {"scaling": reflect.TypeFor[api.ScalingPolicy]()},
}

// blockField returns the struct a block type of parent decodes into, or free when it is a plain map.
func blockField(parent reflect.Type, name string) (t reflect.Type, free, ok bool) {
	if t := extraBlocks[parent][name]; t != nil {
		return t, false, true
	}
	for _, s := range fieldSpecs(parent) {
		if s.kind == kindBlock && s.name == name {
			if isPlainMap(s.typ) {
				return nil, true, true
			}
			return structOf(s.typ), false, true
		}
	}
	return nil, false, false
}

// iterator returns the iterator name an expanded `dynamic` block binds: its `iterator` argument or else
// its label. The `iterator` argument itself names a symbol and is left alone.
func (r *runtimeRewriter) iterator(b *hclsyntax.Block) string {
	name := b.Labels[0]
	if a := b.Body.Attributes["iterator"]; a != nil {
		if t, ok := a.Expr.(*hclsyntax.ScopeTraversalExpr); ok {
			r.skip[t] = true
			name = t.Traversal.RootName()
		}
	}
	return name
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
	name := "__nomad_runtime_" + strconv.Itoa(len(r.vars))
	r.vars[name] = cty.StringVal(runtimeText(r.src, rng.Start.Byte, rng.End.Byte))
	n.Traversal = hcl.Traversal{hcl.TraverseRoot{Name: name, SrcRange: rng}}
}

// runtimeText is the text Nomad keeps for a runtime reference at src[start:end]. Inside an interpolation
// the whole "${ … }" is kept as written, spaces included (spaces only: a tab or anything else ends the
// search); a bare reference (`attr.x` as an argument) is wrapped in "${" and "}".
func runtimeText(src []byte, start, end int) string {
	if start < 0 || end > len(src) || start > end {
		return ""
	}
	text := string(src[start:end])
	open := -1
	for i := start - 1; i >= 1; i-- {
		if src[i] == '{' && src[i-1] == '$' {
			open = i - 1
			break
		}
		if src[i] != ' ' {
			break
		}
	}
	if open < 0 {
		return "${" + text + "}"
	}
	text = string(src[open:start]) + text
	// Nomad looks for the closing brace from the second byte after the reference on, adds the bytes up to
	// each closing brace it meets, and closes the text at the first byte that is neither a space nor a
	// brace.
	for i := end + 1; i < len(src); i++ {
		if src[i] == '}' {
			text += string(src[end:i])
		} else if src[i] != ' ' {
			text += "}"
			break
		}
	}
	return text
}
