// Command stack runs paycrawl's whole platform on loopback.
//
//	stack demo            the end-to-end demo (make demo)
//	stack bench-gateway   the gateway against a bare reverse proxy, with loadgen
//
// Each run builds the binaries, starts what it needs on free ports under
// -dir, and stops everything it started before it exits.
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
		fmt.Fprintln(os.Stderr, "stack:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: stack demo|bench-gateway [flags]")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "bench-gateway":
		return benchGateway(ctx, args[1:])
	case "demo":
		return demo(ctx, args[1:])
	}
	return fmt.Errorf("unknown command %q", args[0])
}
