package jobhcl

import (
	"errors"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
)

// mustParse parses src and fails the test on an error.
func mustParse(t *testing.T, src, varFile string, args map[string]string, canonicalize bool) *api.Job {
	t.Helper()
	job, err := Parse([]byte(src), varFile, args, canonicalize)
	if err != nil {
		t.Fatalf("Parse: got error %v; want none", err)
	}
	return job
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// check is one expectation about a parsed job.
type check struct {
	name string
	got  func(j *api.Job) any
	want any
}

func runChecks(t *testing.T, job *api.Job, checks []check) {
	t.Helper()
	for _, c := range checks {
		if got := c.got(job); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %#v; want %#v", c.name, got, c.want)
		}
	}
}

func TestParseServiceJob(t *testing.T) {
	src := readTestdata(t, "app.nomad.hcl")
	job := mustParse(t, src, "tenant = \"acme\"\ndomain = \"example.com\"\n", nil, true)
	group := func(j *api.Job) *api.TaskGroup { return j.TaskGroups[0] }
	task := func(j *api.Job) *api.Task { return j.TaskGroups[0].Tasks[0] }
	svc := func(j *api.Job) *api.Service { return group(j).Services[0] }
	runChecks(t, job, []check{
		{"ID", func(j *api.Job) any { return *j.ID }, "app"},
		{"Name", func(j *api.Job) any { return *j.Name }, "app"},
		{"Namespace", func(j *api.Job) any { return *j.Namespace }, "tenant-acme"},
		{"Type", func(j *api.Job) any { return *j.Type }, "service"},
		{"Priority", func(j *api.Job) any { return *j.Priority }, 60},
		{"NodePool", func(j *api.Job) any { return *j.NodePool }, "default"},
		{"Datacenters", func(j *api.Job) any { return j.Datacenters }, []string{"dc1"}},
		{"Meta", func(j *api.Job) any { return j.Meta }, map[string]string{"tenant": "acme", "version": "3"}},
		{"Constraint", func(j *api.Job) any { return *j.Constraints[0] },
			api.Constraint{LTarget: "${attr.kernel.name}", RTarget: "linux", Operand: "="}},
		{"Update.Stagger", func(j *api.Job) any { return *j.Update.Stagger }, 30 * time.Second},
		{"Update.ProgressDeadline", func(j *api.Job) any { return *j.Update.ProgressDeadline }, 5 * time.Minute},
		{"Update.AutoRevert", func(j *api.Job) any { return *j.Update.AutoRevert }, true},
		{"group Count", func(j *api.Job) any { return *group(j).Count }, 2},
		{"group Update inherited", func(j *api.Job) any { return *group(j).Update.MinHealthyTime }, 5 * time.Second},
		{"group ShutdownDelay", func(j *api.Job) any { return *group(j).ShutdownDelay }, 5 * time.Second},
		{"ReservedPorts", func(j *api.Job) any { return group(j).Networks[0].ReservedPorts },
			[]api.Port{{Label: "admin", Value: 9090}}},
		{"DynamicPorts", func(j *api.Job) any { return group(j).Networks[0].DynamicPorts },
			[]api.Port{{Label: "http", To: 8080}}},
		{"Restart", func(j *api.Job) any {
			r := group(j).RestartPolicy
			return []any{*r.Attempts, *r.Interval, *r.Delay, *r.Mode}
		},
			[]any{3, 5 * time.Minute, 15 * time.Second, "fail"}},
		{"Reschedule", func(j *api.Job) any {
			r := group(j).ReschedulePolicy
			return []any{*r.Attempts, *r.Interval, *r.Delay, *r.DelayFunction, *r.MaxDelay, *r.Unlimited}
		}, []any{5, time.Hour, 30 * time.Second, "exponential", 10 * time.Minute, false}},
		{"Volume", func(j *api.Job) any { return *group(j).Volumes["data"] },
			api.VolumeRequest{Name: "data", Type: "host", Source: "tenant-data"}},
		{"service name", func(j *api.Job) any { return svc(j).Name }, "acme-app"},
		{"service tags", func(j *api.Job) any { return svc(j).Tags }, []string{"tenant=acme", "host=acme.example.com"}},
		{"service meta", func(j *api.Job) any { return svc(j).Meta }, map[string]string{"tenant": "acme"}},
		{"service provider", func(j *api.Job) any { return svc(j).Provider }, "consul"},
		{"check", func(j *api.Job) any {
			c := svc(j).Checks[0]
			return []any{c.Name, c.Type, c.Path, c.Interval, c.Timeout, c.Header, c.CheckRestart.Limit, *c.CheckRestart.Grace}
		}, []any{"http", "http", "/healthz", 10 * time.Second, 2 * time.Second,
			map[string][]string{"Host": {"acme.example.com"}}, 3, 30 * time.Second}},
		{"task driver", func(j *api.Job) any { return task(j).Driver }, "docker"},
		{"task config", func(j *api.Job) any { return task(j).Config }, map[string]any{
			"image":  "ghcr.io/tenantctl/tenant-app:1.0.0",
			"ports":  []any{"http"},
			"args":   []any{"--listen", ":${NOMAD_PORT_http}", "--node", "${node.unique.name}"},
			"mount":  []map[string]any{{"type": "bind", "source": "local/app.conf", "target": "/etc/app.conf"}},
			"labels": []map[string]any{{"tenant": "acme"}},
		}},
		{"task env", func(j *api.Job) any { return task(j).Env }, map[string]string{
			"TENANT":   "acme",
			"ENV_FILE": "${NOMAD_SECRETS_DIR}/tenant.env",
			"VERSION":  "${NOMAD_META_version}",
			"FROM_ENV": `${env["HOME"]}`,
			"RACK":     "${meta.rack}",
		}},
		{"kill", func(j *api.Job) any { return []any{*task(j).KillTimeout, task(j).KillSignal} },
			[]any{20 * time.Second, "SIGTERM"}},
		{"vault", func(j *api.Job) any {
			v := task(j).Vault
			return []any{v.Role, *v.ChangeMode, *v.ChangeSignal}
		}, []any{"acme-app", "signal", "SIGHUP"}},
		{"default identity", func(j *api.Job) any { id := task(j).Identity; return []any{id.Env, id.File} }, []any{true, true}},
		{"named identity", func(j *api.Job) any {
			id := task(j).Identities[0]
			return []any{id.Name, id.Audience, id.TTL}
		}, []any{"vault_default", []string{"vault.io"}, time.Hour}},
		{"template", func(j *api.Job) any {
			tp := task(j).Templates[0]
			return []any{*tp.DestPath, *tp.Envvars, *tp.ChangeMode, *tp.Splay, *tp.Perms, *tp.Wait.Min, *tp.Wait.Max}
		}, []any{"${NOMAD_SECRETS_DIR}/tenant.env", true, "restart", 5 * time.Second, "0600", 2 * time.Second, 10 * time.Second}},
		{"template data", func(j *api.Job) any { return *task(j).Templates[0].EmbeddedTmpl },
			"{{ with secret \"database/creds/acme-app\" }}\n" +
				"DATABASE_URL=postgres://{{ .Data.username }}:{{ .Data.password }}@db/app\n" +
				"{{ end }}\n" +
				"LITERAL=${NOMAD_ALLOC_ID} %{ not a directive }\n"},
		{"volume_mount", func(j *api.Job) any {
			m := task(j).VolumeMounts[0]
			return []any{*m.Volume, *m.Destination}
		}, []any{"data", "/data"}},
		{"resources", func(j *api.Job) any {
			r := task(j).Resources
			return []any{*r.CPU, *r.MemoryMB, *r.MemoryMaxMB}
		}, []any{200, 256, 512}},
		{"logs", func(j *api.Job) any { l := task(j).LogConfig; return []any{*l.MaxFiles, *l.MaxFileSizeMB} }, []any{5, 10}},
	})
}

func TestParseParameterizedBatchJob(t *testing.T) {
	src := readTestdata(t, "migrate.nomad.hcl")
	job := mustParse(t, src, `tenant = "acme"`, nil, false)
	prestart := func(j *api.Job) *api.Task { return j.TaskGroups[0].Tasks[0] }
	main := func(j *api.Job) *api.Task { return j.TaskGroups[0].Tasks[1] }
	runChecks(t, job, []check{
		{"Type", func(j *api.Job) any { return *j.Type }, "batch"},
		{"parameterized", func(j *api.Job) any { return *j.ParameterizedJob }, api.ParameterizedJobConfig{
			Payload: "optional", MetaRequired: []string{"migration_set"}, MetaOptional: []string{"dry_run"}}},
		{"job reschedule", func(j *api.Job) any { return []any{*j.Reschedule.Attempts, *j.Reschedule.Unlimited} }, []any{0, false}},
		{"ephemeral disk", func(j *api.Job) any { return *j.TaskGroups[0].EphemeralDisk.SizeMB }, 150},
		{"lifecycle", func(j *api.Job) any { return *prestart(j).Lifecycle }, api.TaskLifecycle{Hook: "prestart"}},
		{"prestart args", func(j *api.Job) any { return prestart(j).Config["args"] },
			[]any{"-c", "until pg_isready -h ${NOMAD_UPSTREAM_IP_db}; do sleep 1; done"}},
		{"leader", func(j *api.Job) any { return main(j).Leader }, true},
		{"user", func(j *api.Job) any { return main(j).User }, "nobody"},
		{"dispatch_payload", func(j *api.Job) any { return *main(j).DispatchPayload }, api.DispatchPayloadConfig{File: "migrations.tar"}},
		{"artifact", func(j *api.Job) any {
			a := main(j).Artifacts[0]
			return []any{*a.GetterSource, *a.RelativeDest, *a.GetterMode, a.GetterOptions}
		}, []any{"https://example.com/migrations/acme.tar.gz", "local/migrations", "dir", map[string]string{"checksum": "sha256:abc"}}},
		{"config from object variable", func(j *api.Job) any { return main(j).Config }, map[string]any{
			"command": "/usr/local/bin/tenantctl",
			"args":    []any{"db", "migrate", "--dir", "${NOMAD_TASK_DIR}/migrations"},
		}},
		{"vault", func(j *api.Job) any { return []any{main(j).Vault.Role, *main(j).Vault.ChangeMode} }, []any{"migrate", "noop"}},
		{"template", func(j *api.Job) any {
			tp := main(j).Templates[0]
			return []any{*tp.ErrMissingKey, *tp.LeftDelim, *tp.RightDelim, *tp.Once, *tp.EmbeddedTmpl}
		}, []any{true, "[[", "]]", true, "[[ with secret \"database/creds/migrate\" ]]PGUSER=[[ .Data.username ]][[ end ]]\n"}},
		{"change_script", func(j *api.Job) any {
			cs := main(j).Templates[0].ChangeScript
			return []any{*cs.Command, cs.Args, *cs.Timeout, *cs.FailOnError}
		}, []any{"/bin/true", []string{"-x"}, 10 * time.Second, false}},
		{"kill_timeout", func(j *api.Job) any { return *main(j).KillTimeout }, 45 * time.Second},
		{"logs", func(j *api.Job) any { l := main(j).LogConfig; return []any{*l.Disabled, *l.MaxFiles} }, []any{false, 2}},
		{"not canonicalized", func(j *api.Job) any { return j.Region == nil && j.TaskGroups[0].Tasks[1].Resources.DiskMB == nil }, true},
	})
}

func TestParseCanonicalize(t *testing.T) {
	src := `job "minimal" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
`
	raw := mustParse(t, src, "", nil, false)
	if raw.Type != nil || raw.Namespace != nil || raw.TaskGroups[0].Count != nil {
		t.Errorf("uncanonicalized: got Type %v, Namespace %v, Count %v; want nil", raw.Type, raw.Namespace, raw.TaskGroups[0].Count)
	}
	job := mustParse(t, src, "", nil, true)
	runChecks(t, job, []check{
		{"ID", func(j *api.Job) any { return *j.ID }, "minimal"},
		{"Type", func(j *api.Job) any { return *j.Type }, "service"},
		{"Namespace", func(j *api.Job) any { return *j.Namespace }, "default"},
		{"Region", func(j *api.Job) any { return *j.Region }, "global"},
		{"Priority", func(j *api.Job) any { return *j.Priority }, 50},
		{"Count", func(j *api.Job) any { return *j.TaskGroups[0].Count }, 1},
		{"group update", func(j *api.Job) any { return *j.TaskGroups[0].Update.MinHealthyTime }, 10 * time.Second},
		{"restart mode", func(j *api.Job) any { return *j.TaskGroups[0].RestartPolicy.Mode }, "fail"},
		{"kill timeout", func(j *api.Job) any { return *j.TaskGroups[0].Tasks[0].KillTimeout }, 5 * time.Second},
	})
}

func TestParseConfigAndMaps(t *testing.T) {
	src := `job "maps" {
  meta = {
    "dotted.key" = "x"
    n            = 1.5
    b            = true
  }
  group "g" {
    meta {
      team = "core"
    }
    task "t" {
      driver = "docker"
      env = {
        "discovery.type" = "single-node"
      }
      meta {
        port = 8080
      }
      config {
        image      = "redis:7"
        port       = 6379
        ratio      = 0.5
        privileged = false
        command    = null
        args       = ["--port", 6379]
        sysctl = {
          "net.core.somaxconn" = "16384"
        }
        logging {
          type = "journald"
          config {
            tag = "redis"
          }
        }
        mount {
          type = "tmpfs"
        }
        mount {
          type = "volume"
        }
      }
    }
  }
}
`
	job := mustParse(t, src, "", nil, false)
	task := func(j *api.Job) *api.Task { return j.TaskGroups[0].Tasks[0] }
	runChecks(t, job, []check{
		{"job meta attribute form", func(j *api.Job) any { return j.Meta },
			map[string]string{"dotted.key": "x", "n": "1.5", "b": "true"}},
		{"group meta", func(j *api.Job) any { return j.TaskGroups[0].Meta }, map[string]string{"team": "core"}},
		{"env attribute form", func(j *api.Job) any { return task(j).Env }, map[string]string{"discovery.type": "single-node"}},
		{"task meta number", func(j *api.Job) any { return task(j).Meta }, map[string]string{"port": "8080"}},
		{"config", func(j *api.Job) any { return task(j).Config }, map[string]any{
			"image":      "redis:7",
			"port":       6379,
			"ratio":      0.5,
			"privileged": false,
			"args":       []any{"--port", 6379},
			"sysctl":     []map[string]any{{"net.core.somaxconn": "16384"}},
			"logging": []map[string]any{{
				"type":   "journald",
				"config": []map[string]any{{"tag": "redis"}},
			}},
			"mount": []map[string]any{{"type": "tmpfs"}, {"type": "volume"}},
		}},
	})
}

func TestParseDurations(t *testing.T) {
	src := `job "d" {
  update {
    stagger           = "1s"
    min_healthy_time  = "2s"
    healthy_deadline  = "3m"
    progress_deadline = "1h30m"
  }
  migrate {
    min_healthy_time = "4s"
    healthy_deadline = "5m"
  }
  periodic {
    crons            = ["*/5 * * * *"]
    prohibit_overlap = true
  }
  group "g" {
    shutdown_delay               = "6s"
    stop_after_client_disconnect = "7s"
    max_client_disconnect        = "8m"
    restart {
      interval = "9m"
      delay    = "10s"
    }
    reschedule {
      interval  = "11h"
      delay     = "12s"
      max_delay = "13m"
    }
    service {
      name = "s"
      check {
        type     = "tcp"
        port     = "db"
        interval = "14s"
        timeout  = "500ms"
      }
      check_restart {
        grace = "15s"
      }
    }
    task "t" {
      driver         = "exec"
      kill_timeout   = "16s"
      shutdown_delay = "17s"
      identity {
        name = "x"
        ttl  = "18h"
      }
      template {
        data        = "x"
        destination = "local/x"
        splay       = "19s"
        vault_grace = "20s"
        wait {
          min = "21s"
          max = "22s"
        }
      }
    }
  }
}
`
	job := mustParse(t, src, "", nil, false)
	g := job.TaskGroups[0]
	task := g.Tasks[0]
	tests := []struct {
		name string
		got  time.Duration
		want time.Duration
	}{
		{"update.stagger", *job.Update.Stagger, time.Second},
		{"update.min_healthy_time", *job.Update.MinHealthyTime, 2 * time.Second},
		{"update.healthy_deadline", *job.Update.HealthyDeadline, 3 * time.Minute},
		{"update.progress_deadline", *job.Update.ProgressDeadline, 90 * time.Minute},
		{"migrate.min_healthy_time", *job.Migrate.MinHealthyTime, 4 * time.Second},
		{"migrate.healthy_deadline", *job.Migrate.HealthyDeadline, 5 * time.Minute},
		{"group.shutdown_delay", *g.ShutdownDelay, 6 * time.Second},
		{"group.stop_after_client_disconnect", *g.StopAfterClientDisconnect, 7 * time.Second},
		{"group.max_client_disconnect", *g.MaxClientDisconnect, 8 * time.Minute},
		{"restart.interval", *g.RestartPolicy.Interval, 9 * time.Minute},
		{"restart.delay", *g.RestartPolicy.Delay, 10 * time.Second},
		{"reschedule.interval", *g.ReschedulePolicy.Interval, 11 * time.Hour},
		{"reschedule.delay", *g.ReschedulePolicy.Delay, 12 * time.Second},
		{"reschedule.max_delay", *g.ReschedulePolicy.MaxDelay, 13 * time.Minute},
		{"check.interval", g.Services[0].Checks[0].Interval, 14 * time.Second},
		{"check.timeout", g.Services[0].Checks[0].Timeout, 500 * time.Millisecond},
		{"check_restart.grace", *g.Services[0].CheckRestart.Grace, 15 * time.Second},
		{"task.kill_timeout", *task.KillTimeout, 16 * time.Second},
		{"task.shutdown_delay", task.ShutdownDelay, 17 * time.Second},
		{"identity.ttl", task.Identities[0].TTL, 18 * time.Hour},
		{"template.splay", *task.Templates[0].Splay, 19 * time.Second},
		{"template.vault_grace", *task.Templates[0].VaultGrace, 20 * time.Second},
		{"template.wait.min", *task.Templates[0].Wait.Min, 21 * time.Second},
		{"template.wait.max", *task.Templates[0].Wait.Max, 22 * time.Second},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v; want %v", tt.name, tt.got, tt.want)
		}
	}
	if got := job.Periodic.Specs; !reflect.DeepEqual(got, []string{"*/5 * * * *"}) {
		t.Errorf("periodic.crons: got %v; want [*/5 * * * *]", got)
	}
}

func TestParseConstraintsAffinitiesSpreads(t *testing.T) {
	src := `job "c" {
  affinity {
    attribute = "${node.datacenter}"
    value     = "dc1"
    weight    = 50
  }
  spread {
    attribute = "${node.datacenter}"
    weight    = 100
    target "dc1" {
      percent = 60
    }
    target "dc2" {
      percent = 40
    }
  }
  group "g" {
    constraint {
      attribute = "${meta.tier}"
      operator  = "="
      value     = "db"
    }
    constraint {
      operator = "distinct_hosts"
      value    = "true"
    }
    consul {
      namespace = "tenants"
      cluster   = "default"
    }
    disconnect {
      lost_after = "1h"
      replace    = true
    }
    network {
      mode = "bridge"
      port "db" {
        to           = 5432
        host_network = "private"
      }
      dns {
        servers = ["1.1.1.1"]
      }
    }
  }
}
`
	job := mustParse(t, src, "", nil, false)
	g := job.TaskGroups[0]
	runChecks(t, job, []check{
		{"affinity", func(j *api.Job) any { a := j.Affinities[0]; return []any{a.LTarget, a.RTarget, *a.Weight} },
			[]any{"${node.datacenter}", "dc1", int8(50)}},
		{"spread", func(j *api.Job) any {
			s := j.Spreads[0]
			return []any{s.Attribute, *s.Weight, *s.SpreadTarget[0], *s.SpreadTarget[1]}
		}, []any{"${node.datacenter}", int8(100), api.SpreadTarget{Value: "dc1", Percent: 60}, api.SpreadTarget{Value: "dc2", Percent: 40}}},
		{"constraints", func(j *api.Job) any { return []api.Constraint{*g.Constraints[0], *g.Constraints[1]} }, []api.Constraint{
			{LTarget: "${meta.tier}", Operand: "=", RTarget: "db"},
			{Operand: "distinct_hosts", RTarget: "true"},
		}},
		{"consul", func(j *api.Job) any { return *g.Consul }, api.Consul{Namespace: "tenants", Cluster: "default"}},
		{"disconnect", func(j *api.Job) any { return []any{*g.Disconnect.LostAfter, *g.Disconnect.Replace} }, []any{time.Hour, true}},
		{"network", func(j *api.Job) any {
			n := g.Networks[0]
			return []any{n.Mode, n.DynamicPorts, n.DNS.Servers}
		}, []any{"bridge", []api.Port{{Label: "db", To: 5432, HostNetwork: "private"}}, []string{"1.1.1.1"}}},
	})
}

func TestParseDynamicBlocks(t *testing.T) {
	src := `variable "profile" {
  type    = string
  default = "exec"
}
variable "ports" {
  type    = map(number)
  default = { http = 8080, admin = 0 }
}
job "dyn" {
  group "g" {
    network {
      dynamic "port" {
        for_each = var.ports
        labels   = [port.key]
        content {
          to = port.value
        }
      }
    }
    task "t" {
      driver = var.profile == "docker" ? "docker" : "raw_exec"
      dynamic "config" {
        for_each = var.profile == "docker" ? ["docker"] : []
        content {
          image = "nginx:1"
        }
      }
      dynamic "config" {
        for_each = var.profile == "exec" ? ["exec"] : []
        content {
          command = "/usr/sbin/nginx"
          args    = ["-c", "${NOMAD_TASK_DIR}/nginx.conf"]
          dynamic "mount" {
            for_each = ["a", "b"]
            iterator = m
            content {
              source = "${m.value}-${NOMAD_ALLOC_INDEX}"
            }
          }
        }
      }
      dynamic "template" {
        for_each = ["one", "two"]
        content {
          destination = "local/${template.value}.conf"
          data        = "name=${template.value} port={{ env \"NOMAD_PORT_http\" }}"
        }
      }
    }
  }
}
`
	job := mustParse(t, src, "", nil, false)
	g := job.TaskGroups[0]
	task := g.Tasks[0]
	runChecks(t, job, []check{
		{"ports", func(j *api.Job) any { return g.Networks[0].DynamicPorts },
			[]api.Port{{Label: "admin"}, {Label: "http", To: 8080}}},
		{"driver", func(j *api.Job) any { return task.Driver }, "raw_exec"},
		{"config", func(j *api.Job) any { return task.Config }, map[string]any{
			"command": "/usr/sbin/nginx",
			"args":    []any{"-c", "${NOMAD_TASK_DIR}/nginx.conf"},
			// A dynamic block inside a free-form body is not expanded: it is one more nested block.
			"dynamic": []map[string]any{{"mount": []map[string]any{{
				"content":  []map[string]any{{"source": "${m.value}-${NOMAD_ALLOC_INDEX}"}},
				"for_each": []any{"a", "b"},
				"iterator": "${m}",
			}}}},
		}},
		{"templates", func(j *api.Job) any {
			var out []string
			for _, tp := range task.Templates {
				out = append(out, *tp.DestPath+" "+*tp.EmbeddedTmpl)
			}
			return out
		}, []string{
			`local/one.conf name=one port={{ env "NOMAD_PORT_http" }}`,
			`local/two.conf name=two port={{ env "NOMAD_PORT_http" }}`,
		}},
	})

	// A dynamic block that expands to two config blocks is a duplicate.
	bad := `job "dyn" {
  group "g" {
    task "t" {
      dynamic "config" {
        for_each = [1, 2]
        content {
          n = config.value
        }
      }
    }
  }
}
`
	_, err := Parse([]byte(bad), "", nil, false)
	want := "input.hcl:4,7-23: Duplicate config block; Only one config block is allowed. Another was defined at input.hcl:4,7-23."
	if err == nil || err.Error() != want {
		t.Errorf("two expanded config blocks: got error %v; want %q", err, want)
	}
}

func BenchmarkParse(b *testing.B) {
	src, err := os.ReadFile("testdata/app.nomad.hcl")
	if err != nil {
		b.Fatal(err)
	}
	vars := "tenant = \"acme\"\ndomain = \"example.com\"\n"
	for b.Loop() {
		if _, err := Parse(src, vars, nil, true); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseConcurrent(t *testing.T) {
	src := readTestdata(t, "app.nomad.hcl")
	vars := "tenant = \"acme\"\ndomain = \"example.com\"\n"
	want := mustParse(t, src, vars, nil, true)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			job, err := Parse([]byte(src), vars, nil, true)
			if err == nil && !reflect.DeepEqual(job, want) {
				err = errors.New("got a different job")
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Parse: %v", err)
		}
	}
}

func TestParseTaskDetails(t *testing.T) {
	src := `job "details" {
  region      = "eu"
  all_at_once = true
  periodic {
    cron             = "0 3 * * *"
    time_zone        = "UTC"
    prohibit_overlap = true
  }
  group "g" {
    task "t" {
      driver = "docker"
      resources {
        cores  = 2
        memory = 64
        device "nvidia/gpu" {
          count = 1
        }
      }
      artifact {
        source = "https://example.com/a.tgz"
        headers {
          Authorization = "Bearer ${NOMAD_META_token}"
        }
      }
      service {
        name         = "t-svc"
        port         = "http"
        address_mode = "host"
        canary_tags  = ["canary"]
        check {
          type                     = "script"
          command                  = "/bin/check"
          args                     = ["-v"]
          interval                 = "10s"
          timeout                  = "3s"
          task                     = "t"
          success_before_passing   = 2
          failures_before_critical = 3
          initial_status           = "passing"
        }
      }
      vault {
        cluster                = "default"
        env                    = false
        disable_file           = true
        allow_token_expiration = true
      }
      identity {
        name          = "aws"
        aud           = ["sts.amazonaws.com"]
        change_mode   = "signal"
        change_signal = "SIGHUP"
        env           = true
      }
      template {
        source        = "local/in.tpl"
        destination   = "local/out"
        uid           = 1000
        gid           = 1000
        change_signal = "SIGUSR1"
      }
      logs {
        disabled = true
      }
    }
  }
}
`
	job := mustParse(t, src, "", nil, true)
	task := job.TaskGroups[0].Tasks[0]
	runChecks(t, job, []check{
		{"region", func(j *api.Job) any { return *j.Region }, "eu"},
		{"all_at_once", func(j *api.Job) any { return *j.AllAtOnce }, true},
		{"periodic", func(j *api.Job) any {
			return []any{*j.Periodic.Spec, *j.Periodic.TimeZone, *j.Periodic.ProhibitOverlap}
		},
			[]any{"0 3 * * *", "UTC", true}},
		{"job update default", func(j *api.Job) any { return j.Update != nil }, true},
		{"cores", func(j *api.Job) any { return *task.Resources.Cores }, 2},
		{"device", func(j *api.Job) any { return []any{task.Resources.Devices[0].Name, *task.Resources.Devices[0].Count} },
			[]any{"nvidia/gpu", uint64(1)}},
		{"artifact headers", func(j *api.Job) any { return task.Artifacts[0].GetterHeaders },
			map[string]string{"Authorization": "Bearer ${NOMAD_META_token}"}},
		{"task service", func(j *api.Job) any {
			s := task.Services[0]
			return []any{s.Name, s.AddressMode, s.CanaryTags}
		}, []any{"t-svc", "host", []string{"canary"}}},
		{"script check", func(j *api.Job) any {
			c := task.Services[0].Checks[0]
			return []any{c.Command, c.Args, c.TaskName, c.SuccessBeforePassing, c.FailuresBeforeCritical, c.InitialStatus}
		}, []any{"/bin/check", []string{"-v"}, "t", 2, 3, "passing"}},
		{"vault", func(j *api.Job) any {
			v := task.Vault
			return []any{v.Cluster, *v.Env, *v.DisableFile, *v.AllowTokenExpiration}
		}, []any{"default", false, true, true}},
		{"identity", func(j *api.Job) any {
			id := task.Identities[0]
			return []any{id.Name, id.Audience, id.ChangeMode, id.ChangeSignal, id.Env}
		}, []any{"aws", []string{"sts.amazonaws.com"}, "signal", "SIGHUP", true}},
		{"template", func(j *api.Job) any {
			tp := task.Templates[0]
			return []any{*tp.SourcePath, *tp.Uid, *tp.Gid, *tp.ChangeSignal}
		}, []any{"local/in.tpl", 1000, 1000, "SIGUSR1"}},
		{"logs disabled", func(j *api.Job) any { return *task.LogConfig.Disabled }, true},
	})
}
