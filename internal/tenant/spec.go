package tenant

import "fmt"

// Plan is a tenant's size: it selects the resources of every job.
type Plan string

// The plans. Their sizes live in the project config.
const (
	PlanSmall  Plan = "small"
	PlanMedium Plan = "medium"
	PlanLarge  Plan = "large"
)

// Plans lists every plan, smallest first.
var Plans = []Plan{PlanSmall, PlanMedium, PlanLarge}

// ParsePlan validates s as a plan.
func ParsePlan(s string) (Plan, error) {
	for _, p := range Plans {
		if string(p) == s {
			return p, nil
		}
	}
	return "", &InvalidError{What: "plan", Value: s, Reason: "it is not a known plan", Example: "small, medium or large"}
}

// Profile is a runtime profile: how the jobs run their processes.
type Profile string

// The runtime profiles; both have the same semantics.
const (
	// ProfileDocker runs images with the docker driver (production).
	ProfileDocker Profile = "docker"
	// ProfileExec runs host binaries with raw_exec (one machine, no Docker).
	ProfileExec Profile = "exec"
)

// Profiles lists every profile.
var Profiles = []Profile{ProfileDocker, ProfileExec}

// ParseProfile validates s as a runtime profile.
func ParseProfile(s string) (Profile, error) {
	for _, p := range Profiles {
		if string(p) == s {
			return p, nil
		}
	}
	return "", &InvalidError{What: "profile", Value: s, Reason: "it is not a known profile", Example: "docker or exec"}
}

// Spec is a tenant's desired identity and size: what `up` converges and
// `render` renders. Build one with NewSpec so every field is valid.
type Spec struct {
	ID      ID
	Name    Name
	Host    Host
	Plan    Plan
	Profile Profile
	// App is the build of the tenant app the tenant runs; zero means the
	// project config's (its app image or tenant-app binary).
	App App
}

// App names one build of the tenant app (the app and worker jobs run it).
// A fleet file sets it per tenant; the record keeps it.
type App struct {
	// Version labels the build ("1.4.0"); it is what list shows.
	Version string
	// Artifact is where the build is: an image reference (docker profile)
	// or the absolute path of the tenant-app binary (exec profile). The
	// jobspec values validate it for the tenant's profile.
	Artifact string
}

// SpecInput is the unvalidated input of NewSpec. Empty Name defaults to the
// id, empty Host to <id>.<BaseDomain>.
type SpecInput struct {
	ID         string
	Name       string
	Host       string
	BaseDomain string
	Plan       string
	Profile    string
}

// NewSpec validates in and returns the Spec. The error is an *InvalidError
// for the first invalid field.
func NewSpec(in SpecInput) (Spec, error) {
	id, err := ParseID(in.ID)
	if err != nil {
		return Spec{}, err
	}
	nameIn := in.Name
	if nameIn == "" {
		nameIn = string(id)
	}
	name, err := ParseName(nameIn)
	if err != nil {
		return Spec{}, err
	}
	var host Host
	if in.Host != "" {
		host, err = ParseHost(in.Host)
	} else {
		host, err = DefaultHost(id, in.BaseDomain)
	}
	if err != nil {
		return Spec{}, err
	}
	plan, err := ParsePlan(in.Plan)
	if err != nil {
		return Spec{}, err
	}
	profile, err := ParseProfile(in.Profile)
	if err != nil {
		return Spec{}, err
	}
	return Spec{ID: id, Name: name, Host: host, Plan: plan, Profile: profile}, nil
}

// Names returns the resource names of the spec's tenant.
func (s Spec) Names() Names { return NamesFor(s.ID) }

// String describes the spec for logs; the name is quoted.
func (s Spec) String() string {
	return fmt.Sprintf("%s (%q, %s, %s, %s)", s.ID, s.Name, s.Host, s.Plan, s.Profile)
}
