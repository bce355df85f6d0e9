package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/tenantctl/tenantctl/internal/provision"
)

// progress prints provisioning events to w: one JSON object per line with
// --json, a redrawn step list on a terminal, plain lines otherwise.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	mode  progressMode
	color bool
	// live mode: the steps drawn so far, redrawn in place.
	steps []liveStep
	drawn int
}

type progressMode int

const (
	progressPlain progressMode = iota
	progressLive
	progressJSON
)

type liveStep struct {
	name, status, detail string
	started              time.Time
	took                 time.Duration
}

func newProgress(w io.Writer, jsonOut, terminal, color bool) *progress {
	p := &progress{w: w, color: color}
	switch {
	case jsonOut:
		p.mode = progressJSON
	case terminal:
		p.mode = progressLive
	}
	return p
}

// Event implements provision.Sink.
func (p *progress) Event(e provision.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.mode {
	case progressJSON:
		_ = writeJSON(p.w, e)
	case progressLive:
		p.live(e)
	default:
		p.plain(e)
	}
}

func (p *progress) plain(e provision.Event) {
	prefix := e.Tenant + ": " + e.Step
	switch e.Phase {
	case provision.PhaseStart:
		fmt.Fprintf(p.w, "%s ...\n", prefix)
	case provision.PhaseInfo:
		fmt.Fprintf(p.w, "%s: %s\n", prefix, e.Detail)
	case provision.PhaseDone:
		fmt.Fprintf(p.w, "%s %s (%s)%s\n", prefix, doneWord(e.Changed), round(e.Duration), detailSuffix(e.Detail))
	case provision.PhaseFailed:
		fmt.Fprintf(p.w, "%s FAILED (%s): %s\n", prefix, round(e.Duration), e.Error)
	}
}

func (p *progress) live(e provision.Event) {
	i := -1
	for j := range p.steps {
		if p.steps[j].name == e.Step {
			i = j
		}
	}
	if i < 0 {
		p.steps = append(p.steps, liveStep{name: e.Step, started: e.Time})
		i = len(p.steps) - 1
	}
	s := &p.steps[i]
	switch e.Phase {
	case provision.PhaseStart:
		s.status = "…"
	case provision.PhaseInfo:
		s.detail = e.Detail
	case provision.PhaseDone:
		s.status, s.took, s.detail = doneWord(e.Changed), e.Duration, e.Detail
	case provision.PhaseFailed:
		s.status, s.took, s.detail = "FAILED", e.Duration, e.Error
	}
	// Move up over what was drawn, then redraw every step.
	if p.drawn > 0 {
		fmt.Fprintf(p.w, "\x1b[%dA", p.drawn)
	}
	for _, s := range p.steps {
		mark := s.status
		if p.color {
			mark = colorize(mark)
		}
		took := ""
		if s.took > 0 {
			took = " " + round(s.took).String()
		}
		fmt.Fprintf(p.w, "\x1b[2K  %-16s %s%s%s\n", s.name, mark, took, detailSuffix(s.detail))
	}
	p.drawn = len(p.steps)
}

func colorize(status string) string {
	switch status {
	case "changed":
		return "\x1b[33m" + status + "\x1b[0m"
	case "ok":
		return "\x1b[32m" + status + "\x1b[0m"
	case "FAILED":
		return "\x1b[31m" + status + "\x1b[0m"
	}
	return status
}

func doneWord(changed bool) string {
	if changed {
		return "changed"
	}
	return "ok"
}

func detailSuffix(d string) string {
	d = strings.TrimSpace(strings.SplitN(d, "\n", 2)[0])
	if d == "" {
		return ""
	}
	return " — " + d
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}
