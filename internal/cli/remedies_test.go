package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ucli "github.com/urfave/cli/v2"

	"github.com/tenantctl/tenantctl/internal/consul"
	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/nomad"
	"github.com/tenantctl/tenantctl/internal/vault"
)

func TestRemediesNameTheFlags(t *testing.T) {
	for c, want := range map[exit.Cause]string{
		nomad.CauseUnreachable:  "--nomad-addr",
		nomad.CauseForbidden:    "--nomad-token",
		consul.CauseUnreachable: "--consul-addr",
		consul.CauseForbidden:   "--consul-token",
		consul.CauseLocked:      "--lock-timeout",
		vault.CauseUnreachable:  "--vault-addr",
		vault.CauseForbidden:    "--vault-token",
	} {
		err := withRemedy(exit.Because(errors.New("boom"), exit.Locked, c))
		if hint := exit.HintOf(err); !strings.Contains(hint, want) {
			t.Errorf("remedy of %s: got %q; want it to name %s", c, hint, want)
		}
		if exit.CodeOf(err) != exit.Locked || err.Error() != "boom" {
			t.Errorf("remedy of %s: got code %d, %q; want the code and message unchanged", c, exit.CodeOf(err), err)
		}
	}
	kept := exit.Wrap(exit.Because(errors.New("boom"), exit.Unreachable, vault.CauseForbidden), exit.Unreachable, "own remedy")
	if got := exit.HintOf(withRemedy(kept)); got != "own remedy" {
		t.Errorf("an error with a remedy: got %q; want it kept", got)
	}
}

// TestAdaptersNameNoFlag keeps the wording of remedies in this package: no
// adapter names a flag of the command line.
func TestAdaptersNameNoFlag(t *testing.T) {
	var flags []string
	var collect func(fs []ucli.Flag)
	collect = func(fs []ucli.Flag) {
		for _, f := range fs {
			for _, n := range f.Names() {
				if len(n) > 2 {
					flags = append(flags, "--"+n)
				}
			}
		}
	}
	var walk func(cs []*ucli.Command)
	walk = func(cs []*ucli.Command) {
		for _, c := range cs {
			collect(c.Flags)
			walk(c.Subcommands)
		}
	}
	a := &app{}
	collect(a.globalFlags())
	walk(a.commands())
	for _, dir := range []string{"nomad", "consul", "vault", "migrate", "routing"} {
		files, err := filepath.Glob(filepath.Join("..", dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for i, line := range strings.Split(string(src), "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "//") {
					continue
				}
				for _, fl := range flags {
					if strings.Contains(line, fl+" ") || strings.Contains(line, fl+")") || strings.Contains(line, fl+"\"") ||
						strings.Contains(line, fl+";") || strings.Contains(line, fl+",") {
						t.Errorf("%s:%d names the flag %s; word the remedy in internal/cli (remedies.go) from an exit.Cause", f, i+1, fl)
					}
				}
			}
		}
	}
}
