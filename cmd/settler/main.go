// Command settler is paycrawl's daily settlement: it closes each crawler's
// day into invoices, waits out finance's review window, and charges each
// invoice exactly once on Stripe or in a stablecoin (ERC-20 USDC). State is
// the ledger in Redis; billing profiles come from the operator registry.
//
//	settler run      -config configs/settler.example.yaml   # the daemon (cron)
//	settler close    -config … --day 2026-11-20 [--json]    # build a day's invoices
//	settler approve  -config … --day 2026-11-20 [--json]    # approve drafts past review
//	settler charge   -config … --day 2026-11-20 [--json]    # approve due, then charge
//	settler run-once -config … [--json]                     # all of it, for the look-back days
//	settler devchain serve|key|deploy|fund|mint|approve|balance …  # the embedded test chain
//	settler serve    -config …                              # the finance API and review page only
//	settler archive  run --day 2026-11-20 | verify [--day …] # the cold tier (archive.store)
//	settler invoices list|summary|show|hold|release|void|credit|approve|refund|topup|export|audit …  # finance, through the API
//	settler payouts  run|list|show|hold|release|cancel …    # publishers' payouts (weekly by payouts.cron)
//
// `settler run` and `settler serve` serve finance's review on listen
// (127.0.0.1:8404): a JSON API under /v1 for bearer tokens (the `settler
// invoices` commands use it, with --url/$PAYCRAWL_SETTLER_URL and
// --token/$PAYCRAWL_FINANCE_TOKEN), a web page at /, and /healthz, /readyz,
// /metrics.
//
// Every command that changes invoices takes the settler lock in the ledger,
// so replicas, manual runs and finance's actions never act on an invoice at
// the same time. See configs/settler.example.yaml for every setting.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	_ "time/tzdata" // schedule.time_zone works without the system's zone files
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "settler:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runCLI(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
}

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, io ioEnv) error
}

// ioEnv is what a command reads and writes besides its arguments.
type ioEnv struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// commands lists the subcommands.
func commands() map[string]command {
	return map[string]command{
		"run":      {"the daemon: run once now, then on the cron schedule", cmdRun},
		"close":    {"close a day: build, check and (on mismatch) hold its invoices", cmdClose},
		"approve":  {"approve a day's checked drafts whose review window passed", cmdApprove},
		"charge":   {"approve what is due, then charge a day's invoices", cmdCharge},
		"run-once": {"close, approve and charge every day of the look-back window", cmdRunOnce},
		"devchain": {"the embedded test chain and its token (tests and demos)", cmdDevchain},
		"serve":    {"serve the finance API and review page (and /healthz, /readyz, /metrics)", cmdServe},
		"archive":  {"the cold tier: archive a day's final crawler-days (run), check the archive (verify)", cmdArchive},
		"invoices": {"finance review through the API: list, show, hold, release, void, credit, approve, refund, topup, export, audit", cmdInvoices},
		"payouts":  {"publishers' payouts: run, list, show, hold, release, cancel", cmdPayouts},
	}
}

// runCLI runs the subcommand named by args[0].
func runCLI(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, usage(cmds))
		if len(args) == 0 {
			return fmt.Errorf("no command")
		}
		return nil
	}
	c, ok := cmds[args[0]]
	if !ok {
		return fmt.Errorf("unknown command %q\n%s", args[0], usage(cmds))
	}
	return c.run(ctx, args[1:], ioEnv{stdout: stdout, stderr: stderr, getenv: getenv})
}

func usage(cmds map[string]command) string {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: settler <command> [-config file.yaml] [flags]\n\ncommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-9s %s\n", n, cmds[n].summary)
	}
	b.WriteString("\nRun settler <command> -h for its flags.\n")
	return b.String()
}
