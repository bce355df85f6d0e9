package contract

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"
	"github.com/tenantctl/tenantctl/internal/nomadtest/jobhcl"
)

// missingFunctions are functions a jobspec author might expect (Terraform
// and Packer have them) that Nomad's jobspec language does not: a call is
// "Call to unknown function", and inside can() it is simply false, which
// turned every `can(regex(…))` validation of an earlier jobspec set into a
// rejection on real Nomad.
var missingFunctions = []string{
	"regex", "regexall", "setsubtract", "tostring", "tonumber", "tobool",
	"tolist", "toset", "tomap", "startswith", "endswith", "strcontains",
	"templatefile", "timestamp", "one", "sum", "alltrue", "anytrue",
}

// funcJob is a job whose meta calls name with no arguments.
func funcJob(name string) string {
	return fmt.Sprintf("job \"fn\" {\n  meta {\n    x = %s()\n  }\n}\n", name)
}

// testFunctionTable parses a call to every function the double's jobspec
// parser knows, and to each of missingFunctions. A known function may fail
// for want of arguments, but never as unknown; a missing one fails exactly
// as unknown, at the call's position. Together: the double has Nomad's
// function table, name for name.
func testFunctionTable(t *testing.T, tg Target) {
	for _, name := range jobhcl.FunctionNames() {
		_, err := tg.Client.Jobs().ParseHCLOpts(&api.JobsParseRequest{JobHCL: funcJob(name), Canonicalize: true})
		if err != nil && strings.Contains(err.Error(), "Call to unknown function") {
			t.Errorf("%s: got %v; want the function known, as in the double", name, err)
		}
	}
	for _, name := range missingFunctions {
		_, err := tg.Client.Jobs().ParseHCLOpts(&api.JobsParseRequest{JobHCL: funcJob(name), Canonicalize: true})
		want := fmt.Sprintf("input.hcl:3,9-%d: Call to unknown function; There is no function named %q.", 9+len(name), name)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v; want an error containing %q", name, err, want)
		}
		if code := statusCode(err); err != nil && code != 400 {
			t.Errorf("%s: got status %d; want 400", name, code)
		}
	}
}

// testUnknownFunctionInValidation: a validation that calls a missing
// function inside can() is false, so the variable is rejected with the
// validation's own message (what real Nomad did to `can(regex(…))`).
func testUnknownFunctionInValidation(t *testing.T, tg Target) {
	src := `variable "v" {
  type = string
  validation {
    condition     = can(regex("^[a-z]+$", var.v))
    error_message = "The value must be lower-case letters."
  }
}
job "fnv" {
  meta {
    v = var.v
  }
}
`
	_, err := tg.Client.Jobs().ParseHCLOpts(&api.JobsParseRequest{JobHCL: src, Variables: "v = \"abc\"\n", Canonicalize: true})
	if err == nil || !strings.Contains(err.Error(), "The value must be lower-case letters.") {
		t.Errorf("got %v; want the validation's error (regex is unknown, so can() is false)", err)
	}
}
