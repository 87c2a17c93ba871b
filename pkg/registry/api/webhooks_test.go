package api

import (
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/netguard"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
	"github.com/paycrawl/paycrawl/pkg/webhook"
)

// TestOperatorWebhooks: an operator registers, lists and removes its own
// webhook endpoints and reads their delivery log; the secret is shown once;
// another operator sees none of it; bad URLs and event types are 400s.
func TestOperatorWebhooks(t *testing.T) {
	e := newEnv(t, envOptions{})
	hooks, err := webhook.NewStore(e.rdb, webhook.Options{AllowHTTP: true, Policy: &netguard.Policy{Allow: netguard.LoopbackPrefixes()}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Store: e.store, Webhooks: hooks, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e.ts = httptest.NewServer(srv.Handler())
	defer e.ts.Close()
	alice, bob := e.signUp("alice"), e.signUp("bob")

	bad := []struct {
		name string
		body any
		code string
	}{
		{"not https", map[string]any{"url": "ftp://hooks.example/"}, "invalid_webhook"},
		{"private address", map[string]any{"url": "http://10.0.0.1/hook"}, "invalid_webhook"},
		{"finance event", map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"invoice.voided"}}, "invalid_webhook"},
		{"unknown field", map[string]any{"url": "http://127.0.0.1:9/hook", "secret": "x"}, "invalid_json"},
	}
	for _, tt := range bad { // e.wantError fails e.t: no subtests
		t.Log(tt.name)
		e.wantError(400, tt.code, "POST", "/v1/operators/me/webhooks", alice.token, tt.body)
	}
	e.wantError(401, "unauthorized", "POST", "/v1/operators/me/webhooks", "", map[string]any{"url": "http://127.0.0.1:9/hook"})

	status, raw, _ := e.call("POST", "/v1/operators/me/webhooks", alice.token,
		map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{webhook.EventUsageCap80, webhook.EventInvoicePaid}})
	var ep webhook.Endpoint
	if err := json.Unmarshal(raw, &ep); err != nil || status != 201 || ep.Secret == "" || ep.Owner != alice.id {
		t.Fatalf("register: %d %s", status, raw)
	}
	status, raw, _ = e.call("GET", "/v1/operators/me/webhooks", alice.token, nil)
	var list keydir.WebhooksResponse
	if err := json.Unmarshal(raw, &list); err != nil || status != 200 || len(list.Endpoints) != 1 || list.Endpoints[0].Secret != "" ||
		len(list.Events) != len(webhook.OperatorEvents) {
		t.Fatalf("list: %d %s", status, raw)
	}
	if _, raw, _ := e.call("GET", "/v1/operators/me/webhooks", bob.token, nil); json.Unmarshal(raw, &list) != nil || len(list.Endpoints) != 0 {
		t.Fatalf("bob sees alice's endpoints: %s", raw)
	}
	e.wantError(404, "not_found", "GET", "/v1/operators/me/webhooks/"+ep.ID+"/deliveries", bob.token, nil)
	e.wantError(404, "not_found", "DELETE", "/v1/operators/me/webhooks/"+ep.ID, bob.token, nil)
	if status, raw, _ := e.call("GET", "/v1/operators/me/webhooks/"+ep.ID+"/deliveries", alice.token, nil); status != 200 {
		t.Fatalf("deliveries: %d %s", status, raw)
	}
	if status, _, _ := e.call("DELETE", "/v1/operators/me/webhooks/"+ep.ID, alice.token, nil); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	// Without a store the routes say so.
	e.ts.Close()
	e.ts = httptest.NewServer(e.server.Handler())
	e.wantError(501, "webhooks_unavailable", "GET", "/v1/operators/me/webhooks", alice.token, nil)
}
