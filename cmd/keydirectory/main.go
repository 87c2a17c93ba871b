// Command keydirectory is paycrawl's key directory service: crawler
// operators sign up, register Ed25519 keys with a proof of possession, name
// their agent URLs and set how they pay; every operator gets a hosted key
// directory, signed with the service's directory key: at the well-known
// path of its own origin op-<id>.<hosted_agents_base domain> when that is
// configured, and at <public_url>/agents/<operator id> either way. State
// lives in Redis.
//
//	keydirectory -config configs/keydirectory.example.yaml
//
// See configs/keydirectory.example.yaml for every setting and
// pkg/registry/api for the HTTP API.
package main

import (
	"context"
	"fmt"
	"github.com/paycrawl/paycrawl/internal/config"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "keydirectory:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := loadConfig(os.Args[1:], os.Getenv)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	logger, err := config.NewLogger(os.Stderr, cfg.LogLevel)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, cfg, logger, nil)
}
