package nomadparse

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"text/template"

	"github.com/hashicorp/nomad/api"
	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/jobspec"
	"github.com/tenantctl/tenantctl/internal/nomadtest/jobhcl"
	"github.com/tenantctl/tenantctl/internal/tenant"
	"github.com/tenantctl/tenantctl/jobspecs"
)

// fakeSecret mirrors the shape consul-template gives a Vault secret.
type fakeSecret struct {
	Data map[string]any
}

type fakeService struct {
	Address string
	Port    int
}

// TestTemplatesRender executes every template of every job, as Nomad's
// template runner (consul-template, Go text/template) would, with stand-ins
// for the secret, service and sha256Hex functions, and checks what the tasks
// receive: the credential contract with tenant-app and the migration job, the
// Redis ACL file and the Postgres password file.
func TestTemplatesRender(t *testing.T) {
	var paths []string
	funcs := template.FuncMap{
		"secret": func(path string) (*fakeSecret, error) {
			paths = append(paths, path)
			if strings.Contains(path, "/data/") {
				return &fakeSecret{Data: map[string]any{"data": map[string]any{
					"postgres_password": "pg-boot", "redis_password": "redis-boot"}}}, nil
			}
			role := path[strings.LastIndex(path, "/")+1:]
			return &fakeSecret{Data: map[string]any{"username": "v-" + role, "password": "pw-" + role}}, nil
		},
		"service": func(name string) []fakeService {
			return []fakeService{{Address: "10.0.0.7", Port: map[bool]int{true: 25432, false: 26379}[strings.HasSuffix(name, "--postgres")]}}
		},
		"sha256Hex": func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) },
	}
	redisHash := funcs["sha256Hex"].(func(string) string)("redis-boot")
	want := map[string]string{
		"app/secrets/postgres.env":           "\nDATABASE_URL=postgres://v-acme--app:pw-acme--app@10.0.0.7:25432/acme__app?sslmode=disable\n",
		"app/secrets/redis.env":              "\nREDIS_ADDR=10.0.0.7:26379\nREDIS_USERNAME=v-acme--redis-app\nREDIS_PASSWORD=pw-acme--redis-app\n",
		"worker/secrets/postgres.env":        "\nDATABASE_URL=postgres://v-acme--worker:pw-acme--worker@10.0.0.7:25432/acme__app?sslmode=disable\n",
		"worker/secrets/redis.env":           "\nREDIS_ADDR=10.0.0.7:26379\nREDIS_USERNAME=v-acme--redis-worker\nREDIS_PASSWORD=pw-acme--redis-worker\n",
		"migrate/secrets/migrate.env":        "\nDATABASE_URL=postgres://v-acme--migrate:pw-acme--migrate@10.0.0.7:25432/acme__app?sslmode=disable\n",
		"postgres/secrets/postgres_password": "pg-boot\n",
		"redis/secrets/users.acl": "user default off\nuser acme--admin on #" + redisHash + " ~* &* +@all\n" +
			"user acme--aclsave on #" + redisHash + " resetkeys resetchannels -@all +acl|save +ping\n",
		"redis/secrets/aclsave.env": "\nREDISCLI_AUTH=redis-boot\n",
	}
	// Every value the secret stand-in hands out.
	secrets := []string{"pg-boot", "redis-boot", "pw-acme--"}
	for _, profile := range tenant.Profiles {
		jobs, err := jobspec.Render(jobspecs.FS, config.Default(), mustSpec(t, "acme", "ACME", profile))
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, j := range jobs {
			job, err := jobhcl.Parse(j.Source, j.Vars, nil, false)
			if err != nil {
				t.Fatalf("%s: %v", j.SourceFile, err)
			}
			for _, tg := range job.TaskGroups {
				for _, task := range tg.Tasks {
					// The task's environment as Nomad builds it: the env block,
					// then the variables of env templates.
					env, fromTemplates := map[string]string{}, map[string]bool{}
					for k, v := range task.Env {
						env[k] = v
					}
					for _, tpl := range task.Templates {
						dest := deref(tpl.DestPath)
						tmpl, err := template.New(dest).Funcs(funcs).Option("missingkey=error").Parse(deref(tpl.EmbeddedTmpl))
						if err != nil {
							t.Errorf("%s: %s: %v", j.SourceFile, dest, err)
							continue
						}
						var b strings.Builder
						if err := tmpl.Execute(&b, nil); err != nil {
							t.Errorf("%s: %s: %v", j.SourceFile, dest, err)
							continue
						}
						key := j.Name + "/" + dest
						if w, ok := want[key]; ok {
							seen[key] = true
							if b.String() != w {
								t.Errorf("%s: %s renders\n%q\nwant\n%q", j.SourceFile, dest, b.String(), w)
							}
						}
						if deref(tpl.Envvars) {
							for _, line := range strings.Split(b.String(), "\n") {
								if k, v, ok := strings.Cut(line, "="); ok {
									env[k] = v
									fromTemplates[k] = true
								}
							}
						}
						if !strings.HasPrefix(dest, "secrets/") {
							for _, sec := range secrets {
								if strings.Contains(b.String(), sec) {
									t.Errorf("%s: task %s: %s (outside secrets/) holds secret %q", j.SourceFile, task.Name, dest, sec)
								}
							}
						}
					}
					// Secrets must never reach a command line (visible in ps):
					// interpolate argv with the task's environment, env
					// templates included, as the Nomad client would.
					for _, arg := range argv(task) {
						for k, v := range env {
							arg = strings.ReplaceAll(arg, "${"+k+"}", v)
						}
						for _, sec := range secrets {
							if strings.Contains(arg, sec) {
								t.Errorf("%s: task %s: argv %q holds secret %q", j.SourceFile, task.Name, arg, sec)
							}
						}
						// A shell command that expands a templated variable
						// would put its value on a child's command line.
						for k := range fromTemplates {
							if strings.Contains(arg, "$"+k) || strings.Contains(arg, "${"+k) {
								t.Errorf("%s: task %s: argv %q expands %s, which a template sets", j.SourceFile, task.Name, arg, k)
							}
						}
					}
				}
			}
		}
		for key := range want {
			if !seen[key] {
				t.Errorf("%s: no template %s", profile, key)
			}
		}
	}
	for _, p := range paths {
		if !strings.HasPrefix(p, "database/creds/acme--") && p != "tenantctl/data/tenants/acme/bootstrap" {
			t.Errorf("a template reads Vault path %q; want only the tenant's creds and bootstrap secret", p)
		}
	}
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// argv returns a task's command and args as the jobspec gives them (before
// runtime interpolation).
func argv(task *api.Task) []string {
	var out []string
	if c, ok := task.Config["command"].(string); ok {
		out = append(out, c)
	}
	switch args := task.Config["args"].(type) {
	case []any:
		for _, a := range args {
			out = append(out, a.(string))
		}
	case []string:
		out = append(out, args...)
	}
	return out
}
