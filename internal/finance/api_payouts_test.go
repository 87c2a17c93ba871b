package finance_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/finance"
	"github.com/paycrawl/paycrawl/internal/finance/client"
	"github.com/paycrawl/paycrawl/internal/finance/wire"
	"github.com/paycrawl/paycrawl/internal/testlog"
	"github.com/paycrawl/paycrawl/pkg/earnings"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// noPublishers is a settle.Publishers that knows nobody (no run here).
type noPublishers struct{}

func (noPublishers) Publisher(context.Context, string) (*registry.Publisher, error) {
	return nil, registry.ErrNotFound
}

// withPayouts serves the world's finance server with payouts over a real
// earnings book: pub_a's pending payout of 1.00, pub_b's paid one of 2.00
// and pub_c's pending one of 3.00, each from a balance it earned.
func (w *world) withPayouts() *earnings.Book {
	w.t.Helper()
	book, err := earnings.New(earnings.Options{Redis: w.rdb, Ledger: w.l, Fees: earnings.FixedFee(0)})
	if err != nil {
		w.t.Fatal(err)
	}
	w.use("op_x", "pub_a", "a.example", "USD", 1_000_000)
	w.use("op_x", "pub_b", "b.example", "USD", 2_000_000)
	w.use("op_x", "pub_c", "c.example", "USD", 3_000_000)
	w.close()
	w.drive(w.id("op_x", "USD"), ledger.StatusPaid, ledger.Settlement{Charged: 6_000_000})
	if _, err := book.RecordDay(w.ctx, w.day); err != nil {
		w.t.Fatal(err)
	}
	now := w.clock.Now()
	for i, pub := range []string{"pub_a", "pub_b", "pub_c"} {
		if _, _, err := book.CreatePayout(w.ctx, earnings.PayoutSpec{Period: "2026-W49", Publisher: pub, Currency: "USD",
			Amount: money.Micros(i+1) * money.Scale, Rail: "stripe", Destination: "acct_" + strings.TrimPrefix(pub, "pub_"), Reason: "test"},
			now.Add(time.Duration(i)*time.Second)); err != nil {
			w.t.Fatal(err)
		}
	}
	paid := earnings.PayoutID("2026-W49", "pub_b", "USD")
	for _, m := range []earnings.PayoutMove{
		{To: earnings.PayoutSending, From: []earnings.PayoutStatus{earnings.PayoutPending}, NewAttempt: true, Actor: "settler"},
		{To: earnings.PayoutPaid, From: []earnings.PayoutStatus{earnings.PayoutSending}, Actor: "settler", Reference: "tr_1"},
	} {
		if _, err := book.MovePayout(w.ctx, paid, m, now); err != nil {
			w.t.Fatal(err)
		}
	}
	pos, err := settle.NewPayouts(settle.PayoutsOptions{Ledger: w.l, Book: book, Publishers: noPublishers{}, Now: w.clock.Now})
	if err != nil {
		w.t.Fatal(err)
	}
	w.srv, err = finance.New(finance.Options{Ledger: w.l, Ops: w.s, Config: w.fcfg, Now: w.clock.Now, Logger: testlog.New(), Payouts: pos})
	if err != nil {
		w.t.Fatal(err)
	}
	w.ts = httptest.NewServer(w.srv.Handler())
	w.t.Cleanup(w.ts.Close)
	return book
}

// TestAPIPayouts: finance lists and reads payouts (viewers too) and holds,
// releases and cancels them over HTTP with a reason; each action is in
// the payout's history with who and why; an action already taken is 200
// unchanged, one the status forbids 409, a missing reason 400, a viewer
// 403, an unknown payout 404, a payout run holding the lock 423; a
// canceled payout's amount goes back to the balance.
func TestAPIPayouts(t *testing.T) {
	w := newWorld(t)
	book := w.withPayouts()
	a, b, c := earnings.PayoutID("2026-W49", "pub_a", "USD"), earnings.PayoutID("2026-W49", "pub_b", "USD"), earnings.PayoutID("2026-W49", "pub_c", "USD")
	list := decode[wire.PayoutList](t, mustGetAs(t, w, "/v1/payouts", victorToken))
	if len(list.Payouts) != 3 || list.Payouts[0].ID != c || list.Payouts[2].Amount != "1.00" || strings.Join(list.Payouts[0].Actions, ",") != "hold,cancel" {
		t.Fatalf("list %+v", list)
	}
	if l := decode[wire.PayoutList](t, mustGetAs(t, w, "/v1/payouts?status=paid", victorToken)); len(l.Payouts) != 1 || l.Payouts[0].Reference != "tr_1" || len(l.Payouts[0].Actions) != 0 {
		t.Fatalf("paid list %+v", l)
	}
	if l := decode[wire.PayoutList](t, mustGetAs(t, w, "/v1/payouts?publisher=pub_a", victorToken)); len(l.Payouts) != 1 || l.Payouts[0].ID != a {
		t.Fatalf("pub_a's list %+v", l)
	}
	steps := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code, message             string
	}{
		{"bad status filter", "GET", "/v1/payouts?status=lost", aliceToken, nil, 400, "invalid_request", "want one of"},
		{"misspelt filter", "GET", "/v1/payouts?publsher=pub_a", aliceToken, nil, 400, "invalid_request", "unknown query parameter"},
		{"unknown", "GET", "/v1/payouts/po_2026-W49_pub_z_USD", aliceToken, nil, 404, "not_found", ""},
		{"malformed", "GET", "/v1/payouts/nonsense", aliceToken, nil, 404, "not_found", ""},
		{"no token", "POST", "/v1/payouts/" + a + "/hold", "", wire.ActionRequest{Reason: "r"}, 401, "unauthorized", ""},
		{"viewer", "POST", "/v1/payouts/" + a + "/hold", victorToken, wire.ActionRequest{Reason: "r"}, 403, "forbidden", ""},
		{"no reason", "POST", "/v1/payouts/" + a + "/hold", aliceToken, wire.ActionRequest{Reason: "  "}, 400, "invalid_request", "a reason is required"},
		{"unknown action target", "POST", "/v1/payouts/po_2026-W49_pub_z_USD/hold", aliceToken, wire.ActionRequest{Reason: "r"}, 404, "not_found", ""},
		{"release a paid payout", "POST", "/v1/payouts/" + b + "/release", aliceToken, wire.ActionRequest{Reason: "r"}, 409, "wrong_status", "is paid: cannot release"},
		{"cancel a paid payout", "POST", "/v1/payouts/" + b + "/cancel", aliceToken, wire.ActionRequest{Reason: "r"}, 409, "wrong_status", "is paid: cannot cancel"},
		{"hold", "POST", "/v1/payouts/" + a + "/hold", aliceToken, wire.ActionRequest{Reason: "publisher disputes its statement"}, 200, "", ""},
		{"hold again", "POST", "/v1/payouts/" + a + "/hold", aliceToken, wire.ActionRequest{Reason: "again"}, 200, "", ""},
		{"cancel held", "POST", "/v1/payouts/" + a + "/cancel", aliceToken, wire.ActionRequest{Reason: "wrong account"}, 200, "", ""},
		{"release canceled", "POST", "/v1/payouts/" + a + "/release", aliceToken, wire.ActionRequest{Reason: "oops"}, 409, "wrong_status", "is canceled"},
	}
	for _, s := range steps {
		status, body := w.call(s.method, s.path, s.token, s.body)
		if status != s.status {
			t.Fatalf("%s: %d %s, want %d", s.name, status, body, s.status)
		}
		if status != 200 {
			if e := decode[apiError](t, body); e.Code != s.code || !strings.Contains(e.Message, s.message) {
				t.Fatalf("%s: %s, want %s %q", s.name, body, s.code, s.message)
			}
		}
	}
	po := decode[wire.Payout](t, mustGetAs(t, w, "/v1/payouts/"+a, victorToken))
	var trail []string
	for _, h := range po.History {
		trail = append(trail, fmt.Sprintf("%s→%s %s %q", h.From, h.To, h.Actor, h.Reason))
		if h.At.IsZero() {
			t.Fatalf("history entry without a time: %+v", h)
		}
	}
	if got := strings.Join(trail, "; "); got != `→pending settler "test"; pending→held alice "publisher disputes its statement"; held→canceled alice "wrong account"` {
		t.Fatalf("audit trail %s", got)
	}
	if bal, _ := book.Balance(w.ctx, "pub_a", "USD"); bal != money.Scale {
		t.Fatalf("the canceled payout left pub_a's balance at %s", bal)
	}
	// The client speaks the same API; a payout run holding the lock is a 423.
	cl, err := client.New(w.ts.URL, aliceToken)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := cl.PayoutAction(w.ctx, c, "hold", "checking the account"); err != nil || !res.Changed || res.Payout.Status != "held" ||
		!strings.Contains(res.Message, "no run sends it") {
		t.Fatalf("hold by the client: %+v %v", res, err)
	}
	_, release, err := w.l.AcquireLock(w.ctx, settle.LockPayouts, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.PayoutAction(w.ctx, c, "release", "checked")
	release()
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Status != 423 || ae.Code != "settler_busy" {
		t.Fatalf("release while a run holds the lock: %v", err)
	}
	if res, err := cl.PayoutAction(w.ctx, c, "release", "checked"); err != nil || res.Payout.Status != "pending" {
		t.Fatalf("release: %+v %v", res, err)
	}
	if l, err := cl.Payouts(w.ctx, "pending", ""); err != nil || len(l.Payouts) != 1 || l.Payouts[0].ID != c {
		t.Fatalf("pending payouts by the client: %+v %v", l, err)
	}
}

// mustGetAs GETs path with token and fails unless it answers 200.
func mustGetAs(t *testing.T, w *world, path, token string) []byte {
	t.Helper()
	status, body := w.call("GET", path, token, nil)
	if status != 200 {
		t.Fatalf("GET %s: %d %s", path, status, body)
	}
	return body
}
