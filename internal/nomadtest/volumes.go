package nomadtest

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/nomad/api"
)

// createHostVolume answers PUT /v1/volume/host/create (and /register): a
// minimal dynamic host volume, ready at once, whose host path is a temporary
// directory. Creating a volume with the name of an existing one in the same
// namespace updates it, as Nomad does.
func (s *Server) createHostVolume(q *request) error {
	var req api.HostVolumeCreateRequest
	if err := q.decode(&req); err != nil {
		return err
	}
	v := req.Volume
	if v == nil || v.Name == "" {
		return errCode(http.StatusBadRequest, "missing volume name")
	}
	if v.Namespace == "" {
		v.Namespace = q.namespace()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.namespaceExists(v.Namespace) {
		return errCode(http.StatusInternalServerError, "volume validation failed: no such namespace %q", v.Namespace)
	}
	idx := s.st.bump(tblVolumes)
	now := time.Now().UnixNano()
	var existing *api.HostVolume
	for _, o := range s.st.volumes {
		if o.Namespace == v.Namespace && (o.Name == v.Name || (v.ID != "" && o.ID == v.ID)) {
			existing = o
		}
	}
	if existing != nil {
		v.ID, v.CreateIndex, v.CreateTime, v.HostPath = existing.ID, existing.CreateIndex, existing.CreateTime, existing.HostPath
	} else {
		v.ID = newUUID()
		v.CreateIndex, v.CreateTime = idx, now
		dir, err := os.MkdirTemp("", "nomadtest-volume-")
		if err != nil {
			return fmt.Errorf("nomadtest: host volume dir: %w", err)
		}
		v.HostPath = filepath.Join(dir, v.ID)
		if err := os.MkdirAll(v.HostPath, 0o755); err != nil {
			return fmt.Errorf("nomadtest: host volume dir: %w", err)
		}
	}
	v.NodeID = nodeID
	if v.NodePool == "" {
		v.NodePool = "default"
	}
	if v.CapacityBytes == 0 {
		v.CapacityBytes = v.RequestedCapacityMinBytes
	}
	// A new volume is pending in the answer, as with Nomad, and ready as
	// soon as the (simulated) client has created it.
	v.State = api.HostVolumeStatePending
	v.ModifyIndex, v.ModifyTime = idx, now
	s.st.volumes[v.ID] = v
	c := *v
	s.goRun(func() {
		if !sleep(s.ctx, s.delay) {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if cur := s.st.volumes[c.ID]; cur != nil && cur.State == api.HostVolumeStatePending {
			cur.State = api.HostVolumeStateReady
			cur.ModifyIndex = s.st.bump(tblVolumes)
		}
	})
	return q.reply(idx, api.HostVolumeCreateResponse{Volume: &c})
}

func (s *Server) getHostVolume(q *request) error {
	id := q.param("id")
	return s.query(q, []string{tblVolumes}, func(st *state) (any, error) {
		v := st.volumes[id]
		if v == nil {
			return nil, errCode(http.StatusNotFound, "volume not found")
		}
		c := *v
		return &c, nil
	})
}

func (s *Server) listVolumes(q *request) error {
	if t := q.query.Get("type"); t != "host" {
		return errCode(http.StatusBadRequest, "unsupported volume type %q (the double knows only host)", t)
	}
	ns, prefix := q.namespace(), q.query.Get("prefix")
	return s.query(q, []string{tblVolumes}, func(st *state) (any, error) {
		out := []*api.HostVolumeStub{}
		for _, v := range st.volumes {
			if (ns != "*" && v.Namespace != ns) || !strings.HasPrefix(v.ID, prefix) {
				continue
			}
			out = append(out, &api.HostVolumeStub{
				Namespace: v.Namespace, ID: v.ID, Name: v.Name, PluginID: v.PluginID,
				NodePool: v.NodePool, NodeID: v.NodeID, CapacityBytes: v.CapacityBytes,
				State: v.State, CreateIndex: v.CreateIndex, CreateTime: v.CreateTime,
				ModifyIndex: v.ModifyIndex, ModifyTime: v.ModifyTime,
			})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out, nil
	})
}

func (s *Server) deleteHostVolume(q *request) error {
	id := q.param("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.st.volumes[id]
	if v == nil {
		return errCode(http.StatusInternalServerError, "no such volume: %s", id)
	}
	delete(s.st.volumes, id)
	os.RemoveAll(filepath.Dir(v.HostPath))
	idx := s.st.bump(tblVolumes)
	return q.reply(idx, nil)
}
