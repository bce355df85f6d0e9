package contract

import (
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"
)

// parseErrorCase is one invalid jobspec (or var file) and the exact body
// Nomad's /v1/jobs/parse answers with HTTP 400.
type parseErrorCase struct {
	name string
	src  string
	vars string
	want string // the whole body, "Failed to parse job: " included
}

// parseErrorCases were each answered by a real Nomad 2.0.5 agent exactly
// as written here.
var parseErrorCases = []parseErrorCase{
	{
		name: "single-line block with two arguments",
		src:  "job \"a\" {\n  group \"g\" {\n    task \"t\" {\n      resources { cpu = 50 memory = 64 }\n    }\n  }\n}\n",
		want: "input.hcl:4,28-34: Invalid single-argument block definition; A single-line block definition must end with a closing brace immediately after its single argument definition.",
	},
	{
		name: "unknown argument",
		src:  "job \"a\" {\n  group \"g\" {\n    count = 1\n    cuont = 2\n  }\n}\n",
		want: `input.hcl:4,5-10: Unsupported argument; An argument named "cuont" is not expected here.`,
	},
	{
		name: "unknown block",
		src:  "job \"a\" {\n  group \"g\" {\n    task \"t\" {\n      resource {}\n    }\n  }\n}\n",
		want: `input.hcl:4,7-15: Unsupported block type; Blocks of type "resource" are not expected here. Did you mean "resources"?`,
	},
	{
		name: "unknown top-level block",
		src:  "jobs \"a\" {}\n",
		want: `input.hcl:1,1-5: Unsupported block type; Blocks of type "jobs" are not expected here. Did you mean "job"?`,
	},
	{
		name: "connect is not a known block of a check",
		src:  "job \"a\" {\n  group \"g\" {\n    service {\n      check {\n        connect {}\n      }\n    }\n  }\n}\n",
		want: `input.hcl:5,9-16: Unsupported block type; Blocks of type "connect" are not expected here.`,
	},
	{
		name: "duplicate argument",
		src:  "job \"a\" {\n  type = \"batch\"\n  type = \"service\"\n}\n",
		want: `input.hcl:3,3-7: Attribute redefined; The argument "type" was already set at input.hcl:2,3-7. Each argument may be set only once.`,
	},
	{
		name: "duplicate single block",
		src:  "job \"a\" {\n  update {}\n  update {}\n}\n",
		want: "input.hcl:3,3-9: Duplicate update block; Only one update block is allowed. Another was defined at input.hcl:2,3-9.",
	},
	{
		name: "two job blocks",
		src:  "job \"a\" {}\njob \"b\" {}\n",
		want: "input.hcl:2,1-8: Duplicate job block; Only one block of type \"job\" is allowed. Previous definition was at input.hcl:1,1-8.",
	},
	{
		name: "no job block",
		src:  "variable \"x\" {\n  default = 1\n}\n",
		want: "<nil>: Missing job block; A job block is required",
	},
	{
		name: "string for a number",
		src:  "job \"a\" {\n  priority = \"high\"\n}\n",
		want: "input.hcl:2,15-19: Unsuitable value type; Unsuitable value: a number is required",
	},
	{
		name: "fractional count",
		src:  "job \"a\" {\n  group \"g\" {\n    count = 1.5\n  }\n}\n",
		want: "input.hcl:3,13-16: Unsuitable value type; Unsuitable value: value must be a whole number, between -9223372036854775808 and 9223372036854775807",
	},
	{
		name: "string for a list",
		src:  "job \"a\" {\n  datacenters = \"dc1\"\n}\n",
		want: "input.hcl:2,18-21: Unsuitable value type; Unsuitable value: list of string required, but have string",
	},
	{
		name: "invalid duration",
		src:  "job \"a\" {\n  group \"g\" {\n    restart {\n      interval = \"5 minutes\"\n    }\n  }\n}\n",
		want: `input.hcl:4,19-28: Unsuitable value type; Unsuitable duration value: time: unknown unit " minutes" in duration "5 minutes"`,
	},
	{
		name: "number for a duration",
		src:  "job \"a\" {\n  group \"g\" {\n    restart {\n      interval = true\n    }\n  }\n}\n",
		want: `input.hcl:4,18-22: Unsuitable value type; Unsuitable value: expected a string but found {{{} %!s(cty.primitiveTypeKind=66)}}`,
	},
	{
		name: "missing required argument",
		src:  "job \"a\" {\n  group \"g\" {\n    task \"t\" {\n      lifecycle {\n        sidecar = true\n      }\n    }\n  }\n}\n",
		want: `input.hcl:4,17-17: Missing required argument; The argument "hook" is required, but no definition was found.`,
	},
	{
		name: "missing label",
		src:  "job \"a\" {\n  group {\n  }\n}\n",
		want: "input.hcl:2,9-10: Missing name for group; All group blocks must have 1 labels (name).",
	},
	{
		name: "block inside meta",
		src:  "job \"a\" {\n  meta {\n    x {}\n  }\n}\n",
		want: "input.hcl:3,7-8: Unsuitable value type; Unsuitable value: string required, but have tuple",
	},
	{
		name: "unknown function",
		src:  "job \"a\" {\n  meta {\n    x = regex(\"a\", \"b\")\n  }\n}\n",
		want: "input.hcl:3,9-14: Call to unknown function; There is no function named \"regex\".\n" +
			"input.hcl:3,9-15: Unsuitable value type; Unsuitable value: value must be known",
	},
	{
		name: "file function disabled",
		src:  "job \"a\" {\n  region = file(\"x\")\n}\n",
		want: "input.hcl:2,12-17: Error in function call; Call to function \"file\" failed: filesystem function disabled.\n" +
			"input.hcl:2,12-17: Unsuitable value type; Unsuitable value: value must be known",
	},
	{
		name: "syntax error",
		src:  "job \"a\" {\n  region = \n}\n",
		want: "input.hcl:2,12-3,1: Invalid expression; Expected the start of an expression, but found an invalid expression token.",
	},
	{
		name: "two syntax errors",
		src:  "job \"a\" {\n  region = \n  priority = \n}\n",
		want: "input.hcl:2,12-3,1: Invalid expression; Expected the start of an expression, but found an invalid expression token.",
	},
	{
		name: "duration null",
		src:  "job \"a\" {\n  group \"g\" {\n    restart {\n      interval = null\n    }\n  }\n}\n",
		want: "input.hcl:4,18-22: Unsuitable value; Unsuitable duration value: nil",
	},
	{
		name: "default calls a function",
		src:  "variable \"x\" {\n  default = upper(\"a\")\n}\njob \"a\" {}\n",
		want: "input.hcl:2,13-23: Function calls not allowed; Functions may not be called here.",
	},
	{
		name: "list for a string",
		src:  "job \"a\" {\n  region = [\"a\"]\n}\n",
		want: "input.hcl:2,12-13: Unsuitable value type; Unsuitable value: string required, but have tuple",
	},
	{
		name: "map for a list of strings",
		src:  "job \"a\" {\n  datacenters = { a = 1 }\n}\n",
		want: "input.hcl:2,17-18: Unsuitable value type; Unsuitable value: list of string required",
	},
	{
		name: "object for env",
		src:  "job \"a\" {\n  group \"g\" {\n    task \"t\" {\n      env = { A = [1] }\n    }\n  }\n}\n",
		want: "input.hcl:4,13-14: Unsuitable value type; Unsuitable value: element \"A\": string required, but have tuple",
	},
	{
		name: "duplicate config block",
		src:  "job \"a\" {\n  group \"g\" {\n    task \"t\" {\n      config {}\n      config {}\n    }\n  }\n}\n",
		want: "input.hcl:5,7-13: Duplicate config block; Only one config block is allowed. Another was defined at input.hcl:4,7-13.",
	},
	{
		name: "meta both as block and argument",
		src:  "job \"a\" {\n  meta = { a = \"1\" }\n  meta {\n    b = \"2\"\n  }\n}\n",
		want: "input.hcl:3,3-7: Duplicate meta block; meta may not be defined more than once. Another definition is defined at input.hcl:2,3-21.",
	},
	{
		name: "undeclared variable in a default",
		src:  "variable \"x\" {\n  default = var.y\n}\njob \"a\" {}\n",
		want: "input.hcl:2,13-16: Variables not allowed; Variables may not be used here.",
	},
	{
		name: "several errors, one per line",
		src:  "job \"a\" {\n  bogus = 1\n  priority = \"x\"\n}\n",
		want: "input.hcl:2,3-8: Unsupported argument; An argument named \"bogus\" is not expected here.\n" +
			"input.hcl:3,15-16: Unsuitable value type; Unsuitable value: a number is required",
	},
	{
		name: "reference to an undeclared variable",
		src:  "job \"a\" {\n  region = var.nope\n}\n",
		want: "input.hcl:2,15-20: Unsupported attribute; This object does not have an attribute named \"nope\".\n" +
			"input.hcl:2,12-20: Unsuitable value type; Unsuitable value: value must be known",
	},

	// Variables.
	{
		name: "unset variable",
		src:  "variable \"tenant\" {\n  type = string\n}\njob \"a\" {}\n",
		want: "<nil>: Unset variable \"tenant\"; A used variable must be set or have a default value; see " +
			"https://developer.hashicorp.com/nomad/docs/reference/hcl2/variables  for details.",
	},
	{
		name: "failed validation of a var-file value",
		src: "variable \"tenant\" {\n  type = string\n  validation {\n    condition     = strlen(var.tenant) <= 8\n" +
			"    error_message = \"The tenant id is at most 8 characters.\"\n  }\n}\njob \"a\" {}\n",
		vars: "tenant = \"much-too-long\"\n",
		want: "input.hcl:1,10-25: Invalid value for varfile variable; The tenant id is at most 8 characters.\n\nThis was checked by the validation rule at input.hcl:3,3-13.",
	},
	{
		name: "failed validation of a default",
		src: "variable \"tenant\" {\n  type    = string\n  default = \"much-too-long\"\n  validation {\n    condition     = strlen(var.tenant) <= 8\n" +
			"    error_message = \"The tenant id is at most 8 characters.\"\n  }\n}\njob \"a\" {}\n",
		want: "input.hcl:3,13-28: Invalid value for default variable; The tenant id is at most 8 characters.\n\nThis was checked by the validation rule at input.hcl:4,3-13.",
	},
	{
		name: "validation that refers to another variable",
		src: "variable \"a\" {\n  default = \"x\"\n}\nvariable \"b\" {\n  default = \"y\"\n  validation {\n    condition     = var.a == var.b\n" +
			"    error_message = \"Must match.\"\n  }\n}\njob \"a\" {}\n",
		want: "input.hcl:7,21-26: Invalid reference in variable validation; The condition for variable \"b\" can only refer to the variable itself, using var.b.\n" +
			"input.hcl:7,24-26: Unsupported attribute; This object does not have an attribute named \"a\".",
	},
	{
		name: "empty validation message",
		src:  "variable \"a\" {\n  default = \"x\"\n  validation {\n    condition     = var.a != \"\"\n    error_message = \" \"\n  }\n}\njob \"a\" {}\n",
		want: "input.hcl:5,21-24: Invalid validation error message; An empty or blank string is not a valid nor useful error message.",
	},
	{
		name: "var file value of the wrong type",
		src:  "variable \"n\" {\n  type = number\n}\njob \"a\" {}\n",
		vars: "n = \"three\"\n",
		want: "input.hcl:1,5-12: Invalid value for variable; The value for n is not compatible with the variable's type constraint: a number is required.",
	},
	{
		name: "default of the wrong type",
		src:  "variable \"l\" {\n  type    = list(string)\n  default = \"x\"\n}\njob \"a\" {}\n",
		want: "input.hcl:3,13-16: Invalid default value for variable; This default value is not compatible with the variable's type constraint: list of string required, but have string.",
	},
	{
		name: "invalid type constraint",
		src:  "variable \"x\" {\n  type = strin\n}\njob \"a\" {}\n",
		want: `input.hcl:2,10-15: Invalid type specification; The keyword "strin" is not a valid type specification.`,
	},
	{
		name: "nullable is not an argument of a variable",
		src:  "variable \"x\" {\n  type     = string\n  default  = \"d\"\n  nullable = false\n}\njob \"a\" {}\n",
		want: `input.hcl:4,3-11: Unsupported argument; An argument named "nullable" is not expected here.`,
	},
	{
		name: "sensitive is not an argument of a variable",
		src:  "variable \"x\" {\n  default   = 1\n  sensitive = true\n}\njob \"a\" {}\n",
		want: `input.hcl:3,3-12: Unsupported argument; An argument named "sensitive" is not expected here.`,
	},
	{
		name: "optional attribute with a default",
		src:  "variable \"db\" {\n  type = object({ host = string, port = optional(number, 5432) })\n  default = { host = \"h\" }\n}\njob \"a\" {}\n",
		want: "input.hcl:2,41-49: Invalid type specification; Optional attribute modifier is only for type constraints, not for exact types.",
	},
	{
		name: "duplicate variable",
		src:  "variable \"x\" {\n  default = 1\n}\nvariable \"x\" {\n  default = 2\n}\njob \"a\" {}\n",
		want: "<nil>: Duplicate variable; Duplicate x variable definition found.",
	},
	{
		name: "local that refers to itself",
		src:  "locals {\n  a = local.a\n}\njob \"x\" {}\n",
		want: "input.hcl:2,12-14: Unsupported attribute; This object does not have an attribute named \"a\".",
	},
	{
		name: "var file syntax error",
		src:  "variable \"x\" {\n  default = 1\n}\njob \"a\" {}\n",
		vars: "x = \n",
		want: "unable to parse var content: input.hcl:1,5-2,1: Invalid expression; Expected the start of an expression, but found an invalid expression token.",
	},
	{
		name: "variable block in the var file",
		src:  "variable \"x\" {\n  default = 1\n}\njob \"a\" {}\n",
		vars: "variable \"y\" {\n  default = 2\n}\n",
		want: "input.hcl:1,1-9: Variable declaration in a .var file; A .var file is used to assign values to variables that have already been declared in job files, " +
			"not to declare new variables. To declare variable \"y\", place this block in one of your job files\n\nTo set a value for this variable in input.hcl, " +
			"use the definition syntax instead:\n    y = <value>",
	},
	{
		name: "var file refers to a variable",
		src:  "variable \"x\" {\n  default = 1\n}\njob \"a\" {}\n",
		vars: "x = var.x\n",
		want: "input.hcl:1,5-8: Variables not allowed; Variables may not be used here.",
	},
	{
		name: "var file calls a function",
		src:  "variable \"x\" {\n  default = \"a\"\n}\njob \"a\" {}\n",
		vars: "x = upper(\"b\")\n",
		want: "input.hcl:1,5-15: Function calls not allowed; Functions may not be called here.",
	},
	{
		name: "invalid variable name",
		src:  "variable \"1x\" {\n  default = 1\n}\njob \"a\" {}\n",
		want: "input.hcl:1,10-14: Invalid variable name; A name must start with a letter or underscore and may contain only letters, digits, underscores, and dashes.",
	},
}

// testParseErrors sends every parseErrorCases input to /v1/jobs/parse and
// compares the whole answer.
func testParseErrors(t *testing.T, tg Target) {
	for _, tc := range parseErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tg.Client.Jobs().ParseHCLOpts(&api.JobsParseRequest{JobHCL: tc.src, Variables: tc.vars, Canonicalize: true})
			if err == nil {
				t.Fatalf("got no error; want\n%s", tc.want)
			}
			var ue api.UnexpectedResponseError
			if !errors.As(err, &ue) || ue.StatusCode() != 400 {
				t.Fatalf("got %v; want HTTP 400", err)
			}
			got := strings.TrimPrefix(ue.Body(), "Failed to parse job: ")
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
