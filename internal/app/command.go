// Package app is tenant-app, the reference tenant workload that tenantctl
// deploys in the exec profile and in end-to-end tests, in place of a
// customer's own app and job worker.
//
// `tenant-app serve` is a small JSON API over the tenant's Postgres: health
// and readiness, and CRUD for contacts and deals scoped to the organization
// named by the X-Org-ID header. Every request runs in a transaction that sets
// app.current_org, and row-level security does the isolation.
//
// `tenant-app work` consumes jobs from a Redis stream with a consumer group
// and applies each exactly once, recording it in processed_jobs in the same
// transaction.
//
// Both read their Postgres and Redis credentials from the file a Nomad
// template renders from Vault (TENANT_APP_ENV_FILE), never from arguments,
// and on SIGHUP re-read it, build new connection pools, swap them in and
// drain the old ones. See docs/tenant-app.md.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/tenantctl/tenantctl/internal/exit"
)

// Environment variables besides the connection settings.
const (
	NomadPortVar       = "NOMAD_PORT_http"
	TenantIDVar        = "TENANT_ID"
	ShutdownTimeoutVar = "TENANT_APP_SHUTDOWN_TIMEOUT"
	StreamVar          = "TENANT_APP_STREAM"
	ConsumerVar        = "TENANT_APP_CONSUMER"
	allocIDVar         = "NOMAD_ALLOC_ID"
	nomadIPVar         = "NOMAD_IP_http"
	nomadHostPortVar   = "NOMAD_HOST_PORT_http"
)

// DefaultShutdownTimeout fits inside Nomad's default kill_timeout of 5s.
const DefaultShutdownTimeout = 4 * time.Second

// Env is what the process gives tenant-app: its environment, output streams
// and the SIGHUP notifications that trigger a reload.
type Env struct {
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
	// Reload delivers a value for each SIGHUP; nil disables reloading.
	Reload <-chan os.Signal
	// Ready, when not nil, receives the listening address once serving.
	Ready chan<- string
}

const usage = `Usage: tenant-app serve [--addr HOST:PORT] [--shutdown-timeout 4s] [--stream NAME]
       tenant-app work  [--addr HOST:PORT] [--shutdown-timeout 4s] [--stream NAME]
                        [--group NAME] [--consumer NAME] [--claim-idle 30s]

Connection settings (DATABASE_URL, REDIS_ADDR, REDIS_USERNAME, REDIS_PASSWORD)
are read from the file named by TENANT_APP_ENV_FILE, or from the environment
when it is unset; SIGHUP re-reads them. --addr defaults to Nomad's http port:
$NOMAD_IP_http:$NOMAD_PORT_http without a port mapping, else :$NOMAD_PORT_http.
`

// Run runs the tenant-app command in args (without the program name) until
// ctx ends (SIGTERM or SIGINT), then shuts down gracefully.
func Run(ctx context.Context, args []string, env Env) error {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if len(args) == 0 {
		return exit.UsageError("tenant-app serve, or tenant-app work", "no command given\n%s", usage)
	}
	switch args[0] {
	case "serve", "work":
	case "help", "-h", "--help":
		if env.Stdout != nil {
			fmt.Fprint(env.Stdout, usage)
		}
		return nil
	default:
		return exit.UsageError("tenant-app serve, or tenant-app work", "unknown command %q", args[0])
	}
	cmd := args[0]
	fs := flag.NewFlagSet("tenant-app "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", "", "listen address (default: Nomad's http port)")
	shutdown := fs.Duration("shutdown-timeout", envDuration(env.Getenv, ShutdownTimeoutVar, DefaultShutdownTimeout),
		"how long in-flight work may take after SIGTERM; keep it below the task's kill_timeout")
	stream := fs.String("stream", envOr(env.Getenv, StreamVar, DefaultStream), "Redis stream of jobs")
	var wopts WorkerOptions
	if cmd == "work" {
		fs.StringVar(&wopts.Group, "group", DefaultGroup, "consumer group")
		fs.StringVar(&wopts.Consumer, "consumer", envOr(env.Getenv, ConsumerVar, defaultConsumer(env.Getenv)), "consumer name, stable across restarts")
		fs.DurationVar(&wopts.ClaimIdle, "claim-idle", 30*time.Second, "claim messages other consumers left unacknowledged this long")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			if env.Stdout != nil {
				fmt.Fprint(env.Stdout, usage)
			}
			return nil
		}
		return exit.UsageError("tenant-app "+cmd+" --help", "%v", err)
	}
	if fs.NArg() > 0 {
		return exit.UsageError("connection settings go in TENANT_APP_ENV_FILE, never on the command line",
			"unexpected arguments %q", fs.Args())
	}
	if *addr == "" {
		if *addr = listenAddr(env.Getenv); *addr == "" {
			return exit.UsageError("pass --addr 127.0.0.1:8080 or set NOMAD_PORT_http", "no listen address")
		}
	}
	if *shutdown <= 0 {
		return exit.UsageError("pass a positive duration such as 4s", "--shutdown-timeout must be positive")
	}

	logger := slog.New(slog.NewJSONHandler(env.Stderr, nil)).With("component", cmd)
	if id := env.Getenv(TenantIDVar); id != "" {
		logger = logger.With("tenant", id)
	}
	src := SettingsSource{File: env.Getenv(EnvFileVar), Getenv: env.Getenv}
	pools, err := OpenPools(src, "tenant-app-"+cmd, logger)
	if err != nil {
		return exit.Wrap(err, exit.Usage, "check the template that renders "+EnvFileVar+" (or the environment)")
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if env.Reload != nil {
		go pools.reloadOn(ctx, env.Reload)
	}

	srv := NewServer(pools, *stream, logger)
	srv.Tenant = env.Getenv(TenantIDVar)
	handler := srv.Handler()
	var worker *Worker
	if cmd == "work" {
		wopts.Stream = *stream
		worker = NewWorker(pools, wopts, logger)
		handler = workerHandler(srv)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		pools.Close()
		return exit.Wrap(fmt.Errorf("listen on %s: %w", *addr, err), exit.Failure, "choose a free port with --addr")
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	logger.Info("listening", attrAddr, ln.Addr().String())
	if env.Ready != nil {
		env.Ready <- ln.Addr().String()
	}

	workDone := make(chan struct{})
	if worker != nil {
		go func() { defer close(workDone); _ = worker.Run(ctx) }()
	} else {
		close(workDone)
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		cancel()
		<-workDone
		pools.Close()
		return fmt.Errorf("serve: %w", err)
	}
	logger.Info("shutting down", "timeout", shutdown.String())
	srv.Drain()
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), *shutdown)
	defer scancel()
	err = hs.Shutdown(sctx)
	select {
	case <-workDone:
	case <-sctx.Done():
	}
	if err != nil || sctx.Err() != nil {
		// Closing the connections cancels the requests' contexts, which
		// cancels their queries; give the pools a moment to close.
		_ = hs.Close()
		closed := make(chan struct{})
		go func() { pools.Close(); close(closed) }()
		select {
		case <-closed:
		case <-time.After(time.Second):
		}
		logger.Warn("shutdown timed out; in-flight work was cut off")
		return nil
	}
	pools.Close()
	logger.Info("stopped")
	return nil
}

// workerHandler serves the worker's health and readiness only.
func workerHandler(s *Server) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/health", s.health)
	mux.HandleFunc("GET /api/ready", s.ready)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, errorf(http.StatusNotFound, "no_route", "no such endpoint"))
	})
	return requestLog(s.log, mux)
}

// listenAddr is the default listen address from Nomad's port variables.
// Without a port mapping (raw_exec, exec) the task binds only the address
// Nomad allocated the port on, NOMAD_IP_http; with one (docker, `to = 8080`)
// NOMAD_IP_http is the host's, so it binds every interface of the container.
func listenAddr(getenv func(string) string) string {
	port := getenv(NomadPortVar)
	if port == "" {
		return ""
	}
	if ip := getenv(nomadIPVar); ip != "" && getenv(nomadHostPortVar) == port {
		return net.JoinHostPort(ip, port)
	}
	return ":" + port
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func envDuration(getenv func(string) string, key string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(getenv(key)); err == nil && d > 0 {
		return d
	}
	return def
}

// defaultConsumer names the consumer after the Nomad allocation, which is
// stable across restarts of the task, or after the host and process.
func defaultConsumer(getenv func(string) string) string {
	if id := getenv(allocIDVar); id != "" {
		return id
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}
