package nomadtest

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/nomad/api"
)

// TaskStart is what a task hook receives when the double "starts" a task:
// everything a driver would hand the real process.
type TaskStart struct {
	// Alloc is a copy of the allocation (with its Job).
	Alloc *api.Allocation
	// Task is the task being started.
	Task *api.Task
	// Env is the task's environment: the NOMAD_* variables (including
	// NOMAD_PORT_<label> and NOMAD_ADDR_<label> for every port of the group,
	// each a free loopback port) merged with the task's env block.
	Env map[string]string
	// Ports maps the group's port labels to the loopback ports allocated.
	Ports map[string]int
	// SecretsDir is NOMAD_SECRETS_DIR, a fresh temporary directory.
	SecretsDir string
	// Identity is the workload-identity JWT Nomad would use for the task's
	// vault block (identity "vault_default"); empty when the task has none.
	Identity string
	// Stdout and Stderr append to the task's logs served by
	// /v1/client/fs/logs.
	Stdout, Stderr io.Writer
}

// TaskRun is what a hook reports about the process it started. Every field
// is optional.
type TaskRun struct {
	// Address is the host the task serves on (default 127.0.0.1).
	Address string
	// Port is the port the task serves on when the group declares no port
	// for its services.
	Port int
	// Ready, when set, is polled until it returns nil; only then does the
	// allocation become healthy.
	Ready func(ctx context.Context) error
	// Wait, when set, blocks until the task's process exits and returns its
	// exit code; the task then terminates (complete on 0, failed otherwise).
	// Without Wait, batch tasks complete at once and service tasks run
	// until stopped.
	Wait func(ctx context.Context) int
	// Stop is called once when the allocation stops (or the server closes).
	Stop func()
}

// TaskHook runs when an allocation of the task starts, like a driver would
// start the task. ctx ends when the allocation stops. A returned error fails
// the task with a "Driver Failure" event carrying the error text.
type TaskHook func(ctx context.Context, start TaskStart) (*TaskRun, error)

// OnTask attaches a hook to a task of a job in a namespace. Hooks of a
// parameterized job also run for the jobs dispatched from it.
func (s *Server) OnTask(ns, job, task string, hook TaskHook) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks[taskKey{ns, job, task}] = hook
}

// hookFor returns the hook of a task; callers hold s.mu.
func (s *Server) hookFor(j *api.Job, task string) TaskHook {
	ns := deref(j.Namespace)
	if h := s.hooks[taskKey{ns, deref(j.ID), task}]; h != nil {
		return h
	}
	if p := deref(j.ParentID); p != "" {
		return s.hooks[taskKey{ns, p, task}]
	}
	return nil
}

// A Nomad client hands out dynamic ports from its min_dynamic_port to
// max_dynamic_port, 20000 to 32000 unless configured. That range lies below
// Linux's ephemeral range (32768 to 60999), so a dynamic port never meets a
// port the kernel picks for a listener on port 0 or for an outgoing
// connection. The double keeps the same range: the test servers of the
// harness take their ports from the kernel, and an allocation can no longer
// be handed a port a harness server bound a moment later.
const (
	minDynamicPort = 20000
	maxDynamicPort = 32000
	// portTries bounds the search for a free port in the range.
	portTries = 512
)

// groupPorts allocates a loopback port for every port label of a group's
// networks and records them on the allocation; static ports keep their
// value. Like a Nomad client, it never hands out a port another live
// allocation holds, and it skips ports some other process listens on.
// Callers hold s.mu.
func (s *Server) groupPorts(a *allocEntry, tg *api.TaskGroup) (map[string]int, error) {
	taken := map[int]bool{}
	for _, o := range s.st.allocs {
		if o == a || o.released {
			continue
		}
		for _, p := range o.ports {
			taken[p] = true
		}
	}
	ports := map[string]int{}
	for _, n := range tg.Networks {
		for _, p := range n.ReservedPorts {
			ports[p.Label] = p.Value
			taken[p.Value] = true
		}
	}
	for _, n := range tg.Networks {
		for _, p := range n.DynamicPorts {
			v, err := dynamicPort(taken)
			if err != nil {
				return nil, err
			}
			taken[v] = true
			ports[p.Label] = v
		}
	}
	a.ports = ports
	return ports, nil
}

// dynamicPort picks a port of the dynamic range that is not in taken and
// that nobody listens on right now.
func dynamicPort(taken map[int]bool) (int, error) {
	for range portTries {
		p := minDynamicPort + rand.IntN(maxDynamicPort-minDynamicPort+1)
		if taken[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		l.Close()
		return p, nil
	}
	return 0, fmt.Errorf("nomadtest: no free port in the dynamic range %d-%d after %d tries", minDynamicPort, maxDynamicPort, portTries)
}

// taskEnv builds the environment a task would see.
func (s *Server) taskEnv(a *api.Allocation, tg *api.TaskGroup, t *api.Task, ports map[string]int, dir string) map[string]string {
	j := a.Job
	env := map[string]string{
		"NOMAD_ALLOC_ID":       a.ID,
		"NOMAD_SHORT_ALLOC_ID": a.ID[:8],
		"NOMAD_ALLOC_NAME":     a.Name,
		"NOMAD_ALLOC_INDEX":    allocIndex(a.Name),
		"NOMAD_ALLOC_DIR":      filepath.Join(dir, "alloc"),
		"NOMAD_TASK_DIR":       filepath.Join(dir, t.Name, "local"),
		"NOMAD_SECRETS_DIR":    filepath.Join(dir, t.Name, "secrets"),
		"NOMAD_GROUP_NAME":     a.TaskGroup,
		"NOMAD_TASK_NAME":      t.Name,
		"NOMAD_JOB_ID":         deref(j.ID),
		"NOMAD_JOB_NAME":       deref(j.Name),
		"NOMAD_JOB_PARENT_ID":  deref(j.ParentID),
		"NOMAD_NAMESPACE":      a.Namespace,
		"NOMAD_REGION":         s.region,
		"NOMAD_DC":             s.dc,
		"NOMAD_NODE_ID":        a.NodeID,
		"NOMAD_NODE_NAME":      a.NodeName,
	}
	if t.Resources != nil {
		if t.Resources.CPU != nil {
			env["NOMAD_CPU_LIMIT"] = strconv.Itoa(*t.Resources.CPU)
		}
		if t.Resources.MemoryMB != nil {
			env["NOMAD_MEMORY_LIMIT"] = strconv.Itoa(*t.Resources.MemoryMB)
		}
	}
	for label, p := range ports {
		l := strings.ReplaceAll(label, "-", "_")
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		env["NOMAD_PORT_"+l] = strconv.Itoa(p)
		env["NOMAD_HOST_PORT_"+l] = strconv.Itoa(p)
		env["NOMAD_IP_"+l] = "127.0.0.1"
		env["NOMAD_HOST_IP_"+l] = "127.0.0.1"
		env["NOMAD_ADDR_"+l] = addr
		env["NOMAD_HOST_ADDR_"+l] = addr
	}
	for _, m := range []map[string]string{j.Meta, tg.Meta, t.Meta} {
		for k, v := range m {
			env["NOMAD_META_"+k] = v
			env["NOMAD_META_"+strings.ToUpper(k)] = v
		}
	}
	for k, v := range t.Env {
		env[k] = interpolate(v, env)
	}
	return env
}

// interpolate replaces ${NOMAD_*}, ${env.X} and ${meta.x} references the
// way a Nomad client does for env blocks.
func interpolate(v string, env map[string]string) string {
	if !strings.Contains(v, "${") {
		return v
	}
	var b strings.Builder
	for {
		i := strings.Index(v, "${")
		if i < 0 {
			b.WriteString(v)
			return b.String()
		}
		j := strings.Index(v[i:], "}")
		if j < 0 {
			b.WriteString(v)
			return b.String()
		}
		b.WriteString(v[:i])
		name := v[i+2 : i+j]
		switch {
		case strings.HasPrefix(name, "env."):
			b.WriteString(env[strings.TrimPrefix(name, "env.")])
		case strings.HasPrefix(name, "meta."):
			b.WriteString(env["NOMAD_META_"+strings.TrimPrefix(name, "meta.")])
		case strings.HasPrefix(name, "attr.unique.network.ip-address"):
			b.WriteString("127.0.0.1")
		case strings.HasPrefix(name, "NOMAD_"):
			b.WriteString(env[name])
		default:
			b.WriteString(v[i : i+j+1])
		}
		v = v[i+j+1:]
	}
}

func allocIndex(name string) string {
	i := strings.LastIndex(name, "[")
	if i < 0 || !strings.HasSuffix(name, "]") {
		return "0"
	}
	return name[i+1 : len(name)-1]
}

// allocDirs creates the alloc's directory tree under a temp dir.
func allocDirs(root string, tasks []*api.Task) error {
	if err := os.MkdirAll(filepath.Join(root, "alloc"), 0o755); err != nil {
		return err
	}
	for _, t := range tasks {
		for _, d := range []string{"local", "secrets"} {
			if err := os.MkdirAll(filepath.Join(root, t.Name, d), 0o755); err != nil {
				return err
			}
		}
	}
	return nil
}
