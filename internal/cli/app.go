// Package cli is tenantctl's command line: the command tree, global flags,
// output conventions and the mapping of errors to exit codes. It holds no
// provisioning logic of its own; commands call into internal/provision and the
// adapters.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/mattn/go-isatty"
	ucli "github.com/urfave/cli/v2"

	"github.com/tenantctl/tenantctl/internal/exit"
	"github.com/tenantctl/tenantctl/internal/version"
)

// Streams are the process's standard streams and environment. Tests pass
// buffers and a map-backed Getenv.
type Streams struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads an environment variable; nil means no environment.
	Getenv func(string) string
}

// app carries what every command needs. It is built once per Run.
type app struct {
	Streams
	opts globalOptions
	log  *slog.Logger
}

// Run parses args (args[0] is the program name), runs the command and returns
// its error. It never calls os.Exit: the caller maps the error with
// exit.CodeOf. User-fixable errors have already been printed as Error:/Try:
// when Run returns.
func Run(ctx context.Context, args []string, s Streams) error {
	if s.Getenv == nil {
		s.Getenv = func(string) string { return "" }
	}
	if s.Stdin == nil {
		s.Stdin = strings.NewReader("")
	}
	a := &app{Streams: s}
	err := a.cliApp().RunContext(ctx, args)
	if err != nil && ctx.Err() != nil && exit.CodeOf(err) == exit.Failure {
		err = exit.Wrap(err, exit.Interrupted, "run the same command again: every step is idempotent and it converges")
	}
	if err != nil {
		err = withRemedy(err)
		a.printError(err)
	}
	return err
}

func (a *app) cliApp() *ucli.App {
	return &ucli.App{
		Name:  "tenantctl",
		Usage: "onboard and operate one isolated application stack per customer on Nomad, Consul and Vault",
		Description: "tenantctl converges a tenant (a Nomad namespace; Vault-issued Postgres and Redis credentials;\n" +
			"migrations; app and worker; nginx routing through Consul) to its desired state, and removes it.\n\n" +
			exitCodeHelp(),
		Version:              version.Version,
		HideVersion:          true,
		Reader:               a.Stdin,
		Writer:               a.Stdout,
		ErrWriter:            a.Stderr,
		EnableBashCompletion: true,
		Suggest:              true,
		Flags:                a.globalFlags(),
		Before:               a.before,
		// Exit codes are main's business: never let urfave/cli call os.Exit.
		ExitErrHandler: func(*ucli.Context, error) {},
		OnUsageError:   usageError,
		Action: func(c *ucli.Context) error {
			if c.Args().Present() {
				return exit.UsageError("run `tenantctl --help` for the list of commands",
					"unknown command %q", c.Args().First())
			}
			return ucli.ShowAppHelp(c)
		},
		Commands: a.commands(),
	}
}

// commands is the command tree. Each command lives in a file named after it.
func (a *app) commands() []*ucli.Command {
	cmds := []*ucli.Command{
		a.versionCommand(),
		a.completionCommand(),
	}
	cmds = append(cmds, a.extraCommands()...)
	for _, c := range cmds {
		setUsageErrors(c)
	}
	return cmds
}

func setUsageErrors(c *ucli.Command) {
	if c.OnUsageError == nil {
		c.OnUsageError = usageError
	}
	for _, sub := range c.Subcommands {
		setUsageErrors(sub)
	}
}

func usageError(c *ucli.Context, err error, _ bool) error {
	hint := "run `tenantctl --help`"
	if c != nil && c.Command != nil && c.Command.Name != "" && c.Command.Name != c.App.Name {
		hint = fmt.Sprintf("run `tenantctl %s --help`", c.Command.FullName())
	}
	return exit.UsageError(hint, "%s", err.Error())
}

func (a *app) before(c *ucli.Context) error {
	if err := a.opts.load(c, a.Getenv); err != nil {
		return err
	}
	level, err := parseLevel(a.opts.LogLevel)
	if err != nil {
		return err
	}
	a.log = slog.New(slog.NewTextHandler(a.Stderr, &slog.HandlerOptions{Level: level}))
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, exit.UsageError("use one of debug, info, warn, error", "invalid --log-level %q", s)
	}
	return l, nil
}

// printError prints err as "Error: …" and, when there is one, "Try: …".
func (a *app) printError(err error) {
	msg := err.Error()
	fmt.Fprintf(a.Stderr, "Error: %s\n", msg)
	if hint := exit.HintOf(err); hint != "" {
		fmt.Fprintf(a.Stderr, "Try: %s\n", hint)
	}
}

// isTerminal reports whether s (a stream: stdin, stdout or stderr) is an
// interactive terminal.
func isTerminal(s any) bool {
	f, ok := s.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// color reports whether output to w may use ANSI colour.
func (a *app) color(w io.Writer) bool {
	return !a.opts.NoColor && a.Getenv("NO_COLOR") == "" && isTerminal(w)
}

// wantJSON reports whether --json was given on the command or globally.
func wantJSON(c *ucli.Context) bool {
	for _, ctx := range c.Lineage() {
		if ctx.IsSet("json") && ctx.Bool("json") {
			return true
		}
	}
	return false
}

func exitCodeHelp() string {
	var b strings.Builder
	b.WriteString("EXIT CODES:\n")
	for _, e := range exit.Table {
		fmt.Fprintf(&b, "   %-4d %s\n", e.Code, e.Meaning)
	}
	return strings.TrimRight(b.String(), "\n")
}
