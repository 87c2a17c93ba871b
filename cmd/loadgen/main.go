// Command loadgen measures paycrawl's gateway. It has three parts:
//
//	loadgen origin -listen 127.0.0.1:9000 [-size 2048]     a static origin site
//	loadgen proxy  -listen 127.0.0.1:9001 -target URL       a bare httputil.ReverseProxy, the baseline
//	loadgen run    -url URL -n 20000 -c 32 [-key key.jwk -agent URL -max-price 0.05]
//
// run pre-signs n distinct requests (one path and one nonce each; unsigned
// without -key), then sends them at a fixed concurrency and reports
// throughput, latency percentiles and statuses, as text or -json.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: loadgen origin|proxy|run [flags]")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "origin":
		return cmdOrigin(ctx, args[1:])
	case "proxy":
		return cmdProxy(ctx, args[1:])
	case "run":
		return cmdRun(ctx, args[1:], os.Stdout)
	}
	return fmt.Errorf("unknown command %q: want origin, proxy or run", args[0])
}
