// Command gateway is paycrawl's metering reverse proxy for publishers: it
// verifies crawlers' signed commitments, prices each request, forwards it to
// the origin and records every paid 2xx in the Redis ledger before sending
// it. SIGHUP reloads sites and prices.
//
//	gateway -config configs/gateway.example.yaml
//	gateway -check configs/gateway.example.yaml   # validate, print a summary, exit
//	gateway agreements offer|list|show|withdraw … # the publisher's agreements in the key directory
//
// See configs/gateway.example.yaml for every setting.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/paycrawl/paycrawl/internal/gateway"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) > 1 && os.Args[1] == "agreements" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runAgreements(ctx, os.Args[2:], os.Stdout, os.Getenv)
	}
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	configPath := fs.String("config", "configs/gateway.example.yaml", "configuration file")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	check := fs.String("check", "", "validate this configuration file (every error with its line), print a summary and exit")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	if *check != "" {
		return checkConfig(os.Stdout, *check)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, *configPath, *logLevel, nil)
}

// checkConfig validates the configuration at path and summarises it.
func checkConfig(w io.Writer, path string) error {
	cfg, err := gateway.LoadConfig(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	rules, overrides := 0, 0
	for _, s := range cfg.Sites {
		rules += len(s.Rules)
		overrides += len(s.Crawlers)
	}
	fmt.Fprintf(w, "%s: OK: %d sites, %d price rules, %d crawler overrides, %d publishers\n",
		path, len(cfg.Sites), rules, overrides, len(cfg.Publishers))
	return nil
}
