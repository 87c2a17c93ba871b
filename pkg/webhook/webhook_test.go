package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/testclock"
	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/pkg/netguard"
	"github.com/paycrawl/paycrawl/pkg/webhook"
)

func TestSignAndVerify(t *testing.T) {
	now := time.Unix(1_796_000_000, 0)
	body := []byte(`{"id":"evt_1","type":"invoice.paid"}`)
	good := webhook.Sign("whsec_a", now, body)
	tests := []struct {
		name   string
		secret string
		header string
		body   []byte
		at     time.Time
		want   error
	}{
		{"good", "whsec_a", good, body, now, nil},
		{"four minutes later", "whsec_a", good, body, now.Add(4 * time.Minute), nil},
		{"rotation: a second v1 matches", "whsec_a", "t=1796000000,v1=00ff," + strings.SplitN(good, ",", 2)[1], body, now, nil},
		{"wrong secret", "whsec_b", good, body, now, webhook.ErrBadSignature},
		{"body changed", "whsec_a", good, []byte(`{"id":"evt_1","type":"invoice.failed"}`), now, webhook.ErrBadSignature},
		{"timestamp changed", "whsec_a", strings.Replace(good, "t=1796000000", "t=1796000001", 1), body, now, webhook.ErrBadSignature},
		{"replayed later", "whsec_a", good, body, now.Add(6 * time.Minute), webhook.ErrStale},
		{"from the future", "whsec_a", good, body, now.Add(-6 * time.Minute), webhook.ErrStale},
		{"no header", "whsec_a", "", body, now, webhook.ErrNoSignature},
		{"no v1", "whsec_a", "t=1796000000", body, now, webhook.ErrNoSignature},
		{"bad t", "whsec_a", "t=soon,v1=00", body, now, webhook.ErrNoSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := webhook.Verify(tt.secret, tt.header, tt.body, tt.at, 0); !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDefaultBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 30 * time.Second, 2: time.Minute, 3: 2 * time.Minute, 7: 32 * time.Minute, 8: time.Hour, 20: time.Hour} {
		if got := webhook.DefaultBackoff(n); got != want {
			t.Errorf("DefaultBackoff(%d) = %s, want %s", n, got, want)
		}
	}
}

// receiver is a real local endpoint that verifies every delivery's
// signature and fails the first fail deliveries with a 500.
type receiver struct {
	t      *testing.T
	secret string
	fail   int

	mu       sync.Mutex
	got      []webhook.Event
	attempts int
	bad      []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.attempts++
	if err := webhook.Verify(rc.secret, r.Header.Get(webhook.HeaderSignature), body, time.Now(), 0); err != nil {
		rc.bad = append(rc.bad, err.Error())
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	if rc.attempts <= rc.fail {
		http.Error(w, "not now", http.StatusInternalServerError)
		return
	}
	var ev webhook.Event
	if err := json.Unmarshal(body, &ev); err != nil || r.Header.Get(webhook.HeaderEventID) != ev.ID || r.Header.Get(webhook.HeaderEventType) != ev.Type {
		rc.bad = append(rc.bad, "body and headers disagree")
	}
	rc.got = append(rc.got, ev)
	w.WriteHeader(http.StatusNoContent)
}

func newStore(t *testing.T, c *testclock.Clock, max int) *webhook.Store {
	t.Helper()
	rdb := testredis.Start(t, testredis.Options{NoAOF: true}).Client()
	s, err := webhook.NewStore(rdb, webhook.Options{Now: c.Now, AllowHTTP: true, MaxAttempts: max,
		Policy:  &netguard.Policy{Allow: netguard.LoopbackPrefixes()},
		Backoff: func(n int) time.Duration { return time.Duration(n) * time.Minute }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDeliveryIsSignedRetriedAndLogged: a real receiver verifies the
// signature of each delivery; its first answer is a 500, so the delivery
// is retried after the backoff, and the log shows both attempts. A
// repeated event is not delivered again; an endpoint gets only the types
// it asked for.
func TestDeliveryIsSignedRetriedAndLogged(t *testing.T) {
	ctx := context.Background()
	c := testclock.New(time.Now())
	s := newStore(t, c, 5)
	rc := &receiver{t: t, fail: 1}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	ep, err := s.AddEndpoint(ctx, "finance", srv.URL+"/hooks", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rc.secret = ep.Secret
	paidOnly, err := s.AddEndpoint(ctx, "finance", srv.URL+"/paid", []string{"invoice.paid"}, []string{"invoice.paid", "invoice.held"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ep.Secret, "whsec_") || paidOnly.Secret == ep.Secret {
		t.Fatalf("secrets %q %q", ep.Secret, paidOnly.Secret)
	}
	ev := webhook.Event{ID: "evt_inv_1_held", Type: "invoice.held", Data: json.RawMessage(`{"invoice":"inv_1"}`)}
	if n, err := s.Emit(ctx, "finance", ev); err != nil || n != 1 {
		t.Fatalf("Emit: %d, %v (the paid-only endpoint must not take it)", n, err)
	}
	if n, err := s.Emit(ctx, "finance", ev); err != nil || n != 0 {
		t.Fatalf("Emit again: %d, %v", n, err)
	}
	if n, err := s.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("first run: %d, %v", n, err)
	}
	if n, _ := s.RunOnce(ctx); n != 0 {
		t.Fatalf("retried before its backoff: %d", n)
	}
	log, err := s.Log(ctx, "finance", ep.ID, 0)
	if err != nil || len(log) != 1 || log[0].Outcome != "retrying" || log[0].Status != 500 || log[0].Next == nil ||
		!log[0].Next.Equal(c.Now().Add(time.Minute).UTC().Truncate(time.Nanosecond)) {
		t.Fatalf("log after the failure: %+v, %v", log, err)
	}
	c.Advance(time.Minute + time.Second)
	if n, err := s.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("second run: %d, %v", n, err)
	}
	rc.mu.Lock()
	got, attempts, bad := rc.got, rc.attempts, rc.bad
	rc.mu.Unlock()
	if len(bad) != 0 || attempts != 2 || len(got) != 1 || got[0].ID != ev.ID || string(got[0].Data) != `{"invoice":"inv_1"}` {
		t.Fatalf("receiver: %d attempts, got %+v, bad %v", attempts, got, bad)
	}
	log, _ = s.Log(ctx, "finance", ep.ID, 0)
	if len(log) != 2 || log[0].Outcome != "delivered" || log[0].Attempt != 2 || log[1].Outcome != "retrying" {
		t.Fatalf("log: %+v", log)
	}
	if _, err := s.Log(ctx, "op_other", ep.ID, 0); !errors.Is(err, webhook.ErrNotFound) {
		t.Fatalf("another owner's log: %v", err)
	}
	eps, err := s.Endpoints(ctx, "finance")
	if err != nil || len(eps) != 2 || eps[0].Secret != "" {
		t.Fatalf("endpoints: %+v, %v", eps, err)
	}
}

// TestDeliveryGivesUp: after MaxAttempts failed attempts the delivery is
// marked failed and no longer tried.
func TestDeliveryGivesUp(t *testing.T) {
	ctx := context.Background()
	c := testclock.New(time.Now())
	s := newStore(t, c, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	defer srv.Close()
	ep, err := s.AddEndpoint(ctx, "op_1", srv.URL, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Emit(ctx, "op_1", webhook.Event{ID: "evt_x", Type: "usage.cap_80"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if _, err := s.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		c.Advance(time.Hour)
	}
	log, _ := s.Log(ctx, "op_1", ep.ID, 0)
	if len(log) != 2 || log[0].Outcome != "failed" || log[0].Status != 502 || log[1].Outcome != "retrying" {
		t.Fatalf("log: %+v", log)
	}
}

// TestEndpointURLs: deliveries go to https URLs of public addresses only,
// unless the store allows otherwise.
func TestEndpointURLs(t *testing.T) {
	ctx := context.Background()
	rdb := testredis.Start(t, testredis.Options{NoAOF: true}).Client()
	strict, err := webhook.NewStore(rdb, webhook.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://hooks.example.com/paycrawl", true},
		{"http://hooks.example.com/paycrawl", false},
		{"https://127.0.0.1/x", false},
		{"https://10.1.2.3/x", false},
		{"https://169.254.169.254/latest", false},
		{"https://user:pw@hooks.example.com/", false},
		{"/relative", false},
		{"ftp://hooks.example.com/", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := strict.AddEndpoint(ctx, "finance", tt.url, nil, nil)
			if (err == nil) != tt.ok || err != nil && !errors.Is(err, webhook.ErrInvalid) {
				t.Fatalf("AddEndpoint(%q) = %v, want ok %v", tt.url, err, tt.ok)
			}
		})
	}
	if _, err := strict.AddEndpoint(ctx, "finance", "https://hooks.example.com/", []string{"invoice.lost"}, []string{"invoice.paid"}); !errors.Is(err, webhook.ErrInvalid) {
		t.Fatalf("unknown event type: %v", err)
	}
}

// TestSignatureExample keeps the README's worked example true.
func TestSignatureExample(t *testing.T) {
	body := `{"id":"evt_example","type":"invoice.paid","created":"2025-12-01T00:00:00Z","data":{}}`
	want := "t=1764547200,v1=8851df01d274af1edf19ecf4cfed134e55bcace5e17e5bcf45f9f3174925d6f6"
	if got := webhook.Sign("whsec_example", time.Unix(1764547200, 0), []byte(body)); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func ExampleVerify() {
	body := []byte(`{"id":"evt_example","type":"invoice.paid","created":"2025-12-01T00:00:00Z","data":{}}`)
	header := "t=1764547200,v1=8851df01d274af1edf19ecf4cfed134e55bcace5e17e5bcf45f9f3174925d6f6"
	// A receiver passes the header, the raw body and its clock.
	err := webhook.Verify("whsec_example", header, body, time.Unix(1764547260, 0), 0)
	fmt.Println(err)
	// Output: <nil>
}
