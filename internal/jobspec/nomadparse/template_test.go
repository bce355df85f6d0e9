package nomadparse

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"text/template"

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
		"app/secrets/tenant.env": "\nDATABASE_URL=postgres://v-acme--app:pw-acme--app@10.0.0.7:25432/acme__app?sslmode=disable" +
			"\nREDIS_ADDR=10.0.0.7:26379\nREDIS_USERNAME=v-acme--redis-app\nREDIS_PASSWORD=pw-acme--redis-app\n",
		"worker/secrets/tenant.env": "\nDATABASE_URL=postgres://v-acme--worker:pw-acme--worker@10.0.0.7:25432/acme__app?sslmode=disable" +
			"\nREDIS_ADDR=10.0.0.7:26379\nREDIS_USERNAME=v-acme--redis-worker\nREDIS_PASSWORD=pw-acme--redis-worker\n",
		"migrate/secrets/migrate.env":        "\nDATABASE_URL=postgres://v-acme--migrate:pw-acme--migrate@10.0.0.7:25432/acme__app?sslmode=disable\n",
		"postgres/secrets/postgres_password": "pg-boot\n",
		"redis/secrets/users.acl":            "user default off\nuser acme--admin on #" + redisHash + " ~* &* +@all\n",
	}
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
