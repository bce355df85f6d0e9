package testenv

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

// Vault is a Vault dev server: in memory, unsealed, with a known root token.
type Vault struct {
	Addr  string // http://127.0.0.1:port
	Token string // root token
}

// Client returns a Vault client with the root token.
func (v *Vault) Client(tb testing.TB) *vaultapi.Client {
	tb.Helper()
	cfg := vaultapi.DefaultConfig()
	cfg.Address = v.Addr
	c, err := vaultapi.NewClient(cfg)
	if err != nil {
		tb.Fatalf("testenv: vault client: %v", err)
	}
	c.SetToken(v.Token)
	return c
}

// StartVault starts a private Vault dev server stopped by t.Cleanup.
func StartVault(tb testing.TB) *Vault {
	tb.Helper()
	v, proc, err := startVault()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	private(tb, proc)
	return v
}

// SharedVault returns the test binary's shared Vault dev server.
func SharedVault(tb testing.TB) *Vault {
	tb.Helper()
	return startShared(tb, &shared.vault, startVault, StartVault)
}

func startVault() (*Vault, *process, error) {
	bin, err := builtBinary("vault", VaultVersion)
	if err != nil {
		return nil, nil, err
	}
	dir, err := scratchDir("vault")
	if err != nil {
		return nil, nil, err
	}
	token := "root-" + randomSecret(12)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		args := []string{"server", "-dev", "-dev-root-token-id=" + token, "-dev-listen-address=" + addr,
			"-dev-no-store-token", "-log-level=warn"}
		proc, err := startProcess("vault", dir, bin, args, baseEnv(dir, "VAULT_DISABLE_MLOCK=true"), nil, token)
		if err != nil {
			return nil, nil, err
		}
		v := &Vault{Addr: "http://" + addr, Token: token}
		err = proc.waitReady(30*time.Second, func() error {
			resp, err := http.Get(v.Addr + "/v1/sys/health")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("sys/health answered %s", resp.Status)
			}
			return nil
		})
		if err == nil {
			return v, proc, nil
		}
		proc.stop()
		lastErr = err
	}
	return nil, nil, lastErr
}
