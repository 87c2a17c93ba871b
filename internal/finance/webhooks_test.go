package finance_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/finance"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/settle"
	"github.com/paycrawl/paycrawl/pkg/webhook"
)

// hookReceiver is a real local endpoint: it verifies each delivery's
// signature with the endpoint's secret (at the world's clock) and answers
// the first delivery of each event with a 503, to prove the retry.
type hookReceiver struct {
	now    func() time.Time
	secret string

	mu     sync.Mutex
	seen   map[string]int
	events []webhook.Event
	bad    []string
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := webhook.Verify(h.secret, r.Header.Get(webhook.HeaderSignature), body, h.now(), 0); err != nil {
		h.bad = append(h.bad, err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := r.Header.Get(webhook.HeaderEventID)
	h.seen[id]++
	if h.seen[id] == 1 {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	var ev webhook.Event
	_ = json.Unmarshal(body, &ev)
	h.events = append(h.events, ev)
}

func (h *hookReceiver) types() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, e := range h.events {
		out = append(out, e.Type)
	}
	sort.Strings(out)
	return out
}

// TestWebhooksForFinanceAndOperators: finance registers an endpoint through
// the API; the notifier turns the days' invoices into signed events that a
// real receiver verifies, refuses once and gets on the retry; the delivery
// log says so. A crawler operator's endpoint gets its own invoices' paid
// and failed events and the 80 % cap alert.
func TestWebhooksForFinanceAndOperators(t *testing.T) {
	w := newDaysWorld(t)
	fin := &hookReceiver{now: w.clock.Now, seen: map[string]int{}}
	op := &hookReceiver{now: w.clock.Now, seen: map[string]int{}}
	finSrv, opSrv := httptest.NewServer(fin), httptest.NewServer(op)
	defer finSrv.Close()
	defer opSrv.Close()

	bad := []struct {
		name, token string
		body        any
		status      int
	}{
		{"viewer", victorToken, map[string]any{"url": finSrv.URL}, 403},
		{"not a URL", aliceToken, map[string]any{"url": "hooks"}, 400},
		{"unknown event", aliceToken, map[string]any{"url": finSrv.URL, "events": []string{"invoice.lost"}}, 400},
		{"unknown field", aliceToken, map[string]any{"url": finSrv.URL, "secret": "mine"}, 400},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if status, body := w.call("POST", "/v1/webhooks", tt.token, tt.body); status != tt.status {
				t.Fatalf("%d %s, want %d", status, body, tt.status)
			}
		})
	}
	status, body := w.call("POST", "/v1/webhooks", aliceToken, map[string]any{"url": finSrv.URL + "/paycrawl"})
	ep := decode[webhook.Endpoint](t, body)
	if status != 201 || !strings.HasPrefix(ep.Secret, "whsec_") {
		t.Fatalf("register: %d %s", status, body)
	}
	fin.secret = ep.Secret
	if _, body := w.call("GET", "/v1/webhooks", victorToken, nil); strings.Contains(string(body), ep.Secret) || !strings.Contains(string(body), ep.ID) {
		t.Fatalf("list shows the secret or not the endpoint: %s", body)
	}

	// The operator: a billing profile with a 0.25 cap, 0.20 spent today.
	ops := billed{store: w.store, billing: map[string]*registry.Billing{w.acme: {Rail: registry.RailStripe,
		StripeCustomerID: "cus_acme", Currency: "USD", DailyCap: 250_000, DefaultMaxPrice: 10_000}}}
	now := w.clock.Now()
	c := w.commitment(w.signer, w.acme, "pub_news", "news.example", "USD", 200_000, nil)
	c.Received, c.ReplayUntil = now, now.Add(time.Hour)
	if _, err := w.l.Append(w.ctx, c, ledger.Limits{}); err != nil {
		t.Fatal(err)
	}
	// acme rotated its key with 12 h of overlap: the old one expires soon.
	for i := 0; i < 2; i++ {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		p, err := registry.SignProof(priv, w.acme, w.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			_, err = w.store.RegisterKey(w.ctx, w.acme, p)
		} else {
			_, _, err = w.store.RotateKey(w.ctx, w.acme, p, 12*time.Hour)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	opEp, err := w.hooks.AddEndpoint(w.ctx, w.acme, opSrv.URL, nil, finance.OperatorEvents)
	if err != nil {
		t.Fatal(err)
	}
	op.secret = opEp.Secret

	n := &finance.Notifier{Ledger: w.l, Operators: ops, Webhooks: w.hooks, Now: w.clock.Now, Days: 6}
	// Finance: 6 drafted, held, 2 paid, failed, voided; acme: its paid
	// invoice, the expiring key and the cap alert (bolt has no endpoint).
	if queued, err := n.RunOnce(w.ctx); err != nil || queued != 11+3 {
		t.Fatalf("first pass queued %d, %v", queued, err)
	}
	if again, err := n.RunOnce(w.ctx); err != nil || again != 0 {
		t.Fatalf("a second pass queued %d again, %v", again, err)
	}
	if _, err := w.hooks.RunOnce(w.ctx); err != nil {
		t.Fatal(err)
	}
	if got := fin.types(); len(got) != 0 {
		t.Fatalf("delivered before the retry: %v", got)
	}
	w.clock.Advance(2 * time.Minute)
	if _, err := w.hooks.RunOnce(w.ctx); err != nil {
		t.Fatal(err)
	}
	wantFin := []string{"invoice.drafted", "invoice.drafted", "invoice.drafted", "invoice.drafted", "invoice.drafted", "invoice.drafted",
		"invoice.failed", "invoice.held", "invoice.paid", "invoice.paid", "invoice.voided"}
	if got := fin.types(); strings.Join(got, " ") != strings.Join(wantFin, " ") || len(fin.bad) != 0 {
		t.Fatalf("finance got %v (bad %v), want %v", got, fin.bad, wantFin)
	}
	if got := op.types(); strings.Join(got, " ") != "invoice.paid key.expiring usage.cap_80" || len(op.bad) != 0 {
		t.Fatalf("acme got %v (bad %v)", got, op.bad)
	}
	for _, ev := range op.events {
		if ev.Type == finance.EventUsageCap80 && !strings.Contains(string(ev.Data), `"percent":80`) {
			t.Fatalf("cap event data %s", ev.Data)
		}
	}
	status, body = w.call("GET", "/v1/webhooks/"+ep.ID+"/deliveries", victorToken, nil)
	var log struct{ Deliveries []webhook.Attempt }
	if err := json.Unmarshal(body, &log); err != nil || status != 200 || len(log.Deliveries) != 2*len(wantFin) {
		t.Fatalf("deliveries %d: %s", status, body)
	}
	outcomes := map[string]int{}
	for _, a := range log.Deliveries {
		outcomes[a.Outcome]++
	}
	if outcomes["delivered"] != len(wantFin) || outcomes["retrying"] != len(wantFin) {
		t.Fatalf("outcomes %v", outcomes)
	}
	// A new hold is a new event.
	w.drive(ledger.InvoiceID(w.acme, w.days[2], "USD"), ledger.StatusHeld, ledger.Settlement{})
	if queued, err := n.RunOnce(w.ctx); err != nil || queued != 1 {
		t.Fatalf("after a new hold: %d, %v", queued, err)
	}
	// A refund: nothing while it is pending, then invoice.refunded to
	// finance and to acme once it is done.
	var paid *ledger.Invoice
	for _, d := range w.days {
		if inv, err := w.l.Invoice(w.ctx, ledger.InvoiceID(w.acme, d, "USD")); err == nil && inv.Status == ledger.StatusPaid {
			paid = inv
		}
	}
	if paid == nil {
		t.Fatal("acme has no paid invoice")
	}
	token, release, err := w.l.AcquireLock(w.ctx, settle.LockName, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.l.BeginRefund(w.ctx, paid.ID, ledger.RefundRequest{Token: token, Seq: 1, Amount: 10_000, Actor: "alice", Reason: "goodwill"}); err != nil {
		t.Fatal(err)
	}
	if queued, err := n.RunOnce(w.ctx); err != nil || queued != 0 {
		t.Fatalf("a pending refund queued %d, %v", queued, err)
	}
	if err := w.l.FinishRefund(w.ctx, paid.ID, 1, ledger.RefundResult{Token: token, Status: ledger.RefundDone, Reference: "re_1", Actor: "settler"}); err != nil {
		t.Fatal(err)
	}
	release()
	if queued, err := n.RunOnce(w.ctx); err != nil || queued != 2 {
		t.Fatalf("a done refund queued %d, %v", queued, err)
	}
	w.clock.Advance(2 * time.Minute)
	for i := 0; i < 2; i++ {
		if _, err := w.hooks.RunOnce(w.ctx); err != nil {
			t.Fatal(err)
		}
		w.clock.Advance(2 * time.Minute)
	}
	for who, h := range map[string]*hookReceiver{"finance": fin, "acme": op} {
		var got *webhook.Event
		h.mu.Lock()
		for i := range h.events {
			if h.events[i].Type == finance.EventInvoiceRefunded {
				got = &h.events[i]
			}
		}
		h.mu.Unlock()
		if got == nil || !strings.Contains(string(got.Data), `"refund":{"seq":1,"amount":"0.01","status":"done","reference":"re_1"`) {
			t.Fatalf("%s: refunded event %+v", who, got)
		}
	}
	// 100 % of the cap.
	c = w.commitment(w.signer, w.acme, "pub_news", "news.example", "USD", money.Micros(50_000), nil)
	c.Received, c.ReplayUntil = now, now.Add(time.Hour)
	if _, err := w.l.Append(w.ctx, c, ledger.Limits{}); err != nil {
		t.Fatal(err)
	}
	if queued, err := n.RunOnce(w.ctx); err != nil || queued != 1 {
		t.Fatalf("at the cap: %d, %v", queued, err)
	}
	if status, _ := w.call("DELETE", "/v1/webhooks/"+ep.ID, aliceToken, nil); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	if status, _ := w.call("GET", "/v1/webhooks/"+ep.ID+"/deliveries", victorToken, nil); status != 404 {
		t.Fatalf("deliveries of a removed endpoint: %d", status)
	}
}

// billed is the registry with billing profiles set in memory: the stripe
// rail that SetBilling needs to create customers is not part of these
// tests.
type billed struct {
	store   *registry.Store
	billing map[string]*registry.Billing
}

func (b billed) Keys(ctx context.Context, id string) ([]registry.KeyRecord, error) {
	return b.store.Keys(ctx, id)
}

func (b billed) Operator(ctx context.Context, id string) (*registry.Operator, error) {
	op, err := b.store.Operator(ctx, id)
	if err == nil && b.billing[id] != nil {
		op.Billing = b.billing[id]
	}
	return op, err
}
