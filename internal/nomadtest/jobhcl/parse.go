// Package jobhcl parses HCL2 jobspecs the way Nomad's PUT /v1/jobs/parse endpoint does, for the in-repo
// Nomad HTTP API double (internal/nomadtest). It is test support code: tenantctl itself always lets the real
// Nomad parse its jobspecs.
//
// It follows Nomad 2.0.5 (TargetNomadVersion), and every behaviour below was checked against a real 2.0.5
// agent by the contract cases ParseErrors (exact error texts and positions) and ParseGolden (whole parsed
// jobs, recorded from the agent into internal/nomadtest/contract/testdata/parse), which run against this
// parser through the double in CI:
//
//   - variables (see variables.go): `type`, `default`, `description` and `validation` only, exact types,
//     constant defaults and var-file values, the var file parsed as "input.hcl", undeclared var-file values
//     ignored, failed validations reported at the value;
//   - locals, evaluated in any order (a local defined twice takes its later value);
//   - the jobspec function table of Nomad (functions.go), with file functions failing;
//   - the `job` block decoded into the types of github.com/hashicorp/nomad/api by their `hcl` struct tags,
//     with Nomad's wording and positions for unknown or duplicate arguments and blocks and for unsuitable
//     values ("Unsuitable value type" at the start of the expression, a second "value must be known" when
//     evaluation failed), constraints and affinities with their shortcut arguments and operator "=", meta
//     and env in block or argument form, job- and group-level vault and secret blocks;
//   - free-form bodies (a task's config) read as plain arguments, nested blocks as lists of objects, an
//     object constructor as a one-object list, `dynamic` blocks inside them not expanded (blockattrs.go),
//     top-level nulls dropped;
//   - references the parser cannot resolve (attr, node, meta, env, NOMAD_* and so on) kept as the text
//     "${…}" written, spaces inside the braces included (runtime.go);
//   - error texts: syntax errors as the first diagnostic plus ", and N other diagnostic(s)", var-file
//     syntax errors prefixed "unable to parse var content: ", all other errors one diagnostic per line,
//     "<nil>" where Nomad gives no position.
//
// Not implemented: JSON jobspecs, NOMAD_VAR_ environment variables, var files by path (the endpoint takes
// none of these); the order of several errors follows the source where Nomad's order is random.
package jobhcl

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/nomad/api"
	"github.com/zclconf/go-cty/cty"
)

// FileName is the file name Nomad's parse endpoint gives the jobspec, and the var file too; positions in
// errors refer to it.
const FileName = "input.hcl"

// ParseError is the error for an invalid jobspec or var file.
type ParseError struct {
	// Diagnostics holds what the failing stage of the parse reported, in order; warnings included.
	Diagnostics hcl.Diagnostics
	stage       stage
}

// stage is the step of a parse that failed; Nomad words its error differently for each.
type stage int

const (
	// stageSyntax: the jobspec is not valid HCL. Nomad renders the first diagnostic and the number of
	// others ("…, and 2 other diagnostic(s)").
	stageSyntax stage = iota
	// stageVarFile: the var file is not valid HCL: "unable to parse var content: " then as stageSyntax.
	stageVarFile
	// stageDecode: variables, locals and the job's schema. Nomad renders every diagnostic, warnings too,
	// one per line.
	stageDecode
	// stageFreeform: the arguments of free-form blocks (a task's config), evaluated last. Rendered as
	// stageSyntax.
	stageFreeform
)

// Error renders the diagnostics the way Nomad's parse endpoint does for the failing stage; each diagnostic
// reads "file:LINE,COL-ENDCOL: Summary; Detail" ("<nil>: …" when it has no position).
func (e *ParseError) Error() string {
	switch e.stage {
	case stageDecode:
		lines := make([]string, 0, len(e.Diagnostics))
		for _, d := range e.Diagnostics {
			lines = append(lines, d.Error())
		}
		return strings.Join(lines, "\n")
	case stageVarFile:
		return "unable to parse var content: " + e.Diagnostics.Error()
	}
	return e.Diagnostics.Error()
}

// rootSchema is the top level of a jobspec file.
var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "variables"},
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "locals"},
		{Type: "job", LabelNames: []string{"name"}},
	},
}

// Parse parses an HCL2 jobspec as Nomad's /v1/jobs/parse does. varFile is the text of a var file (HCL
// `name = value` lines, as sent in the request's "Variables" field); argVars are -var style name=value
// pairs (may be nil; the endpoint has none). The returned error, when the input is invalid, is a
// *ParseError whose Error() is worded like Nomad's (the endpoint answers "Failed to parse job: " and that
// text). With canonicalize, the job is passed through (*api.Job).Canonicalize, as the endpoint does when
// asked to.
func Parse(src []byte, varFile string, argVars map[string]string, canonicalize bool) (*api.Job, error) {
	job, err := parse(src, varFile, argVars)
	if err != nil {
		return nil, err
	}
	if canonicalize {
		job.Canonicalize()
	}
	return job, nil
}

func parse(src []byte, varFile string, argVars map[string]string) (*api.Job, *ParseError) {
	file, diags := hclsyntax.ParseConfig(src, FileName, hcl.InitialPos)
	var vars *hcl.File
	if varFile != "" {
		f, vd := hclsyntax.ParseConfig([]byte(varFile), FileName, hcl.InitialPos)
		if vd.HasErrors() {
			return nil, &ParseError{Diagnostics: vd, stage: stageVarFile}
		}
		vars = f
	}
	if diags.HasErrors() {
		return nil, &ParseError{Diagnostics: diags, stage: stageSyntax}
	}
	body := file.Body.(*hclsyntax.Body)
	content, diags := body.Content(rootSchema)
	if len(diags) > 0 {
		return nil, &ParseError{Diagnostics: diags, stage: stageDecode}
	}

	funcs := functions()
	var in inputs
	var queue []local
	var jobs []*hcl.Block
	for _, b := range content.Blocks {
		switch b.Type {
		case "variable":
			diags = append(diags, in.declareBlock(b)...)
		case "variables":
			attrs, ad := b.Body.JustAttributes()
			diags = append(diags, ad...)
			for _, a := range sortedAttrs(attrs) {
				diags = append(diags, in.declareAttr(a)...)
			}
		}
	}
	var localBodies []hclsyntax.Node
	for _, b := range content.Blocks {
		switch b.Type {
		case "locals":
			attrs, ad := b.Body.JustAttributes()
			diags = append(diags, ad...)
			for _, a := range sortedAttrs(attrs) {
				queue = append(queue, local{name: a.Name, expr: a.Expr})
			}
			localBodies = append(localBodies, b.Body.(*hclsyntax.Body))
		case "job":
			jobs = append(jobs, b)
		}
	}
	if vars != nil {
		diags = append(diags, in.assignVarFile(vars)...)
	}
	diags = append(diags, in.assignArgs(argVars)...)
	varVal, vd := in.values(funcs)
	diags = append(diags, vd...)

	// References the parser cannot resolve (attr, node, NOMAD_* and so on) stay as the text "${…}": see
	// runtime.go.
	runtime := rewriteRuntimeRefs(src, localBodies, jobBodies(jobs))
	d := &decoder{ctx: &hcl.EvalContext{Variables: runtime, Functions: funcs}}
	d.ctx.Variables["var"] = varVal
	localVal, ld := evalLocals(queue, func(expr hcl.Expression, done cty.Value) (cty.Value, hcl.Diagnostics) {
		d.ctx.Variables["local"] = done
		return expr.Value(d.ctx)
	})
	diags = append(diags, ld...)
	if diags.HasErrors() {
		return nil, &ParseError{Diagnostics: diags, stage: stageDecode}
	}
	d.ctx.Variables["local"] = localVal

	var job *api.Job
	for _, b := range jobs {
		if job != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate job block",
				Detail:   fmt.Sprintf("Only one block of type \"job\" is allowed. Previous definition was at %s.", jobs[0].DefRange.String()),
				Subject:  b.DefRange.Ptr(),
			})
			continue
		}
		var jd hcl.Diagnostics
		job, jd = d.decodeJob(b)
		diags = append(diags, jd...)
	}
	if job == nil {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing job block",
			Detail:   "A job block is required",
		})
	}
	if diags.HasErrors() {
		return nil, &ParseError{Diagnostics: diags, stage: stageDecode}
	}
	if fd := d.evalFreeform(); fd.HasErrors() {
		return nil, &ParseError{Diagnostics: fd, stage: stageFreeform}
	}
	return job, nil
}

// jobBodies returns the bodies of the job blocks, for the runtime-reference rewrite.
func jobBodies(jobs []*hcl.Block) []hclsyntax.Node {
	out := make([]hclsyntax.Node, 0, len(jobs))
	for _, b := range jobs {
		out = append(out, b.Body.(*hclsyntax.Body))
	}
	return out
}
