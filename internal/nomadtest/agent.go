package nomadtest

import (
	"net"
	"net/http"
	"strconv"

	"github.com/hashicorp/nomad/api"
)

func (s *Server) serverAddr() (string, int) {
	host, port, err := net.SplitHostPort(s.hs.Listener.Addr().String())
	if err != nil {
		return "127.0.0.1", 4647
	}
	p, _ := strconv.Atoi(port)
	return host, p
}

func (s *Server) getLeader(q *request) error {
	host, _ := s.serverAddr()
	return q.reply(s.Index(), net.JoinHostPort(host, "4647"))
}

func (s *Server) getPeers(q *request) error {
	host, _ := s.serverAddr()
	return q.reply(s.Index(), []string{net.JoinHostPort(host, "4647")})
}

func (s *Server) getRegions(q *request) error {
	return q.reply(s.Index(), []string{s.region})
}

func (s *Server) getAgentSelf(q *request) error {
	host, port := s.serverAddr()
	self := api.AgentSelf{
		Config: map[string]any{
			"Region":     s.region,
			"Datacenter": s.dc,
			"NodeName":   "nomadtest",
			"Version": map[string]any{
				"Version":           s.version,
				"VersionPrerelease": "",
				"VersionMetadata":   "",
				"Revision":          "nomadtest",
			},
			"ACL": map[string]any{"Enabled": s.token != ""},
		},
		Member: api.AgentMember{
			Name:   "nomadtest." + s.region,
			Addr:   host,
			Port:   uint16(port),
			Status: "alive",
			Tags: map[string]string{
				"build":  s.version,
				"region": s.region,
				"dc":     s.dc,
				"role":   "nomad",
			},
		},
		Stats: map[string]map[string]string{"nomad": {"leader": "true", "server": "true"}},
	}
	return q.reply(s.Index(), self)
}

func (s *Server) getJWKS(q *request) error {
	signer, err := s.Signer()
	if err != nil {
		return err
	}
	q.w.Header().Set("Content-Type", "application/json")
	q.w.WriteHeader(http.StatusOK)
	_, err = q.w.Write(signer.JWKS())
	return err
}
