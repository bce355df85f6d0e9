package routing

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	consultemplates "github.com/tenantctl/tenantctl/consul-templates"
	"github.com/tenantctl/tenantctl/internal/nomadtest/jobhcl"
	"github.com/tenantctl/tenantctl/internal/testenv"
	nginxconf "github.com/tenantctl/tenantctl/nginx"
)

var update = flag.Bool("update", false, "rewrite golden files and the template copies in jobspecs/router.nomad.hcl")

// TestRenderGolden renders the tenants template with consul-template from a
// private Consul holding a fixed set of services, compares the result with
// testdata/tenants.golden.conf and checks it with nginx -t.
func TestRenderGolden(t *testing.T) {
	t.Parallel()
	c := testenv.StartConsul(t)
	client := c.Client(t)
	critical := "critical"
	instances := map[string]int{} // per service
	for i, reg := range []registration{
		{Service: "acme--app", Tags: append(tenantTags("acme", "acme.example.test"), "tenantctl.component=app"), Address: "10.0.0.11", Port: 8080},
		{Service: "acme--worker", Tags: append(tenantTags("acme", "acme.example.test"), "tenantctl.component=worker"), Address: "10.0.0.14", Port: 9090},
		{Service: "acme--app", Tags: tenantTags("acme", "acme.example.test"), Address: "10.0.0.12", Port: 8080},
		{Service: "acme--app", Tags: tenantTags("acme", "acme.example.test"), Address: "10.0.0.13", Port: 8080, Status: critical},
		// An instance that does not carry the tenant's tag is never routed.
		{Service: "acme--app", Tags: []string{"tenantctl"}, Address: "10.0.0.99", Port: 8080},
		{Service: "globex--app", Tags: append(tenantTags("globex", "globex.example.test"), "tenantctl.host=www.globex.test"),
			Address: "fd00::12", Port: 9000},
		{Service: "initech--app", Tags: tenantTags("initech", "initech.example.test"), Address: "10.0.0.21", Port: 8080, Status: critical},
		{Service: "hooli--app", Tags: tenantTags("hooli", "hooli.example.test"), Address: "app.internal", Port: 8080},
		{Service: "evil--app", Tags: tenantTags("evil", "evil.example.test;\n}\nserver { listen 1; }"), Address: "10.0.0.66", Port: 80},
		{Service: "zeta--app", Tags: tenantTags("zeta", "acme.example.test"), Address: "10.0.0.31", Port: 8080},
		{Service: "acme--postgres", Tags: []string{"tenantctl.tenant=acme"}, Address: "10.0.0.41", Port: 5432},
	} {
		reg.ID = fmt.Sprintf("_nomad-task-golden-%02d", i) // fixed: instances sort by id
		register(t, client, reg)
		instances[reg.Service]++
	}
	// The agent syncs registrations to the catalog asynchronously.
	waitFor(t, 10*time.Second, "every registration in the catalog", func() (bool, string) {
		for name, n := range instances {
			entries, _, err := client.Health().Service(name, "", false, nil)
			if err != nil || len(entries) != n {
				return false, fmt.Sprintf("service %s: %d instances, err %v; want %d", name, len(entries), err, n)
			}
		}
		return true, ""
	})

	dir := t.TempDir()
	tmpl := filepath.Join(dir, "tenants.ctmpl")
	writeFile(t, tmpl, readEmbedded(t, consultemplates.FS, consultemplates.NginxTenants))
	out := filepath.Join(dir, nginxconf.TenantsConf)
	cmd := exec.Command(testenv.ConsulTemplateBinary(t), "-consul-addr", c.Addr, "-once", "-log-level", "warn",
		"-config", testenv.ConsulTemplateConfig(t, tmpl, out, ""))
	cmd.Env = append(os.Environ(), "TENANTCTL_ROUTER_LISTEN=8080", "TENANTCTL_ROUTER_TLS_LISTEN=8443",
		"TENANTCTL_ROUTER_TLS_CERT=tls/cert.pem", "TENANTCTL_ROUTER_TLS_KEY=tls/key.pem")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("consul-template -once: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "tenants.golden.conf")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, golden, got)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("rendered tenants.conf differs from %s (go test -update rewrites it):\n%s", golden, diffLines(string(want), string(got)))
	}

	// The golden configuration is valid nginx.
	if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestCertAs(t, filepath.Join(dir, "tls"))
	writeFile(t, filepath.Join(dir, nginxconf.BaseConf), readEmbedded(t, nginxconf.FS, nginxconf.BaseConf))
	test := exec.Command(testenv.NginxBinary(t), "-p", dir+"/", "-c", filepath.Join(dir, nginxconf.BaseConf), "-t", "-q")
	if b, err := test.CombinedOutput(); err != nil {
		t.Fatalf("nginx -t on the golden render: %v\n%s", err, b)
	}
}

// writeTestCertAs writes cert.pem and key.pem into dir.
func writeTestCertAs(t *testing.T, dir string) {
	t.Helper()
	cert, key, _ := writeTestCert(t, dir)
	if filepath.Base(cert) != "cert.pem" || filepath.Base(key) != "key.pem" {
		t.Fatalf("test certificate written as %s, %s", cert, key)
	}
}

// diffLines lists the lines that differ, with their line numbers.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl + "\n")
		}
	}
	return b.String()
}

// routerJobspecs are the router job's two profiles, relative to this package.
var routerJobspecs = []string{"../../jobspecs/router.docker.nomad.hcl", "../../jobspecs/router.exec.nomad.hcl"}

// TestJobspecCarriesTheFiles checks that the router jobspecs' template blocks
// carry nginx/nginx.conf and the tenants template exactly, once HCL has
// processed the heredocs; -update rewrites them from the files.
func TestJobspecCarriesTheFiles(t *testing.T) {
	files := map[string]string{ // heredoc marker → source
		"EOT_NGINX_CONF":   string(readEmbedded(t, nginxconf.FS, nginxconf.BaseConf)),
		"EOT_TENANTS_CONF": string(readEmbedded(t, consultemplates.FS, consultemplates.NginxTenants)),
	}
	for _, path := range routerJobspecs {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			s := string(src)
			for marker, text := range files {
				s = replaceHeredoc(t, path, s, marker, escapeHCLTemplate(text))
			}
			writeFile(t, path, []byte(s))
			src = []byte(s)
		}
		file, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("parse %s: %v", path, diags)
		}
		datas := map[string]string{}
		hclsyntax.VisitAll(file.Body.(*hclsyntax.Body), func(n hclsyntax.Node) hcl.Diagnostics {
			if a, ok := n.(*hclsyntax.Attribute); ok && a.Name == "data" {
				v, diags := a.Expr.Value(nil)
				if diags.HasErrors() {
					t.Errorf("%s: template data: %v", a.SrcRange, diags)
					return nil
				}
				line := strings.SplitN(string(a.SrcRange.SliceBytes(src)), "\n", 2)[0]
				datas[strings.TrimSpace(strings.SplitN(line, "<<", 2)[1])] = v.AsString()
			}
			return nil
		})
		for marker, want := range files {
			got, ok := datas[marker]
			switch {
			case !ok:
				t.Errorf("%s: no template data heredoc <<%s", path, marker)
			case got != want:
				t.Errorf("%s: heredoc <<%s differs from its source file (go test -update rewrites it):\n%s",
					path, marker, diffLines(want, got))
			}
		}
	}
}

// TestJobspecParses parses both router jobspecs as Nomad's /v1/jobs/parse
// does (the in-repo double's parser) and checks what the router relies on.
func TestJobspecParses(t *testing.T) {
	for _, c := range []struct {
		path, driver, command string
	}{
		{routerJobspecs[0], "docker", "nginx"},
		{routerJobspecs[1], "raw_exec", "/usr/sbin/nginx"},
	} {
		src, err := os.ReadFile(c.path)
		if err != nil {
			t.Fatal(err)
		}
		job, err := jobhcl.Parse(src, "http_port = 8080\n", nil, true)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		if *job.Type != "system" || *job.ID != "tenantctl-router" || len(job.TaskGroups) != 1 {
			t.Fatalf("%s: job %s type %s with %d groups; want system job tenantctl-router with 1 group",
				c.path, *job.ID, *job.Type, len(job.TaskGroups))
		}
		task := job.TaskGroups[0].Tasks[0]
		if task.Driver != c.driver || task.Config["command"] != c.command {
			t.Errorf("%s: driver %s command %v; want %s %s", c.path, task.Driver, task.Config["command"], c.driver, c.command)
		}
		if got := task.Env["TENANTCTL_ROUTER_LISTEN"]; got != "8080" {
			t.Errorf("%s: TENANTCTL_ROUTER_LISTEN %q; want 8080 from http_port", c.path, got)
		}
		if got := fmt.Sprint(task.Config["args"]); !strings.Contains(got, "${NOMAD_TASK_DIR}/nginx.conf") {
			t.Errorf("%s: args %s; want -c ${NOMAD_TASK_DIR}/nginx.conf", c.path, got)
		}
		if len(task.Templates) != 2 {
			t.Fatalf("%s: %d templates; want 2", c.path, len(task.Templates))
		}
		for _, tmpl := range task.Templates {
			if *tmpl.ChangeMode != "signal" || *tmpl.ChangeSignal != "SIGHUP" {
				t.Errorf("%s: template %s: change_mode %s %s; want signal SIGHUP",
					c.path, *tmpl.DestPath, *tmpl.ChangeMode, *tmpl.ChangeSignal)
			}
			// Nomad's default splay (a random 0-5s before the signal) would
			// keep a stopping instance in the upstream past its
			// shutdown_delay.
			if tmpl.Splay == nil || *tmpl.Splay != 0 {
				t.Errorf("%s: template %s: splay %v; want 0s", c.path, *tmpl.DestPath, tmpl.Splay)
			}
		}
		if w := task.Templates[1].Wait; *task.Templates[1].DestPath != "local/tenants.conf" || w == nil || *w.Min != time.Second {
			t.Errorf("%s: second template %s wait %+v; want local/tenants.conf with wait min 1s",
				c.path, *task.Templates[1].DestPath, w)
		}
	}
}

// replaceHeredoc replaces the body of the heredoc <<marker in s.
func replaceHeredoc(t *testing.T, path, s, marker, body string) string {
	t.Helper()
	open := "<<" + marker + "\n"
	i := strings.Index(s, open)
	if i < 0 {
		t.Fatalf("%s: no heredoc <<%s", path, marker)
	}
	start := i + len(open)
	end := strings.Index(s[start:], "\n"+marker+"\n")
	if end < 0 {
		t.Fatalf("%s: heredoc <<%s is not closed", path, marker)
	}
	return s[:start] + strings.TrimSuffix(body, "\n") + s[start+end:]
}

// escapeHCLTemplate escapes HCL's template sequences so text is literal in a
// heredoc.
func escapeHCLTemplate(text string) string {
	return strings.NewReplacer("${", "$${", "%{", "%%{").Replace(text)
}

// TestTemplateFollowsNomadsRunner renders templates with the harness's
// consul-template configuration: a template calling a function that Nomad's
// template runner refuses (executeTemplate) must fail here as it fails in a
// Nomad allocation, and the shipped template must use none of them.
func TestTemplateFollowsNomadsRunner(t *testing.T) {
	t.Parallel()
	c := testenv.StartConsul(t)
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "refused.ctmpl")
	writeFile(t, tmpl, []byte(`{{ define "x" }}x{{ end }}{{ executeTemplate "x" }}`))
	out := filepath.Join(dir, "refused.out")
	cmd := exec.Command(testenv.ConsulTemplateBinary(t), "-consul-addr", c.Addr, "-once", "-log-level", "warn",
		"-config", testenv.ConsulTemplateConfig(t, tmpl, out, ""))
	b, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("consul-template rendered a template calling executeTemplate; want it refused as Nomad refuses it:\n%s", b)
	}
	if !strings.Contains(string(b), "function is disabled") {
		t.Errorf("consul-template output: %s; want it to say the function is disabled", b)
	}

	shipped := string(readEmbedded(t, consultemplates.FS, consultemplates.NginxTenants))
	for _, f := range testenv.NomadTemplateFunctionDenylist() {
		if strings.Contains(shipped, f) {
			t.Errorf("the tenants template calls %s, which Nomad's template runner refuses", f)
		}
	}
}
