package nomadtest

import (
	"net/http"
	"time"

	"github.com/hashicorp/nomad/api"
)

// node describes the double's single simulated client: ready, eligible,
// with the raw_exec, exec and docker drivers reported healthy (the double runs
// none of them; hooks stand in for drivers).
func (s *Server) node() *api.Node {
	drivers := map[string]*api.DriverInfo{}
	attrs := map[string]string{
		"nomad.version":             s.version,
		"unique.network.ip-address": "127.0.0.1",
		"kernel.name":               "linux",
		"cpu.arch":                  "amd64",
	}
	for _, d := range []string{"raw_exec", "exec", "docker"} {
		drivers[d] = &api.DriverInfo{Detected: true, Healthy: true, HealthDescription: "Healthy", UpdateTime: time.Now()}
		attrs["driver."+d] = "1"
	}
	host, _ := s.serverAddr()
	return &api.Node{
		ID:                    nodeID,
		Datacenter:            s.dc,
		Name:                  "nomadtest",
		HTTPAddr:              s.hs.Listener.Addr().String(),
		Attributes:            attrs,
		NodePool:              "default",
		SchedulingEligibility: "eligible",
		Status:                "ready",
		Drivers:               drivers,
		Meta:                  map[string]string{"host": host},
		CreateIndex:           1,
		ModifyIndex:           1,
	}
}

func (s *Server) listNodes(q *request) error {
	n := s.node()
	return s.query(q, nil, func(*state) (any, error) {
		return []*api.NodeListStub{{
			Address: "127.0.0.1", ID: n.ID, Datacenter: n.Datacenter, Name: n.Name, NodePool: n.NodePool,
			Version: s.version, SchedulingEligibility: n.SchedulingEligibility, Status: n.Status,
			Drivers: n.Drivers, CreateIndex: n.CreateIndex, ModifyIndex: n.ModifyIndex,
		}}, nil
	})
}

func (s *Server) getNode(q *request) error {
	if q.param("id") != nodeID {
		return errCode(http.StatusNotFound, "node not found")
	}
	n := s.node()
	return s.query(q, nil, func(*state) (any, error) { return n, nil })
}
