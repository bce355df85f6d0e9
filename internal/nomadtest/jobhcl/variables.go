package jobhcl

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
)

// Variables, as Nomad 2.0.5's parse endpoint handles them (each rule below was seen on a real agent; see the
// contract cases ParseErrors and ParseGolden):
//
//   - a `variable` block takes `type`, `default` and `description` (no `nullable`, no `sensitive`) and any
//     number of `validation` blocks; `type` is an exact type (`optional(...)` is an error); `default` and
//     `description` are constants (no variables, no function calls);
//   - without a `type`, a variable with a default takes the default's type, and var-file values are converted
//     to it; without either, a value is taken as it is;
//   - the var file is parsed as "input.hcl" too; its values are constants; a value for a variable the jobspec
//     does not declare is only a warning (the endpoint parses without -hcl2-strict), which the error text
//     still lists when some other error fails the parse;
//   - the value used is the last one set (default, then var file, then -var); only that value is validated,
//     in a context that holds just the variable itself and the functions; a failed rule is reported at the
//     value (`Invalid value for <default|varfile|cmd> variable`).

// variable is one declared input variable.
type variable struct {
	name        string
	typ         cty.Type // cty.NilType when neither declared nor implied by a default
	values      []assignment
	validations []*validation
	declRange   hcl.Range
}

// assignment is a value given to a variable, with where it came from.
type assignment struct {
	from string // "default", "varfile" or "cmd"
	val  cty.Value
	expr hcl.Expression // nil only for synthesized values
}

// validation is one `validation { condition, error_message }` rule of a variable.
type validation struct {
	condition hcl.Expression // nil when the block lacks one
	message   string
	declRange hcl.Range
}

// variableSchema is the body of a variable block.
var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "description"}, {Name: "default"}, {Name: "type"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "validation"}},
}

// validationSchema is the body of a variable's validation block.
var validationSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "condition", Required: true}, {Name: "error_message", Required: true}},
}

// inputs holds the declared variables in declaration order.
type inputs struct {
	list   []*variable
	byName map[string]*variable
}

func (in *inputs) add(v *variable) {
	if in.byName == nil {
		in.byName = map[string]*variable{}
	}
	in.list = append(in.list, v)
	in.byName[v.name] = v
}

// declareBlock reads a `variable "name" { ... }` block.
func (in *inputs) declareBlock(block *hcl.Block) hcl.Diagnostics {
	name := block.Labels[0]
	if in.byName[name] != nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Duplicate variable",
			Detail:   "Duplicate " + name + " variable definition found.",
			Context:  block.DefRange.Ptr(),
		}}
	}
	content, diags := block.Body.Content(variableSchema)
	if !hclsyntax.ValidIdentifier(name) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid variable name",
			Detail:   "A name must start with a letter or underscore and may contain only letters, digits, underscores, and dashes.",
			Subject:  block.LabelRanges[0].Ptr(),
		})
	}
	v := &variable{name: name, declRange: block.DefRange}
	if a := content.Attributes["description"]; a != nil {
		var desc string
		diags = append(diags, gohcl.DecodeExpression(a.Expr, nil, &desc)...)
	}
	if a := content.Attributes["type"]; a != nil {
		ty, td := typeexpr.Type(a.Expr)
		diags = append(diags, td...)
		if td.HasErrors() {
			return diags
		}
		v.typ = ty
	}
	if a := content.Attributes["default"]; a != nil {
		val, vd := a.Expr.Value(nil)
		diags = append(diags, vd...)
		if vd.HasErrors() {
			return diags
		}
		if v.typ != cty.NilType {
			cv, err := convert.Convert(val, v.typ)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid default value for variable",
					Detail:   fmt.Sprintf("This default value is not compatible with the variable's type constraint: %s.", err),
					Subject:  a.Expr.Range().Ptr(),
				})
				cv = cty.DynamicVal
			}
			val = cv
		}
		v.values = append(v.values, assignment{from: "default", val: val, expr: a.Expr})
		if v.typ == cty.NilType {
			v.typ = val.Type()
		}
	}
	for _, vb := range content.Blocks {
		rule, rd := decodeValidation(name, vb)
		diags = append(diags, rd...)
		v.validations = append(v.validations, rule)
	}
	in.add(v)
	return diags
}

// declareAttr reads one `name = default` line of a `variables { ... }` block.
func (in *inputs) declareAttr(attr *hcl.Attribute) hcl.Diagnostics {
	if in.byName[attr.Name] != nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Duplicate variable",
			Detail:   "Duplicate " + attr.Name + " variable definition found.",
			Subject:  attr.NameRange.Ptr(),
		}}
	}
	val, diags := attr.Expr.Value(nil)
	if diags.HasErrors() {
		return diags
	}
	in.add(&variable{
		name:      attr.Name,
		typ:       val.Type(),
		values:    []assignment{{from: "default", val: val, expr: attr.Expr}},
		declRange: attr.Range,
	})
	return diags
}

// decodeValidation reads a validation block of variable name.
func decodeValidation(name string, block *hcl.Block) (*validation, hcl.Diagnostics) {
	rule := &validation{declRange: block.DefRange}
	content, diags := block.Body.Content(validationSchema)
	if a := content.Attributes["condition"]; a != nil {
		rule.condition = a.Expr
		good := 0
		for _, tr := range a.Expr.Variables() {
			if refersTo(tr, name) {
				good++
				continue
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid reference in variable validation",
				Detail:   fmt.Sprintf("The condition for variable %q can only refer to the variable itself, using var.%s.", name, name),
				Subject:  tr.SourceRange().Ptr(),
			})
		}
		if good == 0 {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid variable validation condition",
				Detail:   fmt.Sprintf("The condition for variable %q must refer to var.%s in order to test incoming values.", name, name),
				Subject:  a.Expr.Range().Ptr(),
			})
		}
	}
	if a := content.Attributes["error_message"]; a != nil {
		md := gohcl.DecodeExpression(a.Expr, nil, &rule.message)
		diags = append(diags, md...)
		if !md.HasErrors() && strings.TrimSpace(rule.message) == "" {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid validation error message",
				Detail:   "An empty or blank string is not a valid nor useful error message.",
				Subject:  a.Expr.Range().Ptr(),
			})
		}
	}
	return rule, diags
}

// refersTo reports whether a traversal is var.<name>.
func refersTo(tr hcl.Traversal, name string) bool {
	if tr.RootName() != "var" || len(tr) < 2 {
		return false
	}
	step, ok := tr[1].(hcl.TraverseAttr)
	return ok && step.Name == name
}

// assignVarFile records the values of a parsed var file.
func (in *inputs) assignVarFile(f *hcl.File) hcl.Diagnostics {
	var diags hcl.Diagnostics
	probe, _, _ := f.Body.PartialContent(&hcl.BodySchema{
		Blocks: []hcl.BlockHeaderSchema{{Type: "variable", LabelNames: []string{"name"}}},
	})
	for _, b := range probe.Blocks {
		name := b.Labels[0]
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Variable declaration in a .var file",
			Detail: fmt.Sprintf("A .var file is used to assign values to variables that have already been declared in job files, "+
				"not to declare new variables. To declare variable %q, place this block in one of your job files\n\n"+
				"To set a value for this variable in %s, use the definition syntax instead:\n    %s = <value>",
				name, b.TypeRange.Filename, name),
			Subject: b.TypeRange.Ptr(),
		})
	}
	if diags.HasErrors() {
		return diags
	}
	attrs, ad := f.Body.JustAttributes()
	diags = append(diags, ad...)
	for _, a := range sortedAttrs(attrs) {
		v := in.byName[a.Name]
		if v == nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Undefined variable",
				Detail: fmt.Sprintf("A %q variable was set but was not found in known variables. To declare variable %q, "+
					"place this block in your job files", a.Name, a.Name),
				Context: a.Range.Ptr(),
			})
			continue
		}
		val, vd := a.Expr.Value(nil)
		diags = append(diags, vd...)
		if v.typ != cty.NilType {
			cv, err := convert.Convert(val, v.typ)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid value for variable",
					Detail:   fmt.Sprintf("The value for %s is not compatible with the variable's type constraint: %s.", a.Name, err),
					Subject:  a.Expr.Range().Ptr(),
				})
				cv = cty.DynamicVal
			}
			val = cv
		}
		v.values = append(v.values, assignment{from: "varfile", val: val, expr: a.Expr})
	}
	return diags
}

// assignArgs records -var values (name=value pairs of the command line). A value for a string or number
// variable (or one without a type) is taken literally; any other is an HCL expression.
func (in *inputs) assignArgs(args map[string]string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, name := range slices.Sorted(maps.Keys(args)) {
		v := in.byName[name]
		if v == nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Undefined -var variable",
				Detail: fmt.Sprintf("A %q variable was passed in the command line but was not found in known variables. "+
					"To declare variable %q, place this block in your job file", name, name),
			})
			continue
		}
		var expr hclsyntax.Expression
		switch v.typ {
		case cty.String, cty.Number, cty.NilType:
			expr = &hclsyntax.LiteralValueExpr{Val: cty.StringVal(args[name])}
		default:
			e, ed := hclsyntax.ParseExpression([]byte(args[name]), fmt.Sprintf("<value for var.%s from arguments>", name), hcl.InitialPos)
			diags = append(diags, ed...)
			if ed.HasErrors() {
				continue
			}
			expr = e
		}
		val, vd := expr.Value(nil)
		diags = append(diags, vd...)
		if v.typ != cty.NilType {
			cv, err := convert.Convert(val, v.typ)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid argument value for -var variable",
					Detail:   fmt.Sprintf("The received arg value for %s is not compatible with the variable's type constraint: %s.", name, err),
					Subject:  expr.Range().Ptr(),
				})
				cv = cty.DynamicVal
			}
			val = cv
		}
		v.values = append(v.values, assignment{from: "cmd", val: val, expr: expr})
	}
	return diags
}

// values returns every variable's value (the last one set) as the `var` object, with the diagnostics of
// unset variables and failed validations.
func (in *inputs) values(funcs map[string]function.Function) (cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	out := make(map[string]cty.Value, len(in.list))
	for _, v := range in.list {
		if len(v.values) == 0 {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Unset variable %q", v.name),
				Detail: "A used variable must be set or have a default value; see " +
					"https://developer.hashicorp.com/nomad/docs/reference/hcl2/variables  for details.",
				Context: v.declRange.Ptr(),
			})
			out[v.name] = cty.UnknownVal(v.typ)
			continue
		}
		last := v.values[len(v.values)-1]
		diags = append(diags, v.validate(last, funcs)...)
		out[v.name] = last.val
	}
	return cty.ObjectVal(out), diags
}

// validate runs the variable's validation rules against the value it is set to.
func (v *variable) validate(a assignment, funcs map[string]function.Function) hcl.Diagnostics {
	if len(v.validations) == 0 {
		return nil
	}
	var diags hcl.Diagnostics
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{v.name: a.val})},
		Functions: funcs,
	}
	for _, rule := range v.validations {
		if rule.condition == nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid variable validation specification",
				Detail:   "validation requires a condition.",
				Subject:  rule.declRange.Ptr(),
			})
			continue
		}
		res, rd := rule.condition.Value(ctx)
		diags = append(diags, rd...)
		if !res.IsKnown() {
			continue
		}
		if res.IsNull() {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid variable validation result",
				Detail:   "Validation condition expression must return either true or false, not null.",
				Subject:  rule.condition.Range().Ptr(),
			})
			continue
		}
		res, err := convert.Convert(res, cty.Bool)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid variable validation result",
				Detail:   fmt.Sprintf("Invalid validation condition result value: %s.", err),
				Subject:  rule.condition.Range().Ptr(),
			})
			continue
		}
		if res.False() {
			subject := rule.declRange.Ptr()
			if a.expr != nil {
				subject = a.expr.Range().Ptr()
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Invalid value for %s variable", a.from),
				Detail:   fmt.Sprintf("%s\n\nThis was checked by the validation rule at %s.", rule.message, rule.declRange.String()),
				Subject:  subject,
			})
		}
	}
	return diags
}

// local is one `name = expression` of a locals block.
type local struct {
	name string
	expr hcl.Expression
}

// evalLocals evaluates the locals in order. A local that fails (for example because it refers to one not
// evaluated yet) goes to the back of the queue and is tried again; the first failure of the last one left,
// or of one that failed a hundred rounds without any progress, is reported. A local defined twice takes
// its later definition, silently, as in Nomad.
func evalLocals(queue []local, eval func(hcl.Expression, cty.Value) (cty.Value, hcl.Diagnostics)) (cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	done := map[string]cty.Value{}
	retries, lastLen := 0, 0
	for len(queue) > 0 {
		l := queue[0]
		val, ld := eval(l.expr, cty.ObjectVal(done))
		if !ld.HasErrors() {
			retries = 0
			diags = append(diags, ld...)
			done[l.name] = val
			queue = queue[1:]
			continue
		}
		if len(queue) == 1 {
			return cty.ObjectVal(done), append(diags, ld...)
		}
		if lastLen == len(queue) {
			if retries == 100 {
				return cty.ObjectVal(done), append(diags, ld...)
			}
			retries++
		}
		lastLen = len(queue)
		queue = append(queue[1:], l)
	}
	return cty.ObjectVal(done), diags
}
