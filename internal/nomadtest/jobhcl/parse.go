// Package jobhcl parses HCL2 jobspecs the way Nomad's POST /v1/jobs/parse endpoint does, for the in-repo
// Nomad HTTP API double (internal/nomadtest). It is test support code: tenantctl itself always lets the real
// Nomad parse its jobspecs.
//
// What it implements: `variable` blocks (type, default, description, sensitive, nullable, validation) set
// from a var file and -var style pairs, `locals` blocks, the HCL functions Nomad offers in jobspecs (minus
// those that read files or the environment), and strict decoding of the `job` block into the types of
// github.com/hashicorp/nomad/api. The schema comes from the `hcl` struct tags those types carry, so unknown
// arguments or blocks, duplicates and wrong types are errors, reported with hcl's own diagnostics and
// positions ("input.hcl:LINE,COL-ENDCOL: Summary; Detail"). References whose root is not `var` or `local`
// (attr, node, meta, env, NOMAD_* and so on) are runtime interpolations resolved by the Nomad client; they
// are kept as the text `${...}` they were written as. `dynamic` blocks are expanded.
//
// Choices where Nomad's behaviour is not fully documented: a var-file value for a variable the jobspec does
// not declare is an error, as with the Nomad CLI's default (-hcl2-strict); var-file diagnostics carry the
// file name "variables.hcl"; functions that read files are absent (the parse endpoint forbids file access),
// so calling them is an unknown-function error.
package jobhcl

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/nomad/api"
	"github.com/zclconf/go-cty/cty"
)

// FileName is the file name Nomad's parse endpoint gives the jobspec; positions in errors refer to it.
const FileName = "input.hcl"

// ParseError is the error for an invalid jobspec: the error diagnostics of the parse.
type ParseError struct {
	// Diagnostics holds the errors, in the order they were found.
	Diagnostics hcl.Diagnostics
}

// Error renders each diagnostic as "file:LINE,COL-ENDCOL: Summary; Detail", one per line, as Nomad does.
func (e *ParseError) Error() string {
	lines := make([]string, 0, len(e.Diagnostics))
	for _, d := range e.Diagnostics {
		lines = append(lines, d.Error())
	}
	return strings.Join(lines, "\n")
}

// rootSchema is the top level of a jobspec file.
func rootSchema() *hcl.BodySchema {
	return &hcl.BodySchema{
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "job", LabelNames: []string{"name"}},
			{Type: "variable", LabelNames: []string{"name"}},
			{Type: "locals"},
		},
	}
}

// Parse parses an HCL2 jobspec as Nomad's /v1/jobs/parse does. varFile is the text of a var file (HCL
// `name = value` lines, as sent in the request's "Variables" field); argVars are -var style key=value pairs
// (may be nil). The returned error, when the input is invalid, is a *ParseError whose Error() is formatted
// like Nomad's: "input.hcl:LINE,COL-ENDCOL: Summary; Detail" (one line per diagnostic). With canonicalize,
// the job is passed through (*api.Job).Canonicalize, which fills the defaults Nomad's parse endpoint fills.
func Parse(src []byte, varFile string, argVars map[string]string, canonicalize bool) (*api.Job, error) {
	job, diags := parse(src, varFile, argVars)
	if diags.HasErrors() {
		return nil, &ParseError{Diagnostics: errorsOnly(diags)}
	}
	if canonicalize {
		job.Canonicalize()
	}
	return job, nil
}

func errorsOnly(diags hcl.Diagnostics) hcl.Diagnostics {
	var out hcl.Diagnostics
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			out = append(out, d)
		}
	}
	return out
}

func parse(src []byte, varFile string, argVars map[string]string) (*api.Job, hcl.Diagnostics) {
	file, diags := hclsyntax.ParseConfig(src, FileName, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	content, cd := file.Body.Content(rootSchema())
	diags = append(diags, cd...)
	if cd.HasErrors() {
		return nil, diags
	}

	funcs := functions()
	fnCtx := &hcl.EvalContext{Functions: funcs}

	var vars []*variable
	seen := map[string]*variable{}
	var jobs, locals []*hcl.Block
	for _, b := range content.Blocks {
		switch b.Type {
		case "variable":
			v, vd := decodeVariable(b, fnCtx)
			diags = append(diags, vd...)
			if prev := seen[v.name]; prev != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate variable",
					Detail:   "Duplicate " + v.name + " variable definition found; the first was declared at " + prev.declRange.String() + ".",
					Subject:  b.DefRange.Ptr(),
				})
				continue
			}
			seen[v.name] = v
			vars = append(vars, v)
		case "locals":
			locals = append(locals, b)
		case "job":
			jobs = append(jobs, b)
		}
	}
	switch {
	case len(jobs) == 0:
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing job block",
			Detail:   "A job block is required.",
			Subject:  file.Body.(*hclsyntax.Body).SrcRange.Ptr(),
		})
	case len(jobs) > 1:
		diags = append(diags, duplicateBlock("job", jobs[0], jobs[1]))
	}
	if diags.HasErrors() {
		return nil, diags
	}

	fileVals, fd := parseVarFile(varFile, fnCtx)
	diags = append(diags, fd...)
	if fd.HasErrors() {
		return nil, diags
	}
	varVal, vd := resolveVariables(vars, fileVals, argVars, fnCtx)
	diags = append(diags, vd...)
	if vd.HasErrors() {
		return nil, diags
	}

	rewritten := []hclsyntax.Node{jobs[0].Body.(*hclsyntax.Body)}
	for _, b := range locals {
		rewritten = append(rewritten, b.Body.(*hclsyntax.Body))
	}
	ctxVars := rewriteRuntimeRefs(src, rewritten...)
	ctxVars["var"], ctxVars["local"] = varVal, cty.EmptyObjectVal
	d := &decoder{ctx: &hcl.EvalContext{Variables: ctxVars, Functions: funcs}}
	d.indexBodies(file.Body.(*hclsyntax.Body))
	localVal, ld := evalLocals(locals, d)
	diags = append(diags, ld...)
	if ld.HasErrors() {
		return nil, diags
	}
	d.ctx.Variables["local"] = localVal

	job, jd := d.decodeJob(jobs[0])
	diags = append(diags, jd...)
	return job, diags
}
