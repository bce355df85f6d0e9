package nomad

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/nomadtest"
)

func TestPreflight(t *testing.T) {
	// A loopback port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()

	for _, tc := range []struct {
		name     string
		opts     []nomadtest.Option
		token    string
		addr     string // overrides the double's address
		wantCode exit.Code
		wantHint string
		// wantCause is the cause the front end words the remedy of.
		wantCause exit.Cause
	}{
		{name: "supported", wantCode: exit.OK},
		{name: "oldest supported", opts: []nomadtest.Option{nomadtest.WithVersion("1.10.0")}, wantCode: exit.OK},
		{name: "too old", opts: []nomadtest.Option{nomadtest.WithVersion("1.9.7")}, wantCode: exit.Unreachable, wantHint: "upgrade Nomad"},
		{name: "wrong token", opts: []nomadtest.Option{nomadtest.WithToken("right")}, token: "wrong", wantCode: exit.Unreachable, wantCause: CauseForbidden},
		{name: "right token", opts: []nomadtest.Option{nomadtest.WithToken("right")}, token: "right", wantCode: exit.OK},
		{name: "nothing listening", addr: closed, wantCode: exit.Unreachable, wantCause: CauseUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := nomadtest.New(t, tc.opts...)
			addr := srv.Addr()
			if tc.addr != "" {
				addr = tc.addr
			}
			c, err := New(Config{Address: addr, Token: tc.token})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err = c.Preflight(ctx)
			if got := exit.CodeOf(err); got != tc.wantCode {
				t.Fatalf("got code %d (%v); want %d", got, err, tc.wantCode)
			}
			if !strings.Contains(exit.HintOf(err), tc.wantHint) {
				t.Errorf("got hint %q; want it to mention %q", exit.HintOf(err), tc.wantHint)
			}
			if got := exit.CauseOf(err); got != tc.wantCause {
				t.Errorf("got cause %q; want %q", got, tc.wantCause)
			}
		})
	}
}

func TestNewRejectsBadAddress(t *testing.T) {
	for _, addr := range []string{"", "127.0.0.1:4646", "://x"} {
		if _, err := New(Config{Address: addr}); exit.CodeOf(err) != exit.Usage {
			t.Errorf("New(%q): got %v; want a usage error", addr, err)
		}
	}
}

func TestJobURL(t *testing.T) {
	c, err := New(Config{Address: "http://nomad.example:4646/"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.JobURL("acme--tenant", "acme--app"), "http://nomad.example:4646/ui/jobs/acme--app@acme--tenant"; got != want {
		t.Errorf("got %q; want %q", got, want)
	}
}
