// Command hookstream is the whole pipeline in one binary: the gateway, the
// processors, an embedded NATS server and (when DATABASE_URL is unset) a
// private PostgreSQL cluster, plus the operator's verbs.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := cpuProfile(os.Getenv("HOOKSTREAM_CPU_PROFILE"), os.Stderr)
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	stopProfile()
	os.Exit(code)
}

// cpuProfile writes a CPU profile of the whole run to path (make bench
// PROFILE=1 sets HOOKSTREAM_CPU_PROFILE for serve); the returned func stops
// and flushes it. An empty path profiles nothing.
func cpuProfile(path string, stderr io.Writer) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		if err = pprof.StartCPUProfile(f); err != nil {
			f.Close()
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "hookstream: no CPU profile: %v\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// command is one verb.
type command struct {
	name  string
	short string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "gateway + all processors + embedded NATS (+ private Postgres) in one process", runServe},
		{"gateway", "the HTTP gateway only (scale out behind a load balancer)", runGateway},
		{"process", "processors only (--only contacts,boards,…)", runProcess},
		{"migrate", "apply the embedded database migrations", runMigrate},
		{"webhooks", "manage inbound webhooks (create|list|show|disable|enable|rotate-secret)", runWebhooks},
		{"boards", "sales boards and their routing rules (create|list|rules add|list|remove)", runBoards},
		{"scoring", "lead scoring weights per workspace (show|set)", runScoring},
		{"sign", "sign a body like a Standard Webhooks sender (prints curl headers)", runSign},
		{"replay", "re-drive a processor from a sequence/time, or rebuild projections (--rebuild)", runReplay},
		{"dlq", "dead letters (list|show|retry|discard)", runDLQ},
		{"events", "audit trail: one event's full history (show) or recent events (list)", runEvents},
		{"stats", "per-webhook analytics: success/error rate, average and p50/p95/p99 processing time", runStats},
		{"notify", "notification rules, recent notifications, test a channel (rules|list|test)", runNotify},
		{"contacts", "erase a contact's personal data (forget)", runContacts},
	}
}

// Main runs one verb and returns the exit code: 0, 1 on failure (with a
// one-line reason on stderr), 2 on usage errors.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			if err := c.run(ctx, args[1:], stdout, stderr); err != nil {
				if errors.Is(err, errUsage) {
					return 2
				}
				if errors.Is(err, errHelp) {
					return 0
				}
				fmt.Fprintf(stderr, "hookstream %s: %v\n", c.name, oneLine(err))
				return 1
			}
			return 0
		}
	}
	fmt.Fprintf(stderr, "hookstream: unknown command %q (see hookstream --help)\n", args[0])
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: hookstream <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.short)
	}
	fmt.Fprintln(w, "\nEvery command takes --help. Flags can also be set as HOOKSTREAM_<FLAG> environment variables.")
	fmt.Fprintln(w, "HOOKSTREAM_CPU_PROFILE=file writes a CPU profile of the whole run (go tool pprof).")
}
