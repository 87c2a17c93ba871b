// Command gateway is paycrawl's metering reverse proxy for publishers: it
// verifies crawlers' signed commitments, prices each request, forwards it to
// the origin and records every paid 2xx in the Redis ledger before sending
// it. SIGHUP reloads sites and prices.
//
//	gateway -config configs/gateway.example.yaml
//
// See configs/gateway.example.yaml for every setting.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	configPath := fs.String("config", "configs/gateway.example.yaml", "configuration file")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, *configPath, *logLevel, nil)
}
