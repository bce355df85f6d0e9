package fleet_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/fleet"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

const sample = `# two tenants on two app versions
defaults {
  plan        = "small"
  profile     = "exec"
  app_version = "1.4.0"
}

app "1.4.0" {
  image  = "registry.example.com/tenant-app:1.4.0"
  binary = "/opt/tenant-app/1.4.0/tenant-app"
}

app "1.5.0" {
  binary = "/opt/tenant-app/1.5.0/tenant-app"
}

tenant "acme" {
  name = "ACME Corporation"
  plan = "medium"
}

tenant "acme-corp" {
  host        = "corp.example.com"
  app_version = "1.5.0"
}

tenant "globex" {
  profile = "docker"
}
`

func TestParseFleetFile(t *testing.T) {
	cfg := config.Default()
	f, err := fleet.Parse([]byte(sample), "tenants.hcl", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(f.Tenants); got != 3 {
		t.Fatalf("got %d tenants; want 3", got)
	}
	acme, corp, globex := f.Tenants[0], f.Tenants[1], f.Tenants[2]
	if acme.ID != "acme" || acme.Name != "ACME Corporation" || acme.Plan != tenant.PlanMedium || acme.Profile != tenant.ProfileExec ||
		acme.Host.String() != "acme."+cfg.BaseDomain || acme.App != (tenant.App{Version: "1.4.0", Artifact: "/opt/tenant-app/1.4.0/tenant-app"}) {
		t.Errorf("got acme %+v; want the file's name and plan, the defaults' profile and app, the default host", acme)
	}
	if corp.Host != "corp.example.com" || corp.Plan != tenant.PlanSmall || corp.App.Version != "1.5.0" || corp.App.Artifact != "/opt/tenant-app/1.5.0/tenant-app" {
		t.Errorf("got acme-corp %+v; want its host and app 1.5.0's binary", corp)
	}
	if globex.Profile != tenant.ProfileDocker || globex.App.Artifact != "registry.example.com/tenant-app:1.4.0" {
		t.Errorf("got globex %+v; want the docker profile and app 1.4.0's image", globex)
	}
	if !f.Has("acme-corp") || f.Has("acme-c") {
		t.Errorf("Has: got wrong membership")
	}
}

func TestParseFleetFileWithoutApps(t *testing.T) {
	f, err := fleet.Parse([]byte("tenant \"one\" {}\n"), "t.hcl", config.Default())
	if err != nil {
		t.Fatal(err)
	}
	if s := f.Tenants[0]; s.App != (tenant.App{}) || s.Profile != config.Default().Profile || s.Plan != tenant.PlanSmall {
		t.Errorf("got %+v; want the config's app, profile and the small plan", s)
	}
}

// TestFleetFileErrors: every bad value is a *config.Error naming the file,
// the line and the setting, and nothing else is returned.
func TestFleetFileErrors(t *testing.T) {
	cases := []struct {
		src, field string
		line       int
	}{
		{"tenant \"acme\" {\n  plan = \"huge\"\n}\n", "tenant.acme.plan", 2},
		{"tenant \"acme\" {\n  name = \"\"\n}\ntenant \"Bad_Id\" {}\n", "tenant.Bad_Id", 4},
		{"tenant \"ta\" {}\n\ntenant \"ta\" {}\n", "tenant.ta", 3},
		{"tenant \"ta\" {\n  host = \"x.example.com\"\n}\ntenant \"tb\" {\n  host = \"x.example.com\"\n}\n", "tenant.tb", 4},
		{"tenant \"ta\" {\n  app_version = \"9\"\n}\n", "tenant.ta.app_version", 2},
		{"defaults {\n  app_version = \"9\"\n}\ntenant \"ta\" {}\n", "defaults.app_version", 2},
		{"app \"1\" {\n  image = \"x:1\"\n}\ntenant \"ta\" {\n  profile = \"exec\"\n  app_version = \"1\"\n}\n", "tenant.ta.app_version", 6},
		{"app \"1\" {\n  binary = \"relative/app\"\n}\ntenant \"ta\" {}\n", "app.1.binary", 2},
		{"app \"1\" {\n  image = \"x:1 ; rm -rf /\"\n}\ntenant \"ta\" {}\n", "app.1.image", 2},
		{"app \"1\" {}\ntenant \"ta\" {}\n", "app.1", 1},
		{"app \"bad version\" {\n image = \"x:1\"\n}\ntenant \"ta\" {}\n", "app", 1},
		{"tenant \"ta\" {\n  plan = 3\n}\n", "tenant.ta.plan", 2},
		{"tenant \"ta\" {\n  replicas = 3\n}\n", "tenant.ta.replicas", 2},
		{"tenant \"ta\" {\n  name = var.x\n}\n", "tenant.ta.name", 2},
		{"tenant \"ta\" {}\nzone \"eu\" {}\n", "zone", 2},
		{"defaults {\n  profile = \"podman\"\n}\ntenant \"ta\" {}\n", "defaults.profile", 2},
		{"defaults {}\n", "tenant", 0},
		{"tenant \"ta\" {\n", "(syntax)", 1},
	}
	for _, c := range cases {
		f, err := fleet.Parse([]byte(c.src), "tenants.hcl", config.Default())
		var ce *config.Error
		if !errors.As(err, &ce) || f != nil {
			t.Errorf("Parse(%q): got %v, %v; want only a *config.Error", c.src, f, err)
			continue
		}
		if ce.Field != c.field || ce.Line != c.line || ce.File != "tenants.hcl" || ce.Example == "" {
			t.Errorf("Parse(%q): got %s at %s:%d (example %q); want %s at tenants.hcl:%d with an example", c.src, ce.Field, ce.File, ce.Line, ce.Example, c.field, c.line)
		}
		if c.line > 0 && !strings.Contains(err.Error(), "tenants.hcl:") {
			t.Errorf("Parse(%q): error %q does not name the file and line", c.src, err)
		}
	}
}
