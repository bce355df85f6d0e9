package testenv

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// Consul is a Consul dev agent (server and client in one, in memory).
type Consul struct {
	Addr     string // 127.0.0.1:port of the HTTP API
	HTTPAddr string // http://127.0.0.1:port
}

// Client returns a Consul API client for the agent.
func (c *Consul) Client(tb testing.TB) *consulapi.Client {
	tb.Helper()
	cfg := consulapi.DefaultNonPooledConfig()
	cfg.Address = c.Addr
	cfg.Scheme = "http"
	cfg.Token = ""
	client, err := consulapi.NewClient(cfg)
	if err != nil {
		tb.Fatalf("testenv: consul client: %v", err)
	}
	return client
}

// StartConsul starts a private Consul dev agent stopped by t.Cleanup.
func StartConsul(tb testing.TB) *Consul {
	tb.Helper()
	c, proc, err := startConsul()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	private(tb, proc)
	return c
}

// SharedConsul returns the test binary's shared Consul dev agent.
func SharedConsul(tb testing.TB) *Consul {
	tb.Helper()
	return startShared(tb, &shared.consul, startConsul, StartConsul)
}

func startConsul() (*Consul, *process, error) {
	bin, err := builtBinary("consul", ConsulVersion)
	if err != nil {
		return nil, nil, err
	}
	dir, err := scratchDir("consul")
	if err != nil {
		return nil, nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		var ports [4]int
		for i := range ports {
			if ports[i], err = freePort(); err != nil {
				return nil, nil, err
			}
		}
		c := &Consul{Addr: "127.0.0.1:" + strconv.Itoa(ports[0])}
		c.HTTPAddr = "http://" + c.Addr
		args := []string{"agent", "-dev", "-bind=127.0.0.1", "-client=127.0.0.1",
			"-http-port=" + strconv.Itoa(ports[0]), "-dns-port=-1", "-grpc-port=-1", "-grpc-tls-port=-1",
			"-serf-lan-port=" + strconv.Itoa(ports[1]), "-serf-wan-port=" + strconv.Itoa(ports[2]),
			"-server-port=" + strconv.Itoa(ports[3]), "-node=tenantctl-test", "-log-level=warn",
			"-hcl=check_update_interval = \"0s\"", "-hcl=disable_update_check = true",
			// consul-template holds one blocking query per watched service; the
			// default of 200 connections per client is too few for the router's
			// 200-tenant tests.
			"-hcl=limits { http_max_conns_per_client = 4096 }"}
		proc, err := startProcess("consul", dir, bin, args, baseEnv(dir), nil)
		if err != nil {
			return nil, nil, err
		}
		cfg := consulapi.DefaultNonPooledConfig()
		cfg.Address = c.Addr
		cfg.Token = ""
		client, _ := consulapi.NewClient(cfg)
		err = proc.waitReady(30*time.Second, func() error {
			leader, err := client.Status().Leader()
			if err != nil {
				return err
			}
			if leader == "" {
				return fmt.Errorf("no leader yet")
			}
			// The agent's own node must be in the catalog before services can be registered.
			nodes, _, err := client.Catalog().Nodes(nil)
			if err != nil {
				return err
			}
			if len(nodes) == 0 {
				return fmt.Errorf("node not in catalog yet")
			}
			return nil
		})
		if err == nil {
			return c, proc, nil
		}
		proc.stop()
		lastErr = err
	}
	return nil, nil, lastErr
}
