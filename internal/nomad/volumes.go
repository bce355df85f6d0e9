package nomad

import (
	"context"
	"fmt"

	"github.com/hashicorp/nomad/api"
)

// EnsureHostVolume creates the dynamic host volume name in ns (Nomad 1.10+,
// the built-in "mkdir" plugin) unless it exists. A docker-profile tenant
// keeps its Postgres and Redis data there, so it outlives the jobs.
func (c *Client) EnsureHostVolume(ctx context.Context, ns, name, nodePool string) (bool, error) {
	v, err := c.hostVolume(ctx, ns, name)
	if err != nil || v != nil {
		return false, err
	}
	req := &api.HostVolumeCreateRequest{Volume: &api.HostVolume{
		Namespace: ns, Name: name, PluginID: "mkdir", NodePool: nodePool,
		RequestedCapabilities: []*api.HostVolumeCapability{{
			AttachmentMode: api.HostVolumeAttachmentModeFilesystem,
			AccessMode:     api.HostVolumeAccessModeSingleNodeWriter,
		}},
	}}
	if _, _, err := c.api.HostVolumes().Create(req, c.w(ctx, ns)); err != nil {
		return false, fmt.Errorf("nomad: create host volume %q in %s: %s: %w", name, ns, responseBody(err), err)
	}
	return true, nil
}

// DeleteHostVolume deletes the dynamic host volume name in ns, and with it
// the data. It reports whether there was one.
func (c *Client) DeleteHostVolume(ctx context.Context, ns, name string) (bool, error) {
	v, err := c.hostVolume(ctx, ns, name)
	if err != nil || v == nil {
		return false, err
	}
	if _, _, err := c.api.HostVolumes().Delete(&api.HostVolumeDeleteRequest{ID: v.ID}, c.w(ctx, ns)); err != nil {
		return false, fmt.Errorf("nomad: delete host volume %q in %s: %s: %w", name, ns, responseBody(err), err)
	}
	return true, nil
}

func (c *Client) hostVolume(ctx context.Context, ns, name string) (*api.HostVolumeStub, error) {
	list, _, err := c.api.HostVolumes().List(&api.HostVolumeListRequest{}, c.q(ctx, ns))
	if err != nil {
		return nil, fmt.Errorf("nomad: list host volumes in %s: %s: %w", ns, responseBody(err), err)
	}
	for _, v := range list {
		if v.Namespace == ns && v.Name == name {
			return v, nil
		}
	}
	return nil, nil
}
