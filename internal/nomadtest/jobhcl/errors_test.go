package jobhcl

import (
	"errors"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		varFile string
		args    map[string]string
		want    string // the whole error text
	}{
		{
			name: "single-line block with two arguments",
			src: `job "a" {
  group "g" {
    task "t" {
      resources { cpu = 50 memory = 64 }
    }
  }
}
`,
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
			want: "input.hcl:3,3-9: Duplicate update block; Only one update block is allowed here. Another was defined at input.hcl:2,3-9.",
		},
		{
			name: "duplicate labelled volume",
			src:  "job \"a\" {\n  group \"g\" {\n    volume \"v\" {}\n    volume \"v\" {}\n  }\n}\n",
			want: `input.hcl:4,5-15: Duplicate volume "v" block; Only one volume "v" block is allowed here. Another was defined at input.hcl:3,5-15.`,
		},
		{
			name: "two job blocks",
			src:  "job \"a\" {}\njob \"b\" {}\n",
			want: "input.hcl:2,1-8: Duplicate job block; Only one job block is allowed here. Another was defined at input.hcl:1,1-8.",
		},
		{
			name: "string for a number",
			src:  "job \"a\" {\n  priority = \"high\"\n}\n",
			want: "input.hcl:2,14-20: Unsuitable value type; Unsuitable value: a number is required",
		},
		{
			name: "fractional count",
			src:  "job \"a\" {\n  group \"g\" {\n    count = 1.5\n  }\n}\n",
			want: "input.hcl:3,13-16: Unsuitable value type; Unsuitable value: a whole number is required",
		},
		{
			name: "string for a list",
			src:  "job \"a\" {\n  datacenters = \"dc1\"\n}\n",
			want: "input.hcl:2,17-22: Unsuitable value type; Unsuitable value: list of string required",
		},
		{
			name: "invalid duration",
			src:  "job \"a\" {\n  group \"g\" {\n    restart {\n      interval = \"5 minutes\"\n    }\n  }\n}\n",
			want: `input.hcl:4,18-29: Unsuitable duration value; Unsuitable duration: time: unknown unit " minutes" in duration "5 minutes"`,
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
			want: `input.hcl:3,5-6: Unexpected "x" block; Blocks are not allowed here.`,
		},
		{
			name: "missing required variable",
			src:  "variable \"tenant\" {\n  type = string\n}\njob \"a\" {}\n",
			want: `input.hcl:1,1-18: Unset variable "tenant"; A used variable must be set or have a default value; give it a default, or set it in the var file.`,
		},
		{
			name: "failed validation",
			src: `variable "tenant" {
  type = string
  validation {
    condition     = strlen(var.tenant) <= 8
    error_message = "The tenant id is at most 8 characters."
  }
}
job "a" {}
`,
			varFile: `tenant = "much-too-long"`,
			want:    "input.hcl:4,21-44: Invalid value for variable; The tenant id is at most 8 characters.\n\nThis was checked by the validation rule at input.hcl:3,3-13.",
		},
		{
			name: "unknown function",
			src:  "job \"a\" {\n  meta {\n    x = regex(\"a\", \"b\")\n  }\n}\n",
			want: `input.hcl:3,9-14: Call to unknown function; There is no function named "regex".`,
		},
		{
			name:    "var file value of the wrong type",
			src:     "variable \"n\" {\n  type = number\n}\njob \"a\" {}\n",
			varFile: `n = "three"`,
			want:    "variables.hcl:1,5-12: Invalid value for variable; The value for var.n is not compatible with the variable's type constraint number: a number is required.",
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
			name:    "null for a non-nullable variable",
			src:     "variable \"x\" {\n  type     = string\n  default  = \"d\"\n  nullable = false\n}\njob \"a\" {}\n",
			varFile: "x = null\n",
			want:    `input.hcl:1,1-13: Invalid value for variable; The variable "x" is not nullable, so it cannot be set to null.`,
		},
		{
			name: "-var value of the wrong type",
			src:  "variable \"n\" {\n  type = number\n}\njob \"a\" {}\n",
			args: map[string]string{"n": `"three"`},
			want: `input.hcl:1,1-13: Invalid value for variable; The value for var.n is not compatible with the variable's type constraint number: a number is required.`,
		},
		{
			name: "-var value that is not an expression",
			src:  "variable \"n\" {\n  type = number\n}\njob \"a\" {}\n",
			args: map[string]string{"n": "three"},
			want: `<value for var.n>:1,1-6: Variables not allowed; Variables may not be used here.`,
		},
		{
			name: "unknown argument in a variable block",
			src:  "variable \"x\" {\n  default = 1\n  secret  = true\n}\njob \"a\" {}\n",
			want: `input.hcl:3,3-9: Unsupported argument; An argument named "secret" is not expected here.`,
		},
		{
			name:    "undeclared variable in the var file",
			src:     "job \"a\" {}\n",
			varFile: "\nextra = 1\n",
			want:    `variables.hcl:2,9-10: Undefined variable; A "extra" variable was set but was not found in known variables. To declare variable "extra", place this block in your job files`,
		},
		{
			name: "undeclared -var variable",
			src:  "job \"a\" {}\n",
			args: map[string]string{"extra": "1"},
			want: `<nil>: Undefined -var variable; A "extra" variable was passed in the command line but was not found in known variables. To declare variable "extra", place this block in your job file`,
		},
		{
			name: "reference to an undeclared variable",
			src:  "job \"a\" {\n  region = var.nope\n}\n",
			want: `input.hcl:2,15-20: Unsupported attribute; This object does not have an attribute named "nope".`,
		},
		{
			name: "circular locals",
			src:  "locals {\n  a = local.b\n  b = local.a\n}\njob \"x\" {}\n",
			want: "input.hcl:2,7-14: Circular reference between local values; The local value \"a\" depends, directly or through other locals, on itself.\n" +
				"input.hcl:3,7-14: Circular reference between local values; The local value \"b\" depends, directly or through other locals, on itself.",
		},
		{
			name: "file function disabled",
			src:  "job \"a\" {\n  region = file(\"x\")\n}\n",
			want: `input.hcl:2,12-17: Error in function call; Call to function "file" failed: filesystem function disabled.`,
		},
		{
			name: "syntax error",
			src:  "job \"a\" {\n  region = \n}\n",
			want: "input.hcl:2,12-3,1: Invalid expression; Expected the start of an expression, but found an invalid expression token.",
		},
		{
			name: "several errors, one per line",
			src:  "job \"a\" {\n  bogus = 1\n  priority = \"x\"\n}\n",
			want: "input.hcl:2,3-8: Unsupported argument; An argument named \"bogus\" is not expected here.\n" +
				"input.hcl:3,14-17: Unsuitable value type; Unsuitable value: a number is required",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job, err := Parse([]byte(tt.src), tt.varFile, tt.args, true)
			if err == nil {
				t.Fatalf("got job %v and no error; want error %q", *job.ID, tt.want)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("got error of type %T; want *ParseError", err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("got error\n%s\nwant\n%s", got, tt.want)
			}
			if !strings.HasPrefix(tt.want, "<") && !strings.HasPrefix(err.Error(), "input.hcl:") &&
				!strings.HasPrefix(err.Error(), varFileName+":") {
				t.Errorf("got error %q; want it to start with a position", err)
			}
		})
	}
}
