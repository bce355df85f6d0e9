// Command tenantctl onboards and operates one isolated application stack per
// customer on a Nomad cluster integrated with Consul and Vault.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tenantctl/tenantctl/internal/cli"
	"github.com/tenantctl/tenantctl/internal/exit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(int(exit.CodeOf(err)))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return cli.Run(ctx, args, cli.Streams{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: getenv})
}
