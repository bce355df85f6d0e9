package jobhcl

import (
	"errors"
	"testing"
)

// The error texts of invalid jobspecs and var files are stated, as real Nomad 2.0.5 answered them, by the
// contract case ParseErrors (internal/nomadtest/contract), which runs against this parser through the
// double. The parse endpoint has no -var values, so their errors are checked here, each as the Nomad 2.0.5
// CLI printed it (`nomad job validate -var …`, which runs the same parser; `-hcl2-strict=false` for the
// endpoint's leniency towards undeclared variables).
func TestParseArgVarErrors(t *testing.T) {
	const decl = "variable \"n\" {\n  type = number\n}\nvariable \"l\" {\n  type    = list(string)\n  default = []\n}\njob \"a\" {}\n"
	tests := []struct {
		name string
		args map[string]string
		want string
	}{
		{
			name: "number variable given text",
			args: map[string]string{"n": "three"},
			want: ":0,0-0: Invalid argument value for -var variable; The received arg value for n is not compatible with the variable's type constraint: a number is required.",
		},
		{
			name: "list variable given a bare word",
			args: map[string]string{"n": "3", "l": "three"},
			want: "<value for var.l from arguments>:1,1-6: Variables not allowed; Variables may not be used here.",
		},
		{
			name: "list variable given broken HCL",
			args: map[string]string{"n": "3", "l": "[1"},
			want: "<value for var.l from arguments>:1,1-2: Unterminated tuple constructor expression; There is no corresponding closing bracket " +
				"before the end of the file. This may be caused by incorrect bracket nesting elsewhere in this file.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(decl), "", tt.args, true)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("got %v; want a *ParseError", err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestParseArgVars(t *testing.T) {
	const decl = "variable \"n\" {\n  type = number\n}\nvariable \"l\" {\n  type    = list(string)\n  default = []\n}\n" +
		"job \"a\" {\n  meta = {\n    n = var.n\n    l = join(\",\", var.l)\n  }\n}\n"
	// An undeclared -var is only a warning without -hcl2-strict, as at the endpoint.
	job, err := Parse([]byte(decl), "n = 1\n", map[string]string{"n": "2", "l": `["a", "b"]`, "extra": "x"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if job.Meta["n"] != "2" || job.Meta["l"] != "a,b" {
		t.Errorf("got meta %v; want n=2 (the -var beats the var file) and l=a,b", job.Meta)
	}
}
