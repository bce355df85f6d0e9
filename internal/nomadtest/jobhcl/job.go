package jobhcl

import (
	"reflect"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/dynblock"
	"github.com/hashicorp/nomad/api"
)

// decodeJob decodes the `job "<name>"` block and applies the normalizations Nomad makes after decoding: the
// label is the job's ID (and its Name unless `name` is set), network ports split into static and dynamic,
// and an unnamed `identity` block is the task's default identity.
func (d *decoder) decodeJob(block *hcl.Block) (*api.Job, hcl.Diagnostics) {
	job := &api.Job{}
	// `dynamic` blocks anywhere in the job are expanded as the body is decoded.
	body := dynblock.Expand(block.Body, d.ctx)
	diags := d.decodeBody(body, reflect.ValueOf(job).Elem())
	label := block.Labels[0]
	if job.ID == nil {
		job.ID = &label
	}
	if job.Name == nil {
		name := label
		job.Name = &name
	}
	for _, tg := range job.TaskGroups {
		normalizeNetworks(tg.Networks)
		for _, t := range tg.Tasks {
			normalizeTask(t)
		}
	}
	return job, diags
}

// normalizeTask applies the task-level normalizations.
func normalizeTask(t *api.Task) {
	if t.Resources != nil {
		normalizeNetworks(t.Resources.Networks)
	}
	// An identity block without a name configures the task's default workload identity.
	kept := t.Identities[:0]
	for _, id := range t.Identities {
		if id.Name == "" && t.Identity == nil {
			t.Identity = id
			continue
		}
		kept = append(kept, id)
	}
	t.Identities = kept
	if len(t.Identities) == 0 {
		t.Identities = nil
	}
}

// normalizeNetworks moves `port` blocks with a `static` number to ReservedPorts; the others are dynamic, as
// in Nomad's API representation of a network.
func normalizeNetworks(networks []*api.NetworkResource) {
	for _, n := range networks {
		var dynamic []api.Port
		for _, p := range n.DynamicPorts {
			if p.Value > 0 {
				n.ReservedPorts = append(n.ReservedPorts, p)
			} else {
				dynamic = append(dynamic, p)
			}
		}
		n.DynamicPorts = dynamic
	}
}
