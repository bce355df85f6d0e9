package jobhcl

import (
	"strconv"
	"testing"
)

// metaJob wraps `meta = { ... }` entries (name = expression lines) in a minimal job, so that tests can read
// evaluated expressions back from Job.Meta as strings.
func metaJob(decls, entries string) string {
	return decls + "\njob \"m\" {\n  meta = {\n" + entries + "\n  }\n}\n"
}

const varDecls = `
variable "tenant" {
  type = string
}
variable "replicas" {
  type    = number
  default = 1
}
variable "enabled" {
  type    = bool
  default = false
}
variable "tags" {
  type    = list(string)
  default = ["a"]
}
variable "limits" {
  type    = map(number)
  default = { cpu = 100 }
}
variable "db" {
  type = object({
    host = string
    port = number
  })
  default = { host = "localhost", port = 5432 }
}
variable "untyped" {
  default = "u"
}
variable "maybe" {
  type    = string
  default = null
}
locals {
  prefix = "${var.tenant}-${local.suffix}"
}
locals {
  suffix = upper(var.tenant)
  hosts  = [for i in range(var.replicas) : "${var.tenant}-${i}"]
}
`

func TestVariables(t *testing.T) {
	entries := `
    tenant   = var.tenant
    replicas = var.replicas
    enabled  = var.enabled
    tags     = join(",", var.tags)
    cpu      = var.limits.cpu
    dbhost   = var.db.host
    dbport   = var.db.port
    untyped  = var.untyped
    maybe    = coalesce(var.maybe, "none")
    prefix   = local.prefix
    hosts    = join(",", local.hosts)
`
	tests := []struct {
		name    string
		varFile string
		args    map[string]string
		want    map[string]string
	}{
		{
			name:    "defaults and var file",
			varFile: `tenant = "acme"`,
			want: map[string]string{
				"tenant": "acme", "replicas": "1", "enabled": "false", "tags": "a", "cpu": "100",
				"dbhost": "localhost", "dbport": "5432", "untyped": "u", "maybe": "none",
				"prefix": "acme-ACME", "hosts": "acme-0",
			},
		},
		{
			name: "var file overrides defaults",
			varFile: `
tenant   = "globex"
replicas = 3
enabled  = true
tags     = ["x", "y"]
limits   = { cpu = 250 }
db       = { host = "db.internal", port = 6432 }
untyped  = 7
maybe    = "set"
`,
			want: map[string]string{
				"tenant": "globex", "replicas": "3", "enabled": "true", "tags": "x,y", "cpu": "250",
				"dbhost": "db.internal", "dbport": "6432", "untyped": "7", "maybe": "set",
				"prefix": "globex-GLOBEX", "hosts": "globex-0,globex-1,globex-2",
			},
		},
		{
			name:    "var file values converted to the declared type",
			varFile: "tenant = \"acme\"\nreplicas = \"2\"\nenabled = \"true\"\n",
			want: map[string]string{
				"tenant": "acme", "replicas": "2", "enabled": "true", "tags": "a", "cpu": "100",
				"dbhost": "localhost", "dbport": "5432", "untyped": "u", "maybe": "none",
				"prefix": "acme-ACME", "hosts": "acme-0,acme-1",
			},
		},
		{
			name:    "-var values override the var file",
			varFile: "tenant = \"acme\"\nreplicas = 3\n",
			args:    map[string]string{"tenant": "initech", "replicas": "2", "tags": `["p", "q"]`},
			want: map[string]string{
				"tenant": "initech", "replicas": "2", "enabled": "false", "tags": "p,q", "cpu": "100",
				"dbhost": "localhost", "dbport": "5432", "untyped": "u", "maybe": "none",
				"prefix": "initech-INITECH", "hosts": "initech-0,initech-1",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := mustParse(t, metaJob(varDecls, entries), tt.varFile, tt.args, false)
			for k, want := range tt.want {
				if got := job.Meta[k]; got != want {
					t.Errorf("meta %s: got %q; want %q", k, got, want)
				}
			}
		})
	}
}

func TestFunctions(t *testing.T) {
	tests := []struct {
		expr string
		want string
	}{
		{`format("%s-%03d", "web", 7)`, "web-007"},
		{`join(",", formatlist("%s.example", ["a", "b"]))`, "a.example,b.example"},
		{`join("|", split(",", "a,b,c"))`, "a|b|c"},
		{`lower("ABC")`, "abc"},
		{`upper("abc")`, "ABC"},
		{`replace("a-b-c", "-", "_")`, "a_b_c"},
		{`regex_replace("acme-corp", "^([a-z]+)-.*$", "$1")`, "acme"},
		{`strlen("Ünï")`, "3"},
		{`trimspace("  x  ")`, "x"},
		{`trimprefix("tenant-acme", "tenant-")`, "acme"},
		{`trimsuffix("acme.nomad.hcl", ".nomad.hcl")`, "acme"},
		{`substr("abcdef", 1, 3)`, "bcd"},
		{`length([1, 2, 3])`, "3"},
		{`contains(["a", "b"], "b")`, "true"},
		{`join(",", concat(["a"], ["b", "c"]))`, "a,b,c"},
		{`jsonencode(merge({ a = 1 }, { b = 2 }))`, `{"a":1,"b":2}`},
		{`join(",", keys({ x = 1, y = 2 }))`, "x,y"},
		{`join(",", values({ x = "1", y = "2" }))`, "1,2"},
		{`lookup({ a = "1" }, "b", "dflt")`, "dflt"},
		{`element(["a", "b", "c"], 4)`, "b"},
		{`coalesce(null, "second")`, "second"},
		{`join(",", compact(["a", "", "b"]))`, "a,b"},
		{`join(",", distinct(["a", "a", "b"]))`, "a,b"},
		{`join(",", flatten([["a"], ["b", ["c"]]]))`, "a,b,c"},
		{`jsonencode(range(3))`, "[0,1,2]"},
		{`min(3, 1, 2)`, "1"},
		{`max(3, 1, 2)`, "3"},
		{`abs(-4)`, "4"},
		{`ceil(1.2)`, "2"},
		{`floor(1.8)`, "1"},
		{`jsonencode({ regions = ["a"] })`, `{"regions":["a"]}`},
		{`jsondecode("{\"a\": \"b\"}").a`, "b"},
		{`reverse("abc")`, "cba"},
		{`convert(12, string)`, "12"},
		{`convert("12", number) + 1`, "13"},
		{`length(convert(["a", "a"], set(string)))`, "1"},
		{`can(regex("^[0-9]+$", "12"))`, "false"},
		{`regex_replace("12a", "^[0-9]+$", "") == ""`, "false"},
		{`try(jsondecode("{").x, "fallback")`, "fallback"},
		{`base64encode("hello")`, "aGVsbG8="},
		{`base64decode("aGVsbG8=")`, "hello"},
		{`sha256("abc")`, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{`"%{ if 1 > 0 }yes%{ else }no%{ endif }"`, "yes"},
		{`"%{ for s in ["a", "b"] }${s};%{ endfor }"`, "a;b;"},
		{`2 * 1024`, "2048"},
	}
	var entries string
	for i, tt := range tests {
		entries += "    k" + strconv.Itoa(i) + " = " + tt.expr + "\n"
	}
	job := mustParse(t, metaJob("", entries), "", nil, false)
	for i, tt := range tests {
		if got := job.Meta["k"+strconv.Itoa(i)]; got != tt.want {
			t.Errorf("%s: got %q; want %q", tt.expr, got, tt.want)
		}
	}
}
