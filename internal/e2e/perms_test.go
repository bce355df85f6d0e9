package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/tenantctl/tenantctl/internal/config"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

// assertCredentialFiles checks, on the real agent's disk and processes,
// that tenant id's running app and worker tasks run as the configured
// unprivileged user (nobody by default) and that every file their tasks and
// the data services' tasks rendered into secrets/ is 0400 and owned by the
// task's user (root for tasks without a user: the data services' init and
// sidecars).
func (w *world) assertCredentialFiles(id string) {
	t := w.t
	t.Helper()
	n := tenant.NamesFor(tenant.ID(id))
	exe := config.Default().Exec
	client := w.real.Client()
	checked := 0
	for _, c := range tenant.Components() {
		allocs, _, err := client.Jobs().Allocations(n.Job(c), false, &nomadapi.QueryOptions{Namespace: n.Namespace})
		if err != nil {
			t.Fatalf("allocations of %s: %v", n.Job(c), err)
		}
		for _, a := range allocs {
			if a.ClientStatus != nomadapi.AllocClientStatusRunning {
				continue
			}
			for task, ts := range a.TaskStates {
				if ts.State != "running" {
					continue
				}
				wantUID := uint32(0)
				if c.Name == "app" || c.Name == "worker" {
					wantUID = uint32(exe.AppUID)
					if uid, ok := taskProcessUID(a.ID, task); !ok {
						t.Errorf("%s/%s: no process found for the running task", n.Job(c), task)
					} else if uid != wantUID {
						t.Errorf("%s/%s: the task's process runs as uid %d; want %d (%s)", n.Job(c), task, uid, wantUID, exe.AppUser)
					}
				}
				dir := filepath.Join(w.real.Nomad.DataDir, "alloc", a.ID, task, "secrets")
				entries, _ := os.ReadDir(dir)
				for _, e := range entries {
					if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") || e.Name() == "vault_token" || e.Name() == "api.sock" {
						continue
					}
					fi, err := os.Stat(filepath.Join(dir, e.Name()))
					if err != nil {
						continue
					}
					st := fi.Sys().(*syscall.Stat_t)
					checked++
					if fi.Mode().Perm() != 0o400 || st.Uid != wantUID {
						t.Errorf("%s/%s: secrets/%s is %v owned by uid %d; want -r-------- owned by uid %d",
							n.Job(c), task, e.Name(), fi.Mode().Perm(), st.Uid, wantUID)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Errorf("tenant %s: found no rendered secrets file to check", id)
	}
	t.Logf("tenant %s: %d rendered credential files are 0400 and owned by their task's user", id, checked)
}

// taskProcessUID finds the process of task in allocation alloc (by the
// environment Nomad gave it) and returns its real uid.
func taskProcessUID(alloc, task string) (uint32, bool) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	a, tk := []byte("NOMAD_ALLOC_ID="+alloc+"\x00"), []byte("NOMAD_TASK_NAME="+task+"\x00")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(env, a) || !bytes.Contains(env, tk) {
			continue
		}
		status, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "Uid:" {
				uid, err := strconv.ParseUint(f[1], 10, 32)
				return uint32(uid), err == nil
			}
		}
	}
	return 0, false
}
