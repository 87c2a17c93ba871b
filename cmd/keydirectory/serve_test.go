package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/internal/teststripe"
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
