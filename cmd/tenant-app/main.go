// Command tenant-app is the reference tenant workload: `serve` is a small
// JSON API over the tenant's Postgres, `work` a Redis stream job worker. It
// reads Vault-issued credentials from the file TENANT_APP_ENV_FILE names and
// reloads them on SIGHUP. See docs/tenant-app.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tenantctl/tenantctl/internal/app"
	"github.com/tenantctl/tenantctl/internal/exit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, hup)
	stop()
	os.Exit(int(exit.CodeOf(err)))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, hup <-chan os.Signal) error {
	err := app.Run(ctx, args, app.Env{Getenv: getenv, Stdout: stdout, Stderr: stderr, Reload: hup})
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		if hint := exit.HintOf(err); hint != "" {
			fmt.Fprintf(stderr, "Try: %s\n", hint)
		}
	}
	return err
}
