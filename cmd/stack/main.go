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
	"errors"
	"flag"
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

// usageText is stack's help.
const usageText = `usage: stack <command> [flags]   (stack <command> -h for its flags)

commands:
  demo            the whole platform on loopback, end to end (make demo); -keep leaves it
                  running and writes every token and URL to <dir>/ENV
  bench-gateway   the gateway against a bare reverse proxy, with loadgen
`

func run(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usageText)
		return fmt.Errorf("no command")
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Print(usageText)
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "bench-gateway":
		err = benchGateway(ctx, args[1:])
	case "demo":
		err = demo(ctx, args[1:])
	default:
		return fmt.Errorf("unknown command %q\n%s", args[0], usageText)
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil // the flag set printed its flags
	}
	return err
}
