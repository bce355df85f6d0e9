package nomadtest

import (
	"fmt"
	"net"
	"strconv"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/hashicorp/nomad/api"
)

// WithConsul makes the server register each running allocation's services
// (group and task services with provider "consul") in the Consul agent at
// addr ("127.0.0.1:8500"), with their tags, the address and port the task
// serves on, and their http/tcp checks, and deregister them when the
// allocation stops, as Nomad's Consul integration does. Service IDs follow
// Nomad's form "_nomad-task-<alloc>-<task>-<service>-<port label>" (group
// services use "group-<group>" as the task part). It returns s.
func (s *Server) WithConsul(addr string) *Server {
	cfg := consulapi.DefaultConfig()
	cfg.Address = addr
	c, err := consulapi.NewClient(cfg)
	if err != nil {
		s.tb.Fatalf("nomadtest: consul client: %v", err)
	}
	s.mu.Lock()
	s.consul = c
	s.mu.Unlock()
	return s
}

// serviceReg is one Consul registration of an allocation.
type serviceReg struct {
	owner string // task name, or "group-<group>"
	task  string // task whose hook reports the address
	svc   *api.Service
}

// registerServices registers a running allocation's services in Consul.
func (s *Server) registerServices(a *allocEntry) {
	s.mu.Lock()
	c := s.consul
	if c == nil || a.released {
		s.mu.Unlock()
		return
	}
	al := a.alloc
	tg := groupOf(al.Job, al.TaskGroup)
	var regs []serviceReg
	for _, svc := range tg.Services {
		task := svc.TaskName
		if task == "" && len(tg.Tasks) > 0 {
			task = tg.Tasks[0].Name
		}
		regs = append(regs, serviceReg{owner: "group-" + al.TaskGroup, task: task, svc: svc})
	}
	for _, t := range tg.Tasks {
		for _, svc := range t.Services {
			regs = append(regs, serviceReg{owner: t.Name, task: t.Name, svc: svc})
		}
	}
	var out []*consulapi.AgentServiceRegistration
	for _, r := range regs {
		if r.svc.Provider != "" && r.svc.Provider != "consul" {
			continue
		}
		host, port := "127.0.0.1", 0
		run := a.runs[r.task]
		if run != nil && run.Address != "" {
			host = run.Address
		}
		port = s.resolvePort(a, r.svc.PortLabel, run)
		out = append(out, serviceRegistration(al, r, host, port, s.checkFloor, func(label string) int { return s.resolvePort(a, label, run) }))
	}
	s.mu.Unlock()

	var ids []string
	for _, reg := range out {
		if err := c.Agent().ServiceRegister(reg); err != nil {
			s.tb.Logf("nomadtest: consul: register service %q: %v", reg.Name, err)
			continue
		}
		ids = append(ids, reg.ID)
	}
	s.mu.Lock()
	released := a.released
	if !released {
		a.services = append(a.services, ids...)
	}
	s.mu.Unlock()
	if released {
		s.deregisterServices(ids)
	}
}

// resolvePort turns a service's port (a group port label or a number) into
// a port number; callers hold s.mu.
func (s *Server) resolvePort(a *allocEntry, label string, run *TaskRun) int {
	if p, ok := a.ports[label]; ok {
		return p
	}
	if n, err := strconv.Atoi(label); err == nil {
		return n
	}
	if run != nil {
		return run.Port
	}
	return 0
}

func serviceRegistration(al *api.Allocation, r serviceReg, host string, port int, floor time.Duration, portOf func(string) int) *consulapi.AgentServiceRegistration {
	svc := r.svc
	reg := &consulapi.AgentServiceRegistration{
		ID:      fmt.Sprintf("_nomad-task-%s-%s-%s-%s", al.ID, r.owner, svc.Name, svc.PortLabel),
		Name:    svc.Name,
		Tags:    append([]string(nil), svc.Tags...),
		Address: host,
		Port:    port,
		Meta:    map[string]string{"external-source": "nomad"},
	}
	for k, v := range svc.Meta {
		reg.Meta[k] = v
	}
	for i, chk := range svc.Checks {
		cp := port
		if chk.PortLabel != "" {
			cp = portOf(chk.PortLabel)
		}
		addr := net.JoinHostPort(host, strconv.Itoa(cp))
		name := chk.Name
		if name == "" {
			name = fmt.Sprintf("service: %q check", svc.Name)
		}
		ac := &consulapi.AgentServiceCheck{
			CheckID:  fmt.Sprintf("_nomad-check-%s-%d", reg.ID, i),
			Name:     name,
			Interval: max(chk.Interval, floor).String(),
			Timeout:  chk.Timeout.String(),
			Status:   chk.InitialStatus,
			// Consul counts these, as it does for Nomad's registrations.
			SuccessBeforePassing:   chk.SuccessBeforePassing,
			FailuresBeforeWarning:  chk.FailuresBeforeWarning,
			FailuresBeforeCritical: chk.FailuresBeforeCritical,
			TLSSkipVerify:          chk.TLSSkipVerify,
			Method:                 chk.Method,
			Header:                 chk.Header,
			Body:                   chk.Body,
		}
		switch chk.Type {
		case "http":
			proto := chk.Protocol
			if proto == "" {
				proto = "http"
			}
			ac.HTTP = fmt.Sprintf("%s://%s%s", proto, addr, chk.Path)
		case "tcp":
			ac.TCP = addr
		case "grpc":
			ac.GRPC = addr
			ac.GRPCUseTLS = chk.GRPCUseTLS
		default:
			// script checks need a driver; the double does not run them.
			continue
		}
		reg.Checks = append(reg.Checks, ac)
	}
	return reg
}

// deregisterServices removes services from Consul.
func (s *Server) deregisterServices(ids []string) {
	s.mu.Lock()
	c := s.consul
	s.mu.Unlock()
	if c == nil {
		return
	}
	for _, id := range ids {
		if err := c.Agent().ServiceDeregister(id); err != nil {
			s.tb.Logf("nomadtest: consul: deregister service %q: %v", id, err)
		}
	}
}
