// Command crawlctl is the crawler operator's tool for paycrawl: generate an
// Ed25519 key, register it (with a proof of possession) and a billing
// profile in the key directory, rotate and revoke keys, fetch pages through
// the signing, paying transport, read usage, and review, accept or decline
// the agreements publishers offer.
//
//	crawlctl keygen --out key.jwk
//	crawlctl register --name "Example Crawler" --contact ops@example.com --rail stripe --key key.jwk
//	crawlctl fetch https://publisher.example/article --max-price 0.05 --key key.jwk
//	crawlctl agreements accept agr_… --version 1 --key key.jwk
//
// The key directory is --keydir or PAYCRAWL_KEYDIR_URL; the API token is
// --token or PAYCRAWL_TOKEN. Output is for people; --json is for scripts.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "crawlctl:", err)
	}
	os.Exit(exitCode(err))
}
