// Package fleet is tenantctl's view of many tenants at once: the fleet file
// (tenants.hcl) that declares them, and apply, which converges them with the
// same steps as `up`, in waves (canaries first, then the rest in parallel),
// halting when too many fail.
package fleet

import (
	"errors"
	"fmt"
	"os"
	"regexp"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// File is a validated fleet file: every tenant's spec, in file order.
type File struct {
	// Path is the file the fleet was read from.
	Path string
	// Tenants are the tenants in the order the file declares them; apply's
	// waves follow this order.
	Tenants []tenant.Spec
}

// IDs returns the tenant ids in file order.
func (f *File) IDs() []tenant.ID {
	out := make([]tenant.ID, len(f.Tenants))
	for i, s := range f.Tenants {
		out[i] = s.ID
	}
	return out
}

// Has reports whether the file declares tenant id.
func (f *File) Has(id string) bool {
	for _, s := range f.Tenants {
		if s.ID.String() == id {
			return true
		}
	}
	return false
}

// Spec returns the spec of tenant id, if the file declares it.
func (f *File) Spec(id string) (tenant.Spec, bool) {
	for _, s := range f.Tenants {
		if s.ID.String() == id {
			return s, true
		}
	}
	return tenant.Spec{}, false
}

// fileBody is tenants.hcl as gohcl decodes it.
type fileBody struct {
	Defaults *defaultsBlock `hcl:"defaults,block"`
	Apps     []appBlock     `hcl:"app,block"`
	Tenants  []tenantBlock  `hcl:"tenant,block"`
}

// defaultsBlock holds what every tenant gets unless its block says otherwise.
type defaultsBlock struct {
	Plan       string `hcl:"plan,optional"`
	Profile    string `hcl:"profile,optional"`
	AppVersion string `hcl:"app_version,optional"`
}

// appBlock declares one build of the tenant app: `app "1.4.0" { image = …,
// binary = … }`; tenants pick one by version.
type appBlock struct {
	Version string `hcl:"version,label"`
	Image   string `hcl:"image,optional"`
	Binary  string `hcl:"binary,optional"`
}

type tenantBlock struct {
	ID         string `hcl:"id,label"`
	Name       string `hcl:"name,optional"`
	Host       string `hcl:"host,optional"`
	Plan       string `hcl:"plan,optional"`
	Profile    string `hcl:"profile,optional"`
	AppVersion string `hcl:"app_version,optional"`
}

var versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)

// Load reads and validates the fleet file at path; cfg supplies the base
// domain (default hosts) and the default profile.
func Load(path string, cfg config.Config) (*File, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("fleet: read %s: %w", path, err)
	}
	return Parse(src, path, cfg)
}

// Parse validates src, the text of a fleet file named filename. Every problem
// is a *config.Error naming the file, line and setting.
func Parse(src []byte, filename string, cfg config.Config) (*File, error) {
	hf, err := config.ParseHCL(src, filename)
	if err != nil {
		return nil, err
	}
	fb := fileBody{Defaults: &defaultsBlock{Plan: string(tenant.PlanSmall), Profile: string(cfg.Profile)}}
	if err := hf.Decode(hf.Body, "", &fb); err != nil {
		return nil, err
	}
	f, err := build(hf, fb, cfg)
	var ce *config.Error
	if errors.As(err, &ce) {
		hf.Locate(ce)
	}
	return f, err
}

func build(hf *config.HCLFile, fb fileBody, cfg config.Config) (*File, error) {
	d := fb.Defaults
	if _, err := tenant.ParsePlan(d.Plan); err != nil {
		return nil, &config.Error{Field: "defaults.plan", Value: d.Plan, Reason: "unknown plan", Example: `plan = "small"`}
	}
	if _, err := tenant.ParseProfile(d.Profile); err != nil {
		return nil, &config.Error{Field: "defaults.profile", Value: d.Profile, Reason: "unknown profile", Example: `profile = "docker"`}
	}
	apps := map[string]appBlock{}
	for _, a := range fb.Apps {
		field := "app." + a.Version
		line := hf.Pos[field].Line
		if !versionRE.MatchString(a.Version) {
			return nil, &config.Error{Field: "app", Line: line, Value: a.Version, Reason: "use 1–64 letters, digits and . _ + -",
				Example: `app "1.4.0" { image = "registry.example.com/tenant-app:1.4.0" }`}
		}
		if _, dup := apps[a.Version]; dup {
			return nil, &config.Error{Field: field, Line: line, Reason: "the app version is declared twice", Example: "one app block per version"}
		}
		if a.Image == "" && a.Binary == "" {
			return nil, &config.Error{Field: field, Line: line, Reason: "it needs an image (docker profile) or a binary (exec profile)",
				Example: `app "1.4.0" { binary = "/opt/tenant-app/1.4.0/tenant-app" }`}
		}
		if a.Image != "" {
			if err := config.CheckImage(a.Image); err != nil {
				return nil, &config.Error{Field: field + ".image", Value: a.Image, Reason: err.Error(), Example: `image = "registry.example.com/tenant-app:1.4.0"`}
			}
		}
		if a.Binary != "" {
			if err := config.CheckPath(a.Binary); err != nil {
				return nil, &config.Error{Field: field + ".binary", Value: a.Binary, Reason: err.Error(), Example: `binary = "/opt/tenant-app/1.4.0/tenant-app"`}
			}
		}
		apps[a.Version] = a
	}
	if d.AppVersion != "" {
		if _, ok := apps[d.AppVersion]; !ok {
			return nil, &config.Error{Field: "defaults.app_version", Value: d.AppVersion, Reason: "no app block declares this version",
				Example: fmt.Sprintf("app %q { image = \"…\" }", d.AppVersion)}
		}
	}
	f := &File{Path: hf.Name}
	ids := map[tenant.ID]bool{}
	hosts := map[tenant.Host]string{}
	for _, tb := range fb.Tenants {
		prefix := "tenant." + tb.ID
		in := tenant.SpecInput{ID: tb.ID, Name: tb.Name, Host: tb.Host, BaseDomain: cfg.BaseDomain, Plan: or(tb.Plan, d.Plan), Profile: or(tb.Profile, d.Profile)}
		spec, err := tenant.NewSpec(in)
		if err != nil {
			var ie *tenant.InvalidError
			if errors.As(err, &ie) {
				field := prefix + "." + specField(ie.What)
				if _, ok := hf.Pos[field]; !ok {
					field = prefix
				}
				return nil, &config.Error{Field: field, Value: ie.Value, Reason: ie.What + ": " + ie.Reason, Example: ie.Example}
			}
			return nil, &config.Error{Field: prefix, Reason: err.Error(), Example: `tenant "acme" { name = "ACME Corporation" }`}
		}
		if ids[spec.ID] {
			return nil, &config.Error{Field: prefix, Line: hf.Pos[prefix].Line, Reason: "the tenant is declared twice", Example: "one tenant block per id"}
		}
		ids[spec.ID] = true
		if other, ok := hosts[spec.Host]; ok {
			return nil, &config.Error{Field: prefix, Value: spec.Host.String(), Reason: "tenant " + other + " has the same host",
				Example: `host = "` + tb.ID + `.example.com"`}
		}
		hosts[spec.Host] = tb.ID
		if v := or(tb.AppVersion, d.AppVersion); v != "" {
			field := prefix + ".app_version"
			if tb.AppVersion == "" {
				field = "defaults.app_version"
			}
			a, ok := apps[v]
			if !ok {
				return nil, &config.Error{Field: field, Value: v, Reason: "no app block declares this version",
					Example: fmt.Sprintf("app %q { image = \"…\" }", v)}
			}
			artifact := a.Image
			if spec.Profile == tenant.ProfileExec {
				artifact = a.Binary
			}
			if artifact == "" {
				return nil, &config.Error{Field: field, Value: v, Reason: fmt.Sprintf("app %q has no %s for the %s profile", v, artifactWord(spec.Profile), spec.Profile),
					Example: fmt.Sprintf("app %q { %s = \"…\" }", v, artifactWord(spec.Profile))}
			}
			spec.App = tenant.App{Version: v, Artifact: artifact}
		}
		f.Tenants = append(f.Tenants, spec)
	}
	if len(f.Tenants) == 0 {
		return nil, &config.Error{Field: "tenant", Reason: "the file declares no tenant", Example: `tenant "acme" { name = "ACME Corporation" }`}
	}
	return f, nil
}

func artifactWord(p tenant.Profile) string {
	if p == tenant.ProfileExec {
		return "binary"
	}
	return "image"
}

// specField is the fleet-file setting an invalid spec field comes from.
func specField(what string) string {
	switch what {
	case "display name":
		return "name"
	case "host", "hostname":
		return "host"
	case "plan":
		return "plan"
	case "profile":
		return "profile"
	}
	return "id"
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
