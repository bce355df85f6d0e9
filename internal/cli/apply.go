package cli

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/fleet"
	"github.com/tenantctl/tenantctl/internal/provision"
	"github.com/tenantctl/tenantctl/internal/tenant"
)

func (a *app) applyCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "apply",
		Usage: "converge every tenant of a fleet file, in waves: canaries first, then the rest in parallel",
		Description: "Converges each tenant of the fleet file (-f tenants.hcl) with the same steps as `up`. The first\n" +
			"--canary tenants go first; all must converge and stay healthy for --canary-soak. Then the rest, --parallel\n" +
			"at a time. More than --max-failures failures halt the rollout: tenants not yet started are left untouched\n" +
			"and named. Tenants on the cluster but not in the file are reported as orphaned; --prune removes them\n" +
			"(after confirmation, or --yes off a terminal). Exit 0: every tenant converged; 5: some failed or were not\n" +
			"started. See docs/fleet.md.",
		Flags: append(append([]ucli.Flag{
			fileFlag("the fleet file (tenants.hcl)"),
			&ucli.IntFlag{Name: "canary", Usage: "how many tenants (the first in the file) converge first"},
			&ucli.DurationFlag{Name: "canary-soak", Usage: "how long the canaries must stay healthy before the rest start"},
			&ucli.IntFlag{Name: "parallel", Value: 4, Usage: "how many tenants converge at once"},
			&ucli.IntFlag{Name: "max-failures", Usage: "how many tenants may fail before the rollout halts"},
			&ucli.BoolFlag{Name: "prune", Usage: "remove orphaned tenants (on the cluster, not in the file; data volumes kept)"},
			&ucli.BoolFlag{Name: "yes", Usage: "do not ask before pruning"},
			timeoutFlag("deadline of each wait of each tenant (deployments, migrations, routing)"),
			jsonFlag(),
		}, lockFlags()...), dirFlags()...),
		Action: a.apply,
	}
}

func (a *app) apply(c *ucli.Context) error {
	if c.String("file") == "" {
		return exit.UsageError("tenantctl apply -f tenants.hcl", "apply needs a fleet file")
	}
	if err := noTenantWithFile(c); err != nil {
		return err
	}
	for _, fl := range []string{"canary", "parallel", "max-failures"} {
		if n := c.Int(fl); n < 0 || (fl == "parallel" && n < 1) || n > 10_000 {
			return exit.UsageError(fmt.Sprintf("--%s 2", fl), "--%s %d is out of range", fl, n)
		}
	}
	if d := c.Duration("canary-soak"); d < 0 {
		return exit.UsageError("--canary-soak 2m", "--canary-soak %s is negative", d)
	}
	terminal := isTerminal(a.Stdin) && isTerminal(a.Stderr)
	if c.Bool("prune") && !c.Bool("yes") && !terminal {
		return exit.UsageError(fmt.Sprintf("tenantctl apply -f %s --prune --yes", c.String("file")),
			"--prune removes tenants and needs confirmation; not on a terminal")
	}
	cfg, f, err := loadFleet(c, a.opts.ConfigFile)
	if err != nil {
		return err
	}
	view := newFleetView(a.progressWriter(c), wantJSON(c), isTerminal(a.Stderr) && !wantJSON(c), f)
	env, err := a.provisionEnv(c, cfg, view)
	if err != nil {
		return err
	}
	view.start()
	res, err := fleet.Apply(c.Context, env, f, fleet.Options{
		Canary: c.Int("canary"), CanarySoak: c.Duration("canary-soak"), Parallel: c.Int("parallel"),
		MaxFailures: c.Int("max-failures"), Timeout: c.Duration("timeout"), LockTimeout: c.Duration("lock-timeout"),
		Holder: func(id tenant.ID) consul.Holder { return consul.CurrentHolder("apply "+id.String(), time.Now()) },
		Prune:  c.Bool("prune"),
		Confirm: func(orphans []string) error {
			if c.Bool("yes") {
				return nil
			}
			return a.confirmPrune(orphans)
		},
		Observe: view.update,
	})
	view.stop()
	err = applyRemedy(err, f.Path)
	if wantJSON(c) {
		return a.jsonResult(res, err)
	}
	a.printApplySummary(res)
	return err
}

// applyRemedy words the remedy of a fleet apply's error.
func applyRemedy(err error, path string) error {
	if err == nil || exit.HintOf(err) != "" {
		return err
	}
	switch exit.CodeOf(err) {
	case exit.Partial:
		return exit.Wrap(err, exit.Partial, fmt.Sprintf("see why each failed tenant failed (`tenantctl status <tenant>`), fix the cause, then run `tenantctl apply -f %s` again: converged tenants are skipped", path))
	case exit.Interrupted:
		return exit.Wrap(err, exit.Interrupted, fmt.Sprintf("run `tenantctl apply -f %s` again: converged tenants are skipped and each tenant's steps are idempotent", path))
	}
	return err
}

// confirmPrune asks the operator to type "prune" before orphans are removed.
func (a *app) confirmPrune(orphans []string) error {
	fmt.Fprintf(a.Stderr, "These %d tenants are on the cluster but not in the fleet file: %s.\n"+
		"Pruning removes their jobs, Vault objects, record and namespace (data volumes are kept).\nType prune to confirm: ",
		len(orphans), strings.Join(orphans, ", "))
	line, _ := bufio.NewReader(a.Stdin).ReadString('\n')
	if strings.TrimSpace(line) != "prune" {
		return exit.UsageError("type prune exactly, or pass --yes", "pruning not confirmed; the orphaned tenants were kept")
	}
	return nil
}

func (a *app) printApplySummary(res fleet.Result) {
	w := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TENANT\tWAVE\tSTATE\tAPP\tTOOK\tDETAIL")
	for _, t := range res.Tenants {
		detail := t.Error
		if t.Step != "" {
			detail = "at step " + t.Step + ": " + detail
		}
		took := "-"
		if t.Duration > 0 {
			took = round(t.Duration).String()
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Tenant, t.Wave, t.State, dash(t.AppVersion), took, dash(detail))
	}
	_ = w.Flush()
	fmt.Fprintf(a.Stdout, "%s in %s\n", countsLine(res.Counts, len(res.Tenants)), round(res.Duration))
	if res.Halted {
		fmt.Fprintf(a.Stdout, "halted: %s; not started (untouched): %s\n", res.HaltReason, strings.Join(res.NotStarted, ", "))
	}
	if len(res.Orphaned) > 0 {
		fmt.Fprintf(a.Stdout, "orphaned (on the cluster, not in the file): %s", strings.Join(res.Orphaned, ", "))
		switch {
		case len(res.Pruned) > 0:
			fmt.Fprintf(a.Stdout, "; pruned: %s", strings.Join(res.Pruned, ", "))
		case res.PruneSkipped != "":
			fmt.Fprintf(a.Stdout, "; kept: %s", res.PruneSkipped)
		default:
			fmt.Fprint(a.Stdout, "; kept (apply --prune removes them)")
		}
		fmt.Fprintln(a.Stdout)
	}
}

// countsLine is "8 converged, 1 unchanged, 1 failed of 10".
func countsLine(counts map[fleet.State]int, total int) string {
	var parts []string
	for _, st := range []fleet.State{fleet.StateConverged, fleet.StateUnchanged, fleet.StateRunning, fleet.StateSoaking,
		fleet.StateFailed, fleet.StateNotStarted, fleet.StatePending} {
		if n := counts[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	return strings.Join(parts, ", ") + fmt.Sprintf(" of %d", total)
}

// fleetView shows a fleet apply: one JSON line per event with --json; on a
// terminal a redrawn table (counts, elapsed, ETA, one line per tenant in
// flight or finished); elsewhere plain lines, one per tenant state change
// and per failed step.
type fleetView struct {
	mu      sync.Mutex
	w       io.Writer
	json    bool
	live    bool
	order   []string
	rows    map[string]*fleetRow
	started time.Time
	drawn   int
	// ticker redraws the live view so elapsed and ETA move.
	done chan struct{}
	wg   sync.WaitGroup
}

type fleetRow struct {
	wave, step, detail string
	state              fleet.State
	since              time.Time
}

func newFleetView(w io.Writer, jsonOut, live bool, f *fleet.File) *fleetView {
	v := &fleetView{w: w, json: jsonOut, live: live, rows: map[string]*fleetRow{}, done: make(chan struct{})}
	for _, s := range f.Tenants {
		v.order = append(v.order, s.ID.String())
		v.rows[s.ID.String()] = &fleetRow{state: fleet.StatePending}
	}
	return v
}

func (v *fleetView) start() {
	v.started = time.Now()
	if !v.live {
		return
	}
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-v.done:
				return
			case <-t.C:
				v.mu.Lock()
				v.draw()
				v.mu.Unlock()
			}
		}
	}()
}

func (v *fleetView) stop() {
	close(v.done)
	v.wg.Wait()
	if v.live {
		v.mu.Lock()
		v.draw()
		v.mu.Unlock()
	}
}

// Event implements provision.Sink: each tenant's steps.
func (v *fleetView) Event(e provision.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case v.json:
		_ = writeJSON(v.w, e)
	case v.live:
		if r := v.rows[e.Tenant]; r != nil {
			r.step = e.Step
			if e.Phase == provision.PhaseInfo {
				r.detail = e.Detail
			}
			v.draw()
		}
	case e.Phase == provision.PhaseFailed:
		fmt.Fprintf(v.w, "%s: step %s FAILED (%s): %s\n", e.Tenant, e.Step, round(e.Duration), firstLine(e.Error))
	}
}

// update receives the fleet's state changes.
func (v *fleetView) update(u fleet.Update) {
	v.mu.Lock()
	defer v.mu.Unlock()
	r := v.rows[u.Tenant]
	if r == nil {
		r = &fleetRow{}
		v.rows[u.Tenant] = r
		v.order = append(v.order, u.Tenant)
	}
	r.wave, r.state, r.since = u.Wave, u.State, u.Time
	r.detail = u.Detail
	if u.Error != "" {
		r.detail = u.Error
	}
	switch {
	case v.json:
		_ = writeJSON(v.w, u)
	case v.live:
		v.draw()
	default:
		line := fmt.Sprintf("%s: %s (%s)", u.Tenant, u.State, u.Wave)
		if r.detail != "" {
			line += ": " + firstLine(r.detail)
		}
		fmt.Fprintln(v.w, line)
	}
}

// maxLiveRows bounds the live table; the counts line covers the rest.
const maxLiveRows = 24

// draw redraws the live table in place; callers hold v.mu.
func (v *fleetView) draw() {
	counts := map[fleet.State]int{}
	finished := 0
	for _, id := range v.order {
		st := v.rows[id].state
		counts[st]++
		switch st {
		case fleet.StateConverged, fleet.StateUnchanged, fleet.StateFailed:
			finished++
		}
	}
	total := len(v.order) - counts[fleet.StateOrphaned] - counts[fleet.StatePruned]
	elapsed := time.Since(v.started).Round(time.Second)
	eta := "-"
	if finished > 0 && finished < total {
		eta = (elapsed / time.Duration(finished) * time.Duration(total-finished)).Round(time.Second).String()
	}
	lines := []string{fmt.Sprintf("fleet: %s — elapsed %s, ETA %s", countsLine(counts, total), elapsed, eta)}
	// In flight first, then failures, then the rest in file order.
	rank := func(st fleet.State) int {
		switch st {
		case fleet.StateRunning, fleet.StateSoaking:
			return 0
		case fleet.StateFailed:
			return 1
		case fleet.StatePending:
			return 3
		}
		return 2
	}
	ids := slices.Clone(v.order)
	slices.SortStableFunc(ids, func(x, y string) int { return rank(v.rows[x].state) - rank(v.rows[y].state) })
	for i, id := range ids {
		if i == maxLiveRows {
			lines = append(lines, fmt.Sprintf("  … %d more", len(ids)-maxLiveRows))
			break
		}
		r := v.rows[id]
		step := ""
		if r.state == fleet.StateRunning {
			step = r.step
		}
		lines = append(lines, fmt.Sprintf("  %-24s %-7s %-11s %-16s %s", id, r.wave, r.state, step, firstLine(r.detail)))
	}
	if v.drawn > 0 {
		fmt.Fprintf(v.w, "\x1b[%dA", v.drawn)
	}
	for _, l := range lines {
		fmt.Fprintf(v.w, "\x1b[2K%s\n", l)
	}
	for i := len(lines); i < v.drawn; i++ {
		fmt.Fprint(v.w, "\x1b[2K\n")
	}
	v.drawn = max(v.drawn, len(lines))
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
