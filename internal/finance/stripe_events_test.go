package finance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	stripeapi "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/paycrawl/paycrawl/internal/finance"
	"github.com/paycrawl/paycrawl/internal/testlog"
	"github.com/paycrawl/paycrawl/pkg/earnings"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

const stripeSecret = "whsec_test_disputes_0123456789"

// stripeEvent is a Stripe event of type typ whose object is dispute dp of
// PaymentIntent pi, as Stripe sends it.
func stripeEvent(id, typ, dp, pi, status string, cents int64) []byte {
	b, _ := json.Marshal(map[string]any{"id": id, "object": "event", "api_version": stripeapi.APIVersion, "type": typ,
		"created": time.Now().Unix(), "livemode": false, "data": map[string]any{"object": map[string]any{
			"id": dp, "object": "dispute", "amount": cents, "currency": "usd", "payment_intent": pi, "charge": "ch_" + dp,
			"status": status, "reason": "fraudulent"}}})
	return b
}

// postStripe posts body signed with secret at t (Stripe's scheme, by
// stripe-go's own test helper) and returns the status and answer.
func postStripe(t *testing.T, url, secret string, at time.Time, body []byte) (int, []byte) {
	t.Helper()
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at})
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/stripe/events", bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", sp.Header)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

// TestStripeDisputeEvents: an invoice of two publishers paid on stripe-mock
// is disputed; Stripe's signed events take 0.60 of its 1.50 back from the
// publishers' earnings in proportion to their lines (0.40 and 0.20, fees
// given back), once however often they come (retries, replays, created and
// funds_withdrawn of one dispute); a won dispute gives it back once;
// inquiries, other events and charges that are not paycrawl's change
// nothing; a bad or stale signature is refused with 400.
func TestStripeDisputeEvents(t *testing.T) {
	w := newWorld(t)
	rail, _ := w.withStripe()
	w.use("op_paid", "pub_news", "news.example", "USD", 1_000_000)
	w.use("op_paid", "pub_blog", "blog.example", "USD", 500_000)
	w.close()
	id := w.id("op_paid", "USD")
	w.paidOnStripe(rail, id)
	pi := w.invoice(id).PaymentIntent
	book, err := earnings.New(earnings.Options{Redis: w.rdb, Ledger: w.l, Fees: feeByPublisher{"pub_news": 1000}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := book.RecordDay(w.ctx, w.day); err != nil {
		t.Fatal(err)
	}
	srv, err := finance.New(finance.Options{Ledger: w.l, Ops: w.s, Config: w.fcfg, Now: w.clock.Now, Logger: testlog.New(),
		Disputes: &settle.Disputes{Ledger: w.l, Book: book, Intents: rail}, StripeWebhookSecret: stripeSecret})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	w.srv, w.ts = srv, ts
	balances := func() string {
		t.Helper()
		news, _ := book.Balance(w.ctx, "pub_news", "USD")
		blog, _ := book.Balance(w.ctx, "pub_blog", "USD")
		return news.String() + " " + blog.String()
	}
	if got := balances(); got != "0.90 0.50" {
		t.Fatalf("earned %s", got)
	}
	steps := []struct {
		name          string
		body          []byte
		at            time.Time
		secret        string
		status        int
		entries       int
		ignored, want string
	}{
		{"inquiry", stripeEvent("evt_0", "charge.dispute.created", "dp_1", pi, "warning_needs_response", 60), time.Now(), stripeSecret, 200, 0, "inquiry", "0.90 0.50"},
		{"opened", stripeEvent("evt_1", "charge.dispute.created", "dp_1", pi, "needs_response", 60), time.Now(), stripeSecret, 200, 2, "", "0.54 0.30"},
		{"retried", stripeEvent("evt_1", "charge.dispute.created", "dp_1", pi, "needs_response", 60), time.Now(), stripeSecret, 200, 0, "", "0.54 0.30"},
		{"funds withdrawn", stripeEvent("evt_2", "charge.dispute.funds_withdrawn", "dp_1", pi, "needs_response", 60), time.Now(), stripeSecret, 200, 0, "", "0.54 0.30"},
		{"bad signature", stripeEvent("evt_3", "charge.dispute.funds_withdrawn", "dp_2", pi, "needs_response", 150), time.Now(), "whsec_other", 400, 0, "", "0.54 0.30"},
		{"stale", stripeEvent("evt_4", "charge.dispute.funds_withdrawn", "dp_2", pi, "needs_response", 150), time.Now().Add(-time.Hour), stripeSecret, 400, 0, "", "0.54 0.30"},
		{"not ours", stripeEvent("evt_5", "charge.dispute.funds_withdrawn", "dp_3", "pi_unknown", "needs_response", 150), time.Now(), stripeSecret, 200, 0, "no PaymentIntent", "0.54 0.30"},
		{"above the charge", stripeEvent("evt_6", "charge.dispute.funds_withdrawn", "dp_4", pi, "needs_response", 151), time.Now(), stripeSecret, 200, 0, "not in (0, charged 1.50]", "0.54 0.30"},
		{"other event", stripeEvent("evt_7", "charge.refunded", "dp_1", pi, "", 60), time.Now(), stripeSecret, 200, 0, "not a dispute event", "0.54 0.30"},
		{"won", stripeEvent("evt_8", "charge.dispute.funds_reinstated", "dp_1", pi, "won", 60), time.Now(), stripeSecret, 200, 2, "", "0.90 0.50"},
		{"closed won", stripeEvent("evt_9", "charge.dispute.closed", "dp_1", pi, "won", 60), time.Now(), stripeSecret, 200, 0, "", "0.90 0.50"},
	}
	for _, s := range steps {
		status, body := postStripe(t, ts.URL, s.secret, s.at, s.body)
		if status != s.status {
			t.Fatalf("%s: %d %s, want %d", s.name, status, body, s.status)
		}
		if status == 200 {
			res := decode[finance.StripeEventResult](t, body)
			if !res.Received || res.Entries != s.entries || !strings.Contains(res.Ignored, s.ignored) || (s.ignored == "") != (res.Ignored == "") {
				t.Fatalf("%s: %s, want %d entries, ignored %q", s.name, body, s.entries, s.ignored)
			}
		} else if e := decode[apiError](t, body); e.Code != "bad_signature" {
			t.Fatalf("%s: %s", s.name, body)
		}
		if got := balances(); got != s.want {
			t.Fatalf("%s: balances %s, want %s", s.name, got, s.want)
		}
	}
	// A finance token is not a Stripe signature.
	if status, _ := w.call("POST", "/v1/stripe/events", aliceToken, map[string]any{"id": "evt_x"}); status != 400 {
		t.Fatalf("an unsigned event with a finance token: %d", status)
	}
}

// feeByPublisher is an earnings.Fees of fixed fees by publisher.
type feeByPublisher map[string]int64

func (f feeByPublisher) FeeBPS(_ context.Context, p string) (int64, error) { return f[p], nil }
