package config

import (
	"fmt"
	"math/big"
	"reflect"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Positions maps a setting's dotted name (vault.kv_mount,
// plan.small.app_count, tenant.acme.plan) to where its file sets it, so a
// value rejected after decoding is reported at its line.
type Positions map[string]hcl.Pos

// HCLFile is one parsed HCL file of tenantctl's (tenantctl.hcl, a fleet
// file). Both are decoded the same way: gohcl struct tags say which
// attributes and blocks exist, and before gohcl converts anything every
// attribute is checked against its field: a known name, a literal (no
// variables or functions) of exactly the field's type (a quoted "2" is not a
// number). Errors are *Error with the file, line and dotted setting name.
type HCLFile struct {
	Name string
	Body *hclsyntax.Body
	// Pos records where each setting was found, as the file is decoded.
	Pos Positions
}

// ParseHCL parses src as HCL native syntax.
func ParseHCL(src []byte, filename string) (*HCLFile, error) {
	f, diags := hclsyntax.ParseConfig(src, filename, hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		return nil, diagError(filename, "(syntax)", diags)
	}
	return &HCLFile{Name: filename, Body: f.Body.(*hclsyntax.Body), Pos: Positions{}}, nil
}

// Decode decodes body (the file's body, or a block's remaining body) into
// target, a pointer to a struct with hcl tags whose fields already hold the
// defaults: settings the body leaves out keep them. prefix is the dotted name
// of the block ("" at the top, "vault.", "plan.small.").
func (f *HCLFile) Decode(body hcl.Body, prefix string, target any) error {
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		return fmt.Errorf("config: %s: not a native HCL body", f.Name)
	}
	if err := f.check(sb, prefix, reflect.TypeOf(target).Elem()); err != nil {
		return err
	}
	if diags := gohcl.DecodeBody(body, nil, target); diags.HasErrors() {
		return diagError(f.Name, "(schema)", diags)
	}
	return nil
}

// Locate fills in e's file and, when the file sets e.Field, its line.
func (f *HCLFile) Locate(e *Error) *Error {
	if e.File == "" {
		e.File = f.Name
	}
	if p, ok := f.Pos[e.Field]; ok && e.Line == 0 {
		e.Line = p.Line
	}
	return e
}

// fieldSet is what a struct's hcl tags declare.
type fieldSet struct {
	attrs  map[string]reflect.Type
	blocks map[string]reflect.Type // element type (pointer and slice removed)
	remain bool
}

func fieldsOf(t reflect.Type) fieldSet {
	fs := fieldSet{attrs: map[string]reflect.Type{}, blocks: map[string]reflect.Type{}}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("hcl")
		if !ok {
			continue
		}
		name, kind, _ := strings.Cut(tag, ",")
		switch kind {
		case "", "optional":
			fs.attrs[name] = sf.Type
		case "block":
			et := sf.Type
			for et.Kind() == reflect.Pointer || et.Kind() == reflect.Slice {
				et = et.Elem()
			}
			fs.blocks[name] = et
		case "remain":
			fs.remain = true
		}
	}
	return fs
}

// check walks body against t before gohcl decodes it: unknown names, non-
// literal values and values of the wrong type are errors naming the setting.
// A struct that keeps its remaining body leaves that body's settings to the
// Decode of that body.
func (f *HCLFile) check(body *hclsyntax.Body, prefix string, t reflect.Type) error {
	fs := fieldsOf(t)
	for _, name := range sortedAttrs(body) {
		a := body.Attributes[name]
		ft, ok := fs.attrs[name]
		if !ok {
			if fs.remain {
				continue
			}
			return &Error{File: f.Name, Line: a.NameRange.Start.Line, Field: prefix + name, Reason: "unknown setting",
				Example: "see docs for the settings of this file"}
		}
		f.Pos[prefix+name] = a.NameRange.Start
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			return &Error{File: f.Name, Line: a.NameRange.Start.Line, Field: prefix + name, Reason: firstDiag(diags),
				Example: "a literal value, no expressions"}
		}
		if err := checkValue(ft, v); err != nil {
			return &Error{File: f.Name, Line: a.NameRange.Start.Line, Field: prefix + name, Value: v.GoString(),
				Reason: err.Error(), Example: exampleFor(ft)}
		}
	}
	for _, b := range body.Blocks {
		et, ok := fs.blocks[b.Type]
		if !ok {
			if fs.remain {
				continue
			}
			return &Error{File: f.Name, Line: b.TypeRange.Start.Line, Field: prefix + b.Type, Reason: "unknown block",
				Example: "see docs for the blocks of this file"}
		}
		inner := prefix + b.Type + "."
		for _, l := range b.Labels {
			inner += l + "."
		}
		f.Pos[strings.TrimSuffix(inner, ".")] = b.TypeRange.Start
		if err := f.check(b.Body, inner, et); err != nil {
			return err
		}
	}
	return nil
}

func sortedAttrs(b *hclsyntax.Body) []string {
	attrs := b.Attributes
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	// In source order, so the first problem reported is the first in the file.
	for i := 1; i < len(names); i++ {
		for j := i; j > 0 && attrs[names[j]].SrcRange.Start.Byte < attrs[names[j-1]].SrcRange.Start.Byte; j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
	return names
}

// checkValue accepts v only when it has exactly the type of a field of type
// t: gohcl would otherwise convert "2" to 2 or 5 to "5".
func checkValue(t reflect.Type, v cty.Value) error {
	if v.IsNull() || !v.IsWhollyKnown() {
		return fmt.Errorf("it is null or unknown")
	}
	switch t.Kind() {
	case reflect.String:
		if v.Type() != cty.String {
			return fmt.Errorf("it must be a string")
		}
	case reflect.Bool:
		if v.Type() != cty.Bool {
			return fmt.Errorf("it must be true or false")
		}
	case reflect.Int:
		if v.Type() != cty.Number {
			return fmt.Errorf("it must be a number")
		}
		bf := v.AsBigFloat()
		if !bf.IsInt() {
			return fmt.Errorf("it must be a whole number")
		}
		if i, acc := bf.Int64(); acc != big.Exact || i > 1<<31 || i < -(1<<31) {
			return fmt.Errorf("it is out of range")
		}
	case reflect.Slice:
		if t.Elem().Kind() != reflect.String {
			return nil
		}
		if !v.Type().IsTupleType() && !v.Type().IsListType() {
			return fmt.Errorf("it must be a list of strings")
		}
		for it := v.ElementIterator(); it.Next(); {
			if _, e := it.Element(); e.IsNull() || e.Type() != cty.String {
				return fmt.Errorf("it must be a list of strings")
			}
		}
	}
	return nil
}

func exampleFor(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int:
		return "a whole number such as 256"
	case reflect.Slice:
		return `a list such as ["dc1"]`
	case reflect.Bool:
		return "true or false"
	default:
		return `a quoted string such as "value"`
	}
}

func firstDiag(diags hcl.Diagnostics) string {
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			if d.Detail != "" {
				return d.Summary + ": " + d.Detail
			}
			return d.Summary
		}
	}
	return diags.Error()
}

// diagError turns gohcl's or the parser's first error into an *Error at its
// line.
func diagError(file, field string, diags hcl.Diagnostics) *Error {
	e := &Error{File: file, Field: field, Reason: firstDiag(diags), Example: `base_domain = "tenants.example.com"`}
	for _, d := range diags {
		if d.Severity == hcl.DiagError && d.Subject != nil {
			e.Line = d.Subject.Start.Line
			break
		}
	}
	return e
}
