// Command hsbench is Hookstream's load bench, run by `make bench`: it builds
// nothing itself when given the binary (make builds bin/hookstream first),
// runs every phase, prints the figures beside their targets and writes
// bench/results.json. See bench/README.md.
//
//	hsbench [-smoke | -full] [-profile] [-bin bin/hookstream] [-out bench/out] [-results bench/results.json]
//
// BENCH=full and PROFILE=1 in the environment (make bench BENCH=full
// PROFILE=1) do what -full and -profile do.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hookstream/hookstream/bench"
)

func main() {
	bench.MaybeChild()
	var (
		smoke    = flag.Bool("smoke", false, "a few seconds with small counts (checks the harness, not the targets)")
		full     = flag.Bool("full", os.Getenv("BENCH") == "full", "rebuild 1,000,000 events (env BENCH=full)")
		profile  = flag.Bool("profile", isTrue(os.Getenv("PROFILE")), "write CPU profiles into -out (env PROFILE=1)")
		bin      = flag.String("bin", "bin/hookstream", "hookstream binary to run; empty builds one")
		out      = flag.String("out", "bench/out", "directory for CPU profiles")
		results  = flag.String("results", "bench/results.json", "where to write the results; empty skips")
		conns    = flag.Int("conns", 64, "load generator connections")
		keep     = flag.Bool("keep", false, "keep the work directory (logs, stores)")
		backlog  = flag.Int("backlog", 0, "contacts backlog size (default 100000; smoke 400)")
		rebuildN = flag.Int("rebuild-events", 0, "events in the rebuild (default: the backlog; 1000000 with -full)")
		drainCap = flag.Duration("drain-cap", 0, "longest a projection drain or rebuild may run (default 45s; 45m with -full)")
		phases   = flag.String("phases", "", "comma-separated subset: http,jetstream,gateway,e2e,projection (default all)")
	)
	flag.Parse()
	mode := bench.ModeDefault
	switch {
	case *smoke && *full:
		fmt.Fprintln(os.Stderr, "hsbench: -smoke and -full exclude each other")
		os.Exit(2)
	case *smoke:
		mode = bench.ModeSmoke
	case *full:
		mode = bench.ModeFull
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := bench.Run(ctx, bench.Options{Mode: mode, Profile: *profile, OutDir: *out, Bin: *bin,
		Conns: *conns, DatabaseURL: os.Getenv("DATABASE_URL"), Keep: *keep, Phases: splitList(*phases),
		Backlog: *backlog, RebuildEvents: *rebuildN, DrainCap: *drainCap})
	if res != nil {
		res.Table(os.Stdout)
		if *results != "" {
			if werr := res.WriteJSON(*results); werr != nil {
				fmt.Fprintf(os.Stderr, "hsbench: %v\n", werr)
				os.Exit(1)
			}
			fmt.Printf("\nresults: %s\n", *results)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "hsbench: %v\n", err)
		os.Exit(1)
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func isTrue(s string) bool {
	switch s {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}
