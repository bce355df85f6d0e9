package jobhcl

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// varFileName is the file name var-file diagnostics carry.
const varFileName = "variables.hcl"

// variable is one `variable "name" { ... }` declaration.
type variable struct {
	name        string
	typ         cty.Type
	defaults    *typeexpr.Defaults
	def         cty.Value // the default; cty.NilVal when none is declared
	nullable    bool
	validations []validation
	declRange   hcl.Range
}

// validation is one `validation { condition, error_message }` rule of a variable.
type validation struct {
	condition hcl.Expression
	message   string
	declRange hcl.Range
}

// variableSchema is the body of a variable block.
func variableSchema() *hcl.BodySchema {
	return &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "type"},
			{Name: "default"},
			{Name: "description"},
			{Name: "sensitive"},
			{Name: "nullable"},
		},
		Blocks: []hcl.BlockHeaderSchema{{Type: "validation"}},
	}
}

// validationSchema is the body of a variable's validation block.
func validationSchema() *hcl.BodySchema {
	return &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "condition", Required: true},
			{Name: "error_message", Required: true},
		},
	}
}

// decodeVariable reads a variable block.
func decodeVariable(block *hcl.Block, ctx *hcl.EvalContext) (*variable, hcl.Diagnostics) {
	v := &variable{name: block.Labels[0], typ: cty.DynamicPseudoType, nullable: true, declRange: block.DefRange}
	diags := checkIdentifier("variable", v.name, block.LabelRanges[0])
	content, cd := block.Body.Content(variableSchema())
	diags = append(diags, cd...)
	if a := content.Attributes["type"]; a != nil {
		ty, defaults, td := typeexpr.TypeConstraintWithDefaults(a.Expr)
		diags = append(diags, td...)
		if !td.HasErrors() {
			v.typ, v.defaults = ty, defaults
		}
	}
	for _, name := range []string{"description", "sensitive", "nullable"} {
		a := content.Attributes[name]
		if a == nil {
			continue
		}
		val, vd := a.Expr.Value(nil)
		diags = append(diags, vd...)
		want := cty.Bool
		if name == "description" {
			want = cty.String
		}
		cv, err := convert.Convert(val, want)
		if err != nil || cv.IsNull() {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unsuitable value type",
				Detail:   fmt.Sprintf("Unsuitable value: %s required", want.FriendlyName()),
				Subject:  a.Expr.Range().Ptr(),
			})
			continue
		}
		if name == "nullable" {
			v.nullable = cv.True()
		}
	}
	if a := content.Attributes["default"]; a != nil {
		val, vd := a.Expr.Value(ctx)
		diags = append(diags, vd...)
		if !vd.HasErrors() {
			if v.defaults != nil {
				val = v.defaults.Apply(val)
			}
			cv, err := convert.Convert(val, v.typ)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid default value for variable",
					Detail:   fmt.Sprintf("This default value is not compatible with the variable's type constraint: %s.", errText(err)),
					Subject:  a.Expr.Range().Ptr(),
				})
			} else {
				v.def = cv
			}
		}
	}
	for _, vb := range content.Blocks {
		vc, vd := vb.Body.Content(validationSchema())
		diags = append(diags, vd...)
		if vd.HasErrors() {
			continue
		}
		msg, md := vc.Attributes["error_message"].Expr.Value(nil)
		diags = append(diags, md...)
		if md.HasErrors() {
			continue
		}
		if msg.Type() != cty.String || msg.IsNull() || strings.TrimSpace(msg.AsString()) == "" {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid validation error message",
				Detail:   "The error_message of a validation rule must be a non-empty string.",
				Subject:  vc.Attributes["error_message"].Expr.Range().Ptr(),
			})
			continue
		}
		v.validations = append(v.validations, validation{
			condition: vc.Attributes["condition"].Expr,
			message:   msg.AsString(),
			declRange: vb.DefRange,
		})
	}
	return v, diags
}

// checkIdentifier reports a block label that is not a valid HCL identifier.
func checkIdentifier(kind, name string, rng hcl.Range) hcl.Diagnostics {
	if hclsyntax.ValidIdentifier(name) {
		return nil
	}
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Invalid %s name", kind),
		Detail:   "A name must start with a letter or underscore and may contain only letters, digits, underscores, and dashes.",
		Subject:  rng.Ptr(),
	}}
}

// errText renders a cty conversion error (which may carry a path) as text.
func errText(err error) string {
	if pe, ok := err.(cty.PathError); ok && len(pe.Path) > 0 {
		return fmt.Sprintf("%s: %s", pathString(pe.Path), pe.Error())
	}
	return err.Error()
}

func pathString(p cty.Path) string {
	var sb strings.Builder
	for _, step := range p {
		switch s := step.(type) {
		case cty.GetAttrStep:
			sb.WriteString("." + s.Name)
		case cty.IndexStep:
			if s.Key.Type() == cty.String {
				fmt.Fprintf(&sb, "[%q]", s.Key.AsString())
			} else if s.Key.Type() == cty.Number {
				fmt.Fprintf(&sb, "[%s]", s.Key.AsBigFloat().Text('f', -1))
			}
		}
	}
	return strings.TrimPrefix(sb.String(), ".")
}

// assignment is a value given to a variable from outside the jobspec.
type assignment struct {
	val      cty.Value
	rng      *hcl.Range // nil for -var values
	fromArgs bool
}

// parseVarFile reads the var file text: `name = value` arguments evaluated without variables.
func parseVarFile(text string, ctx *hcl.EvalContext) (map[string]assignment, hcl.Diagnostics) {
	out := map[string]assignment{}
	if strings.TrimSpace(text) == "" {
		return out, nil
	}
	f, diags := hclsyntax.ParseConfig([]byte(text), varFileName, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	attrs, ad := f.Body.JustAttributes()
	diags = append(diags, ad...)
	for _, a := range sortedAttrs(attrs) {
		val, vd := a.Expr.Value(ctx)
		diags = append(diags, vd...)
		if vd.HasErrors() {
			continue
		}
		rng := a.Expr.Range()
		out[a.Name] = assignment{val: val, rng: &rng}
	}
	return out, diags
}

// argValue reads a -var value: the raw string for a string (or unconstrained) variable, otherwise an HCL
// expression.
func argValue(name, raw string, v *variable, ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	if v == nil || v.typ == cty.String || v.typ == cty.DynamicPseudoType {
		return cty.StringVal(raw), nil
	}
	expr, diags := hclsyntax.ParseExpression([]byte(raw), "<value for var."+name+">", hcl.InitialPos)
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	return expr.Value(ctx)
}

// resolveVariables computes every declared variable's value: the var file overrides the default and -var
// values override both. Undeclared assignments, unset variables, type mismatches and failed validations are
// errors.
func resolveVariables(vars []*variable, file map[string]assignment, args map[string]string, ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	byName := map[string]*variable{}
	for _, v := range vars {
		byName[v.name] = v
	}
	for _, name := range sortedKeys(file) {
		if byName[name] == nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Undefined variable",
				Detail:   fmt.Sprintf("A %q variable was set but was not found in known variables. To declare variable %q, place this block in your job files", name, name),
				Subject:  file[name].rng,
			})
		}
	}
	failed := map[string]bool{}
	argNames := make([]string, 0, len(args))
	for name := range args {
		argNames = append(argNames, name)
	}
	sort.Strings(argNames)
	for _, name := range argNames {
		v := byName[name]
		if v == nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Undefined -var variable",
				Detail:   fmt.Sprintf("A %q variable was passed in the command line but was not found in known variables. To declare variable %q, place this block in your job file", name, name),
			})
			continue
		}
		val, vd := argValue(name, args[name], v, ctx)
		diags = append(diags, vd...)
		if vd.HasErrors() {
			// Already reported: keep the variable out of the checks below.
			failed[name] = true
			continue
		}
		file[name] = assignment{val: val}
	}

	values := map[string]cty.Value{}
	for _, v := range vars {
		if failed[v.name] {
			continue
		}
		val := v.def
		a, set := file[v.name]
		if set {
			val = a.val
			if v.defaults != nil {
				val = v.defaults.Apply(val)
			}
			cv, err := convert.Convert(val, v.typ)
			if err != nil {
				subject := a.rng
				if subject == nil {
					subject = v.declRange.Ptr()
				}
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid value for variable",
					Detail: fmt.Sprintf("The value for var.%s is not compatible with the variable's type constraint %s: %s.",
						v.name, typeexpr.TypeString(v.typ), errText(err)),
					Subject: subject,
				})
				continue
			}
			val = cv
		}
		if val == cty.NilVal {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Unset variable %q", v.name),
				Detail:   "A used variable must be set or have a default value; give it a default, or set it in the var file.",
				Subject:  v.declRange.Ptr(),
			})
			continue
		}
		if val.IsNull() && !v.nullable {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for variable",
				Detail:   fmt.Sprintf("The variable %q is not nullable, so it cannot be set to null.", v.name),
				Subject:  v.declRange.Ptr(),
			})
			continue
		}
		if val.IsNull() {
			val = cty.NullVal(v.typ)
		}
		vd := validate(v, val, ctx)
		diags = append(diags, vd...)
		values[v.name] = val
	}
	return cty.ObjectVal(values), diags
}

// validate runs a variable's validation rules against its value.
func validate(v *variable, val cty.Value, parent *hcl.EvalContext) hcl.Diagnostics {
	var diags hcl.Diagnostics
	ctx := parent.NewChild()
	ctx.Variables = map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{v.name: val})}
	for _, rule := range v.validations {
		res, rd := rule.condition.Value(ctx)
		if rd.HasErrors() {
			diags = append(diags, rd...)
			continue
		}
		res, err := convert.Convert(res, cty.Bool)
		if err != nil || res.IsNull() || !res.IsKnown() {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid validation result",
				Detail:   "The condition of a validation rule must return true or false.",
				Subject:  rule.condition.Range().Ptr(),
			})
			continue
		}
		if res.False() {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for variable",
				Detail: fmt.Sprintf("%s\n\nThis was checked by the validation rule at %s.",
					rule.message, rule.declRange.String()),
				Subject: rule.condition.Range().Ptr(),
			})
		}
	}
	return diags
}

// evalLocals evaluates the attributes of all `locals` blocks. A local may use variables, functions and other
// locals in any order; a cycle or a reference to an undefined local is an error.
func evalLocals(blocks []*hcl.Block, d *decoder) (cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	pending := map[string]*hcl.Attribute{}
	var order []string
	for _, b := range blocks {
		attrs, ad := b.Body.JustAttributes()
		diags = append(diags, ad...)
		for _, a := range sortedAttrs(attrs) {
			if prev := pending[a.Name]; prev != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate local value definition",
					Detail:   fmt.Sprintf("A local value named %q was already defined at %s. Local value names must be unique.", a.Name, prev.Range.String()),
					Subject:  a.NameRange.Ptr(),
				})
				continue
			}
			pending[a.Name] = a
			order = append(order, a.Name)
		}
	}
	values := map[string]cty.Value{}
	for len(pending) > 0 {
		progress := false
		for _, name := range order {
			a := pending[name]
			if a == nil || !localsReady(a.Expr, values, pending) {
				continue
			}
			d.ctx.Variables["local"] = cty.ObjectVal(values)
			val, vd := d.eval(a.Expr)
			diags = append(diags, vd...)
			if vd.HasErrors() {
				val = cty.DynamicVal
			}
			values[name] = val
			delete(pending, name)
			progress = true
		}
		if !progress {
			for _, name := range order {
				if a := pending[name]; a != nil {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Circular reference between local values",
						Detail:   fmt.Sprintf("The local value %q depends, directly or through other locals, on itself.", name),
						Subject:  a.Expr.Range().Ptr(),
					})
				}
			}
			break
		}
	}
	return cty.ObjectVal(values), diags
}

// localsReady reports whether every local that expr refers to has been evaluated (references to locals that
// do not exist at all are left for evaluation to report).
func localsReady(expr hcl.Expression, done map[string]cty.Value, pending map[string]*hcl.Attribute) bool {
	for _, tr := range expr.Variables() {
		if tr.RootName() != "local" || len(tr) < 2 {
			continue
		}
		step, ok := tr[1].(hcl.TraverseAttr)
		if !ok {
			continue
		}
		if _, waiting := pending[step.Name]; waiting {
			if _, ok := done[step.Name]; !ok {
				return false
			}
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
