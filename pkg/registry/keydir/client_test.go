package keydir

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/registry"
)

func TestClientErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer pct_x" {
			t.Errorf("Authorization %q", r.Header.Get("Authorization"))
		}
		switch r.URL.Path {
		case "/v1/keys":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"code":"duplicate_key","message":"key already registered","request_id":"r1"}`))
		case "/v1/agents":
			http.Error(w, "bad gateway from a proxy", http.StatusBadGateway)
		default:
			_, _ = w.Write([]byte(`{"keys": [`))
		}
	}))
	defer srv.Close()
	c := &Client{BaseURL: srv.URL + "/", Token: "pct_x"}
	ctx := context.Background()
	_, err := c.RegisterKey(ctx, registry.Proof{})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 409 || ae.Code != "duplicate_key" || ae.RequestID != "r1" || !IsCode(err, "duplicate_key") {
		t.Fatalf("RegisterKey error %v", err)
	}
	if _, err := c.Agents(ctx); !IsCode(err, "http_502") {
		t.Fatalf("non-JSON error answer: %v", err)
	}
	if _, err := c.Usage(ctx, "2026-01-02"); err == nil {
		t.Fatal("a truncated JSON answer was accepted")
	}
}
