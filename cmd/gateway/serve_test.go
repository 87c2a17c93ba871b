package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

const testConfig = `
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
offer_keys: [%s]
ledger: {addrs: [%s], prefix: tenant-a}
registry: {addrs: [%s], public_url: "https://keys.example"}
shutdown_grace: 5s
sites:
  - host: 127.0.0.1
    origin: %s
    publisher: pub_news
    currency: USD
    default_price: "%s"
`

// TestServeReloadAndShutdown runs the real gateway process function: it
// serves a paid request (recorded under the configured ledger prefix, where
// a settler of that prefix reads it), reloads prices on SIGHUP, refuses a
// bad reload, and on shutdown finishes the request in flight.
func TestServeReloadAndShutdown(t *testing.T) {
	ledgerRedis := testredis.Start(t, testredis.Options{})
	regRedis := testredis.Start(t, testredis.Options{})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(700 * time.Millisecond)
		}
		fmt.Fprint(w, "content")
	}))
	t.Cleanup(origin.Close)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	dir := t.TempDir()
	path := filepath.Join(dir, "gateway.yaml")
	write := func(price string) {
		cfg := fmt.Sprintf(testConfig, hex.EncodeToString(key), ledgerRedis.Addr(), regRedis.Addr(), origin.URL, price)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("0.01")

	// A crawler registered in the registry.
	domain := registry.WalletDomain{ChainID: 1337, Settler: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}
	store, err := registry.NewStore(regRedis.Client(), registry.Options{AgentBase: "https://keys.example", EVM: domain})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	op, _, err := store.SignUp(ctx, "crawler", "ops@crawler.example")
	if err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	proof, _ := registry.SignProof(priv, op.ID, time.Now())
	if _, err := store.RegisterKey(ctx, op.ID, proof); err != nil {
		t.Fatal(err)
	}
	walletKey, _ := crypto.GenerateKey()
	wallet := crypto.PubkeyToAddress(walletKey.PublicKey).Hex()
	walletProof, err := registry.SignWalletProof(walletKey, registry.WalletClaim{Purpose: registry.WalletPays, Account: op.ID,
		Wallet: wallet, ChainID: domain.ChainID, Settler: domain.Settler, IssuedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.SetBilling(ctx, op.ID, registry.Billing{Rail: registry.RailEVM, Wallet: wallet, WalletProof: &walletProof,
		DailyCap: 100 * money.Scale, DefaultMaxPrice: money.Scale}); err != nil {
		t.Fatal(err)
	}
	signer, _ := deferred.NewSigner(priv, store.HostedAgentURL(op.ID))
	client := &http.Client{Transport: &deferred.Transport{Signer: signer, PreAuthorize: true,
		MaxPrice: money.Amount{Currency: "USD", Value: money.Scale}}}

	sctx, shutdown := context.WithCancel(context.Background())
	ready := make(chan addrs, 1)
	done := make(chan error, 1)
	go func() { done <- serve(sctx, path, "error", func(a addrs) { ready <- a }) }()
	var a addrs
	select {
	case a = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("gateway did not start")
	}
	charged := func(p string) string {
		t.Helper()
		resp, err := client.Get("http://" + a.Proxy + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d %s", p, resp.StatusCode, resp.Header.Get("crawler-error"))
		}
		return resp.Header.Get(deferred.HeaderCrawlerCharged)
	}
	if got := charged("/a"); got != "USD 0.01" {
		t.Fatalf("charged %q", got)
	}
	for prefix, want := range map[string]int64{"tenant-a": 1, ledger.DefaultPrefix: 0} {
		l, err := ledger.New(ledgerRedis.Client(), ledger.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		agg, err := l.Aggregate(ctx, op.ID, ledger.Day(time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		if got := agg.Currencies["USD"].Count; got != want {
			t.Fatalf("ledger prefix %s holds %d commitments, want %d", prefix, got, want)
		}
	}
	// SIGHUP with a new price.
	write("0.02")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for charged("/b") != "USD 0.02" {
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not reload the price")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A broken file is refused; the running prices stay.
	if err := os.WriteFile(path, []byte("sites: [{host: x}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGHUP)
	time.Sleep(200 * time.Millisecond)
	if got := charged("/c"); got != "USD 0.02" {
		t.Fatalf("after a bad reload charged %q", got)
	}
	// Admin port answers.
	resp, err := http.Get("http://" + a.Admin + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get("http://" + a.Admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `paycrawl_gateway_requests_total{code="",outcome="charged"`) {
		t.Fatalf("metrics lack the charged counter")
	}
	// Shutdown finishes the request in flight.
	slow := make(chan string, 1)
	go func() {
		resp, err := client.Get("http://" + a.Proxy + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		slow <- resp.Header.Get(deferred.HeaderCrawlerCharged)
	}()
	time.Sleep(200 * time.Millisecond)
	shutdown()
	select {
	case got := <-slow:
		if got != "USD 0.02" {
			t.Fatalf("in-flight request charged %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("in-flight request did not finish")
	}
	if err := <-done; err != nil {
		t.Fatalf("serve returned %v", err)
	}
}
