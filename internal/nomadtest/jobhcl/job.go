package jobhcl

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/dynblock"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/nomad/api"
	"github.com/zclconf/go-cty/cty"
)

// decodeJob decodes the `job "<name>"` block and applies the normalizations Nomad makes after decoding: the
// label is the job's ID (and its Name unless `name` is set), network ports split into static and dynamic,
// an unnamed (or "default") `identity` block is the task's default identity, and job- or group-level
// `vault` and `secret` blocks apply to the tasks.
func (d *decoder) decodeJob(block *hcl.Block) (*api.Job, hcl.Diagnostics) {
	job := &api.Job{}
	// `dynamic` blocks are expanded wherever a schema asks for blocks (not inside free-form bodies).
	body := dynblock.Expand(wrapFree(block.Body), d.ctx)
	meta, body, diags := d.mapArgument(body, "meta")
	extra, body, ed := body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "vault"}, {Type: "secret", LabelNames: []string{"name"}}, {Type: "task", LabelNames: []string{"name"}},
	}})
	diags = append(diags, ed...)
	var vault *api.Vault
	var secrets []*api.Secret
	var alone []*api.TaskGroup
	for _, b := range extra.Blocks {
		switch b.Type {
		case "vault":
			if vault != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate vault block",
					Detail:   "Only one block of type \"vault\" is allowed.",
					Subject:  b.DefRange.Ptr(),
				})
				continue
			}
			vault = &api.Vault{}
			diags = append(diags, d.decodeBody(b.Body, reflect.ValueOf(vault).Elem())...)
		case "secret":
			s := &api.Secret{}
			diags = append(diags, d.decodeBody(b.Body, reflect.ValueOf(s).Elem())...)
			s.Name = b.Labels[0]
			secrets = append(secrets, s)
		case "task":
			t := &api.Task{}
			diags = append(diags, d.decodeTask(b.Body, t)...)
			t.Name = b.Labels[0]
			alone = append(alone, &api.TaskGroup{Name: &t.Name, Tasks: []*api.Task{t}})
		}
	}
	diags = append(diags, d.decodeBody(body, reflect.ValueOf(job).Elem())...)
	if meta != nil {
		job.Meta = meta
	}
	label := block.Labels[0]
	if job.Name == nil {
		name := label
		job.Name = &name
	}
	if job.ID == nil {
		job.ID = &label
	}
	if job.Periodic != nil && (job.Periodic.Spec != nil || job.Periodic.Specs != nil) {
		job.Periodic.SpecType = ptr("cron")
	}
	normalizeVault(vault)
	job.TaskGroups = append(alone, job.TaskGroups...)
	for _, tg := range job.TaskGroups {
		normalizeNetworks(tg.Networks)
		for _, t := range tg.Tasks {
			if t.Resources != nil {
				normalizeNetworks(t.Resources.Networks)
			}
			normalizeTemplates(t.Templates)
			normalizeVault(t.Vault)
			if t.Vault == nil {
				t.Vault = vault
			}
			t.Secrets = append(t.Secrets, secrets...)
			if len(t.Secrets) == 0 {
				t.Secrets = nil
			}
			normalizeIdentities(t)
		}
	}
	return job, diags
}

// decodeGroup decodes a group: its meta in either form, and group-level vault and secret blocks, which
// apply to each of its tasks (vault to those without their own).
func (d *decoder) decodeGroup(body hcl.Body, tg *api.TaskGroup) hcl.Diagnostics {
	meta, body, diags := d.mapArgument(body, "meta")
	extra, body, ed := body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "vault"}, {Type: "secret", LabelNames: []string{"name"}},
	}})
	diags = append(diags, ed...)
	if diags.HasErrors() {
		return diags
	}
	var vault *api.Vault
	var secrets []*api.Secret
	for _, b := range extra.Blocks {
		switch b.Type {
		case "vault":
			vault = &api.Vault{}
			diags = append(diags, d.decodeBody(b.Body, reflect.ValueOf(vault).Elem())...)
		case "secret":
			s := &api.Secret{}
			diags = append(diags, d.decodeBody(b.Body, reflect.ValueOf(s).Elem())...)
			s.Name = b.Labels[0]
			secrets = append(secrets, s)
		}
	}
	diags = append(diags, d.decodeBody(body, reflect.ValueOf(tg).Elem())...)
	if meta != nil {
		tg.Meta = meta
	}
	for _, t := range tg.Tasks {
		if t.Vault == nil {
			t.Vault = vault
		}
		t.Secrets = append(t.Secrets, secrets...)
	}
	if tg.Scaling != nil && tg.Scaling.Type == "" {
		tg.Scaling.Type = "horizontal"
	}
	return diags
}

// decodeTask decodes a task: env and meta in either form, and `scaling "cpu"`/`scaling "mem"` blocks.
func (d *decoder) decodeTask(body hcl.Body, t *api.Task) hcl.Diagnostics {
	env, body, diags := d.mapArgument(body, "env")
	meta, body, md := d.mapArgument(body, "meta")
	diags = append(diags, md...)
	sc, body, sd := body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "scaling", LabelNames: []string{"name"}}}})
	diags = append(diags, sd...)
	seen := map[string]*hcl.Block{}
	for _, b := range sc.Blocks {
		label := strings.ToLower(b.Labels[0])
		kind := map[string]string{"cpu": "vertical_cpu", "mem": "vertical_mem"}[label]
		if kind == "" {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid scaling policy name",
				Detail:   `scaling policy name must be "cpu" or "mem"`,
				Subject:  b.LabelRanges[0].Ptr(),
			})
			continue
		}
		if prev := seen[label]; prev != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate scaling %q block", label),
				Detail:   fmt.Sprintf("Only one scaling %s block is allowed. Another was defined at %s.", label, prev.DefRange.String()),
				Subject:  b.DefRange.Ptr(),
			})
			continue
		}
		seen[label] = b
		p := &api.ScalingPolicy{}
		diags = append(diags, d.decodeBody(b.Body, reflect.ValueOf(p).Elem())...)
		if p.Type == "" {
			p.Type = kind
		}
		t.ScalingPolicies = append(t.ScalingPolicies, p)
	}
	diags = append(diags, d.decodeBody(body, reflect.ValueOf(t).Elem())...)
	if env != nil {
		t.Env = env
	}
	if meta != nil {
		t.Meta = meta
	}
	return diags
}

// constraintAttrs are the arguments of a constraint block; affinityAttrs those of an affinity block. Each
// shortcut argument (`distinct_hosts = true`, `version = "…"`, …) sets the operator.
var (
	constraintAttrs = map[string]cty.Type{
		"attribute": cty.String, "value": cty.String, "operator": cty.String,
		api.ConstraintDistinctProperty: cty.String, api.ConstraintDistinctHosts: cty.Bool,
		api.ConstraintRegex: cty.String, api.ConstraintVersion: cty.String, api.ConstraintSemver: cty.String,
		api.ConstraintSetContains: cty.String, api.ConstraintSetContainsAll: cty.String,
		api.ConstraintSetContainsAny: cty.String, api.ConstraintAttributeIsSet: cty.String,
		api.ConstraintAttributeIsNotSet: cty.String,
	}
	affinityAttrs = map[string]cty.Type{
		"attribute": cty.String, "value": cty.String, "operator": cty.String, "weight": cty.Number,
		api.ConstraintVersion: cty.String, api.ConstraintSemver: cty.String, api.ConstraintRegex: cty.String,
		api.ConstraintSetContains: cty.String, api.ConstraintSetContainsAll: cty.String,
		api.ConstraintSetContainsAny: cty.String,
	}
)

// decodeSpec decodes a body with a fixed set of typed, optional arguments.
func (d *decoder) decodeSpec(body hcl.Body, attrs map[string]cty.Type) (cty.Value, hcl.Diagnostics) {
	spec := hcldec.ObjectSpec{}
	for name, ty := range attrs {
		spec[name] = &hcldec.AttrSpec{Name: name, Type: ty}
	}
	return hcldec.Decode(body, spec, d.ctx)
}

func stringAttr(v cty.Value, name string) string {
	a := v.GetAttr(name)
	if a.IsNull() || !a.IsKnown() {
		return ""
	}
	return a.AsString()
}

// decodeConstraint decodes a constraint block; the operator defaults to "=".
func (d *decoder) decodeConstraint(body hcl.Body, c *api.Constraint) hcl.Diagnostics {
	v, diags := d.decodeSpec(body, constraintAttrs)
	if len(diags) > 0 {
		return diags
	}
	c.LTarget, c.RTarget, c.Operand = stringAttr(v, "attribute"), stringAttr(v, "value"), stringAttr(v, "operator")
	for _, op := range []string{api.ConstraintVersion, api.ConstraintSemver, api.ConstraintRegex, api.ConstraintSetContains} {
		if s := stringAttr(v, op); s != "" {
			c.Operand, c.RTarget = op, s
		}
	}
	if dh := v.GetAttr(api.ConstraintDistinctHosts); !dh.IsNull() && dh.IsKnown() {
		c.Operand, c.RTarget = api.ConstraintDistinctHosts, fmt.Sprint(dh.True())
	}
	if p := stringAttr(v, api.ConstraintDistinctProperty); p != "" {
		c.Operand, c.LTarget = api.ConstraintDistinctProperty, p
	}
	if c.Operand == "" {
		c.Operand = "="
	}
	return diags
}

// decodeAffinity decodes an affinity block; the operator defaults to "=", and a weight outside int8 wraps
// around as in Nomad.
func (d *decoder) decodeAffinity(body hcl.Body, a *api.Affinity) hcl.Diagnostics {
	v, diags := d.decodeSpec(body, affinityAttrs)
	if len(diags) > 0 {
		return diags
	}
	a.LTarget, a.RTarget, a.Operand = stringAttr(v, "attribute"), stringAttr(v, "value"), stringAttr(v, "operator")
	if w := v.GetAttr("weight"); !w.IsNull() && w.IsKnown() {
		n, _ := w.AsBigFloat().Int64()
		a.Weight = ptr(int8(n))
	}
	for _, op := range []string{api.ConstraintVersion, api.ConstraintSemver, api.ConstraintRegex,
		api.ConstraintSetContainsAny, api.ConstraintSetContainsAll, api.ConstraintSetContains} {
		if s := stringAttr(v, op); s != "" {
			a.Operand, a.RTarget = op, s
		}
	}
	if a.Operand == "" {
		a.Operand = "="
	}
	return diags
}

// normalizeIdentities makes the first identity without a name (or named "default") the task's default
// identity.
func normalizeIdentities(t *api.Task) {
	for i, id := range t.Identities {
		if id.Name == "" || id.Name == "default" {
			t.Identity = id
			t.Identities = append(t.Identities[:i:i], t.Identities[i+1:]...)
			break
		}
	}
	if len(t.Identities) == 0 {
		t.Identities = nil
	}
}

// normalizeVault fills a vault block's defaults as Nomad's parser does.
func normalizeVault(v *api.Vault) {
	if v == nil {
		return
	}
	if v.Env == nil {
		v.Env = ptr(true)
	}
	if v.DisableFile == nil {
		v.DisableFile = ptr(false)
	}
	if v.ChangeMode == nil {
		v.ChangeMode = ptr("restart")
	}
}

// normalizeTemplates fills the template defaults Nomad's parser fills.
func normalizeTemplates(ts []*api.Template) {
	for _, t := range ts {
		if t.ChangeMode == nil {
			t.ChangeMode = ptr("restart")
		}
		if t.Perms == nil {
			t.Perms = ptr("0644")
		}
		if t.Splay == nil {
			t.Splay = ptr(5 * time.Second)
		}
		if t.ErrMissingKey == nil {
			t.ErrMissingKey = ptr(false)
		}
		if cs := t.ChangeScript; cs != nil {
			if cs.Args == nil {
				cs.Args = []string{}
			}
			if cs.Timeout == nil {
				cs.Timeout = ptr(5 * time.Second)
			}
			if cs.FailOnError == nil {
				cs.FailOnError = ptr(false)
			}
			if cs.RunOnFirstRender == nil {
				cs.RunOnFirstRender = ptr(false)
			}
		}
	}
}

// normalizeNetworks moves `port` blocks with a `static` number to ReservedPorts; the others stay dynamic
// (nil when none), as in Nomad's API representation of a network.
func normalizeNetworks(networks []*api.NetworkResource) {
	for _, n := range networks {
		if len(n.DynamicPorts) == 0 {
			continue
		}
		var dynamic, reserved []api.Port
		for _, p := range n.DynamicPorts {
			if p.Value > 0 {
				reserved = append(reserved, p)
			} else {
				dynamic = append(dynamic, p)
			}
		}
		n.DynamicPorts, n.ReservedPorts = dynamic, reserved
	}
}

func ptr[T any](v T) *T { return &v }
