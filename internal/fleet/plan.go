package fleet

import (
	"context"
	"fmt"
	"sort"

	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// Action is what apply would do to a tenant.
type Action string

// The actions of a fleet plan.
const (
	ActionCreate    Action = "create"
	ActionChange    Action = "change"
	ActionUntouched Action = "untouched"
	// ActionOrphaned: on the cluster, not in the file; apply reports it and
	// removes it only with --prune.
	ActionOrphaned Action = "orphaned"
)

// JobChange is one job that apply would change.
type JobChange struct {
	Job  string `json:"job"`
	Diff string `json:"diff"` // Added, Edited, Deleted
	// Update is how its allocations change: "create", "in-place",
	// "destructive", "in-place+destructive", or "none" when only the job
	// record changes.
	Update      string `json:"update"`
	Place       uint64 `json:"place"`
	InPlace     uint64 `json:"in_place"`
	Destructive uint64 `json:"destructive"`
	Stop        uint64 `json:"stop"`
}

// TenantPlan is what apply would do to one tenant.
type TenantPlan struct {
	Tenant     string      `json:"tenant"`
	Action     Action      `json:"action"`
	AppVersion string      `json:"app_version,omitempty"`
	Jobs       []JobChange `json:"jobs"`
	// Reason says why a tenant changes when no job does (its record, its
	// migrations, its app version label).
	Reason string `json:"reason,omitempty"`
}

// PlanResult is the fleet's plan, tenants in file order, then orphans.
type PlanResult struct {
	File    string       `json:"file"`
	Tenants []TenantPlan `json:"tenants"`
}

// Changed reports whether apply would change any tenant of the file
// (orphans are reported, not counted: apply keeps them unless --prune).
func (p PlanResult) Changed() bool {
	for _, t := range p.Tenants {
		if t.Action == ActionCreate || t.Action == ActionChange {
			return true
		}
	}
	return false
}

// Plan asks Nomad for the diff of every job of every tenant of f and compares
// each tenant's record with what this tenantctl would record. It writes
// nothing.
func Plan(ctx context.Context, env provision.Env, f *File) (PlanResult, error) {
	out := PlanResult{File: f.Path, Tenants: []TenantPlan{}}
	recs, err := provision.List(ctx, env)
	if err != nil {
		return out, exit.Because(err, exit.Unreachable, consul.CauseUnreachable)
	}
	byID := map[string]tenant.Record{}
	for _, r := range recs {
		byID[r.Tenant] = r
	}
	for _, spec := range f.Tenants {
		tp := TenantPlan{Tenant: spec.ID.String(), AppVersion: spec.App.Version, Jobs: []JobChange{}}
		p, err := provision.Plan(ctx, env, spec)
		if err != nil {
			return out, fmt.Errorf("plan tenant %s: %w", spec.ID, err)
		}
		for _, job := range sortedKeys(p.Jobs) {
			j := p.Jobs[job]
			if !j.Changed() {
				continue
			}
			t := j.Totals()
			tp.Jobs = append(tp.Jobs, JobChange{Job: job, Diff: j.DiffType, Update: updateKind(t.Place, t.InPlace, t.Destructive),
				Place: t.Place, InPlace: t.InPlace, Destructive: t.Destructive, Stop: t.Stop})
		}
		rec, known := byID[spec.ID.String()]
		switch {
		case !known:
			tp.Action = ActionCreate
		case len(tp.Jobs) > 0:
			tp.Action = ActionChange
		default:
			digest, err := provision.Digest(env, spec)
			if err != nil {
				return out, err
			}
			switch {
			case rec.Status != tenant.StatusReady:
				tp.Action, tp.Reason = ActionChange, fmt.Sprintf("its last apply ended %s at step %s", rec.Status, rec.LastStep)
			case rec.SpecVersion != digest:
				tp.Action, tp.Reason = ActionChange, "its desired state changed (migrations or variables) since the last apply"
			case rec.AppVersion != spec.App.Version:
				tp.Action, tp.Reason = ActionChange, fmt.Sprintf("app version %q → %q", rec.AppVersion, spec.App.Version)
			default:
				tp.Action = ActionUntouched
			}
		}
		out.Tenants = append(out.Tenants, tp)
	}
	for _, r := range recs {
		if !f.Has(r.Tenant) {
			out.Tenants = append(out.Tenants, TenantPlan{Tenant: r.Tenant, Action: ActionOrphaned, AppVersion: r.AppVersion, Jobs: []JobChange{},
				Reason: "on the cluster, not in the file; kept unless apply --prune"})
		}
	}
	return out, nil
}

func updateKind(place, inPlace, destructive uint64) string {
	switch {
	case inPlace > 0 && destructive > 0:
		return "in-place+destructive"
	case destructive > 0:
		return "destructive"
	case inPlace > 0:
		return "in-place"
	case place > 0:
		return "create"
	}
	return "none"
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
