package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/internal/teststripe"
	"github.com/paycrawl/paycrawl/pkg/deferred"
)

// TestServeStartsAndStops runs the whole service as main wires it, on real
// Redis and stripe-mock: it answers, signs up an operator, sets a stripe
// billing profile (creating a customer), and shuts down cleanly when its
// context ends.
func TestServeStartsAndStops(t *testing.T) {
	rs := testredis.Start(t, testredis.Options{NoAOF: true})
	cfg := defaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Redis.Addrs = []string{rs.Addr()}
	cfg.AdminToken = goodToken
	cfg.Stripe = StripeConfig{APIKey: teststripe.APIKey, APIURL: teststripe.Start(t)}
	cfg.ShutdownGrace = 2 * time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, logger, func(a string) { addrc <- a }) }()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("serve returned early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}
	resp, err := http.Get(base + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Post(base+"/v1/operators", "application/json", strings.NewReader(`{"name":"x","contact":"x@crawler.example"}`))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("sign-up: %v %v", resp, err)
	}
	var su struct{ Token string }
	_ = json.NewDecoder(resp.Body).Decode(&su)
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodPut, base+"/v1/operators/me/billing", strings.NewReader(`{"rail":"stripe","daily_cap":"5.00","default_max_price":"0.05"}`))
	req.Header.Set("Authorization", "Bearer "+su.Token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("billing: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(logs.String(), `"msg":"keydirectory listening"`) || !strings.Contains(logs.String(), `"request_id"`) {
		t.Fatalf("JSON logs missing lines:\n%s", logs.String())
	}
}

// TestServeHostedDirectory runs the service with hosted_agents_base and a
// directory key file: sign-up reports the operator's own origin, whose
// well-known directory (reached here with an explicit Host header) is
// signed with the key from the file, which the service's own directory
// publishes.
func TestServeHostedDirectory(t *testing.T) {
	rs := testredis.Start(t, testredis.Options{NoAOF: true})
	keyFile := filepath.Join(t.TempDir(), "dir.jwk")
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	dirKey, err := deferred.WriteKeyFile(keyFile, priv, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Redis.Addrs = []string{rs.Addr()}
	cfg.AdminToken = goodToken
	cfg.HostedAgentsBase = "http://agents.localhost"
	cfg.DirectoryKeyFiles = []string{keyFile}
	cfg.ShutdownGrace = 2 * time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), func(a string) { addrc <- a }) }()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("serve returned early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}
	resp, err := http.Post("http://"+addr+"/v1/operators", "application/json", strings.NewReader(`{"name":"x","contact":"x@crawler.example"}`))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("sign-up: %v %v", resp, err)
	}
	var su struct {
		Operator struct {
			ID       string `json:"id"`
			AgentURL string `json:"agent_url"`
		} `json:"operator"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&su)
	resp.Body.Close()
	host := "op-" + strings.TrimPrefix(su.Operator.ID, "op_") + ".agents.localhost"
	if su.Operator.AgentURL != "http://"+host {
		t.Fatalf("agent_url %q, want http://%s", su.Operator.AgentURL, host)
	}
	for _, h := range []string{host, "127.0.0.1"} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+deferred.WellKnownDirectoryPath, nil)
		req.Host = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %v %v", h, resp, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := deferred.VerifyDirectoryProof(resp.Header, body, &url.URL{Scheme: "http", Host: h, Path: deferred.WellKnownDirectoryPath}, dirKey, time.Now()); err != nil {
			t.Fatalf("%s: not signed with the configured key: %v", h, err)
		}
		if h == "127.0.0.1" && !strings.Contains(string(body), `"x":"`+dirKeyX(t, dirKey)+`"`) {
			t.Fatalf("the service's own directory does not publish the directory key: %s", body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

// dirKeyX is the x member of a key's JWK.
func dirKeyX(t *testing.T, k deferred.Key) string {
	var jwk struct{ X string }
	if err := json.Unmarshal(k.JWK(), &jwk); err != nil {
		t.Fatal(err)
	}
	return jwk.X
}
