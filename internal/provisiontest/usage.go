package provisiontest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Usage measures where a benchmark's CPU time went, from the kernel's
// counters: this test process (tenantctl, the Nomad double, the in-process
// tenant workloads and the proxies), its child processes (Vault, Consul,
// Postgres with its backends, Redis: the test servers) and the whole
// machine (other helpers' builds included), with the load average at both
// ends. Start one with StartUsage, end it with Stop.
type Usage struct {
	start    time.Time
	load     string
	self     time.Duration
	reaped   time.Duration
	children map[int]proc
	busy     time.Duration
}

// proc is one process's name and CPU time.
type proc struct {
	name string
	cpu  time.Duration
}

// UsageReport is what a Usage measured.
type UsageReport struct {
	Wall time.Duration
	// LoadBefore and LoadAfter are /proc/loadavg's first three fields.
	LoadBefore, LoadAfter string
	// Process is this process's CPU time (user + system).
	Process time.Duration
	// Servers is the CPU time of this process's descendants: the test
	// servers (Vault, Consul, Postgres and its backends, Redis). A process
	// that exited between start and stop without a live parent reaping it
	// is missed.
	Servers time.Duration
	// ByServer splits Servers by process name (vault, consul, postgres,
	// redis-server, …).
	ByServer map[string]time.Duration
	// Machine is the CPU time every process of the machine spent.
	Machine time.Duration
	Cores   int
}

// StartUsage starts measuring.
func StartUsage() *Usage {
	u := &Usage{start: time.Now(), load: LoadAvg()}
	u.self, u.reaped = rusage()
	u.children = descendantsCPU()
	u.busy = machineBusy()
	return u
}

// Stop ends the measurement.
func (u *Usage) Stop() UsageReport {
	wall := time.Since(u.start)
	self, reaped := rusage()
	now := descendantsCPU()
	var servers time.Duration
	by := map[string]time.Duration{}
	for pid, p := range now {
		d := p.cpu - u.children[pid].cpu // 0 before: a process started since
		servers += d
		by[p.name] += d
	}
	if d := reaped - u.reaped; d > 0 {
		servers += d
		by["reaped children"] += d
	}
	return UsageReport{Wall: wall, LoadBefore: u.load, LoadAfter: LoadAvg(), Process: self - u.self,
		Servers: servers, ByServer: by, Machine: machineBusy() - u.busy, Cores: runtime.NumCPU()}
}

// Share is d as a fraction of the machine's capacity during the wall time.
func (r UsageReport) Share(d time.Duration) float64 {
	if r.Wall <= 0 || r.Cores == 0 {
		return 0
	}
	return d.Seconds() / (r.Wall.Seconds() * float64(r.Cores))
}

// Report adds the figures to b's metrics, with prefix naming the phase
// ("new-", "converged-", …).
func (r UsageReport) Report(b *testing.B, prefix string) {
	b.ReportMetric(load1(r.LoadBefore), prefix+"load1-before")
	b.ReportMetric(load1(r.LoadAfter), prefix+"load1-after")
	b.ReportMetric(r.Process.Seconds(), prefix+"cpu-s-process")
	b.ReportMetric(r.Servers.Seconds(), prefix+"cpu-s-servers")
	b.ReportMetric(r.Machine.Seconds(), prefix+"cpu-s-machine")
}

// String is one line: wall time, load averages and where the CPU went.
func (r UsageReport) String() string {
	other := max(r.Machine-r.Process-r.Servers, 0)
	var names []string
	for n := range r.ByServer {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return int(r.ByServer[b] - r.ByServer[a]) })
	var parts []string
	for _, n := range names {
		if r.ByServer[n] >= 100*time.Millisecond {
			parts = append(parts, fmt.Sprintf("%s %.1fs", n, r.ByServer[n].Seconds()))
		}
	}
	return fmt.Sprintf("wall %.1fs on %d cores; load %s → %s; cpu: test process %.1fs (%.0f%%), test servers %.1fs (%.0f%%: %s), rest of the machine %.1fs (%.0f%%), idle %.0f%%",
		r.Wall.Seconds(), r.Cores, r.LoadBefore, r.LoadAfter,
		r.Process.Seconds(), 100*r.Share(r.Process), r.Servers.Seconds(), 100*r.Share(r.Servers), strings.Join(parts, ", "),
		other.Seconds(), 100*r.Share(other), 100*max(1-r.Share(r.Machine), 0))
}

func load1(s string) float64 {
	f, _, _ := strings.Cut(s, " ")
	v, _ := strconv.ParseFloat(f, 64)
	return v
}

// LoadAvg is the machine's 1, 5 and 15 minute load averages from
// /proc/loadavg, "?" when it cannot be read.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// rusage returns this process's CPU time and that of its reaped children.
func rusage() (self, reaped time.Duration) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) == nil {
		reaped = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return self, reaped
}

// clockTick is USER_HZ, the unit of /proc's CPU times (100 on Linux).
const clockTick = 100

// descendantsCPU returns the CPU time of every live descendant of this
// process, by pid: its own and that of the children it reaped (a Postgres
// server's exited backends).
func descendantsCPU() map[int]proc {
	type entry struct {
		proc
		ppid int
	}
	procs := map[int]entry{}
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid … utime(14) stime(15) cutime(16) cstime(17)
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		j := strings.IndexByte(s, '(')
		if i < 0 || j < 0 || j > i {
			continue
		}
		name := s[j+1 : i]
		fields := strings.Fields(s[i+1:])
		if len(fields) < 15 {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		ppid, _ := strconv.Atoi(fields[1])
		var ticks int64
		for _, k := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
			v, _ := strconv.ParseInt(fields[k], 10, 64)
			ticks += v
		}
		procs[pid] = entry{proc: proc{name: serverName(name), cpu: time.Duration(ticks) * time.Second / clockTick}, ppid: ppid}
	}
	self := os.Getpid()
	out := map[int]proc{}
	for pid, p := range procs {
		// Walk up to init: a descendant of ours has us as an ancestor.
		seen := []int{pid}
		for q := p.ppid; q > 1; q = procs[q].ppid {
			if q == self {
				out[pid] = p.proc
				break
			}
			if slices.Contains(seen, q) {
				break
			}
			seen = append(seen, q)
		}
	}
	return out
}

// serverName groups a process name: the versioned test-server binaries
// (vault-v1.13.0) under their server's name.
func serverName(comm string) string {
	for _, s := range []string{"vault", "consul", "postgres", "redis"} {
		if strings.HasPrefix(comm, s) {
			return s
		}
	}
	return comm
}

// machineBusy is the CPU time all processes of the machine spent, from
// /proc/stat (user, nice, system, irq, softirq, steal).
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, k := range []int{1, 2, 3, 6, 7, 8} {
		v, _ := strconv.ParseInt(f[k], 10, 64)
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTick
}
