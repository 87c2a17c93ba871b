package finance_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/paycrawl/paycrawl/internal/finance"
	"github.com/paycrawl/paycrawl/internal/publisher"
	"github.com/paycrawl/paycrawl/internal/testlog"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/earnings"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/refusals"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// TestBrowserPublisherPage: a publisher signs in with its own token on the
// settler's page and sees its month: the revenue chart (an SVG bar for the
// day it earned), the crawlers by operator name with requests and revenue,
// the paid payout with its reference, and the statement downloads; another
// publisher's earnings never show, and the JSON statement for its bearer
// token adds up.
func TestBrowserPublisherPage(t *testing.T) {
	w := newWorld(t)
	store, err := registry.NewStore(w.rdb, registry.Options{AgentBase: "https://keys.example", Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	op, _, err := store.SignUp(w.ctx, "Acme Crawler", "ops@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	news, token, err := store.CreatePublisher(w.ctx, registry.PublisherSpec{ID: "pub_news", Name: "Daily News", Contact: "money@news.example", FeeBPS: 1000,
		Payout: &registry.Payout{Rail: registry.RailStripe, StripeAccount: "acct_news"}})
	if err != nil {
		t.Fatal(err)
	}
	book, err := earnings.New(earnings.Options{Redis: w.rdb, Ledger: w.l, Fees: settle.RegistryFees{Store: store}})
	if err != nil {
		t.Fatal(err)
	}
	w.use(op.ID, "pub_news", "news.example", "USD", 2_000_000, 1_500_000)
	w.use(op.ID, "pub_other", "other.example", "USD", 9_000_000)
	w.close()
	w.drive(w.id(op.ID, "USD"), ledger.StatusPaid, ledger.Settlement{})
	if _, err := book.RecordDay(w.ctx, w.day); err != nil {
		t.Fatal(err)
	}
	po, _, err := book.CreatePayout(w.ctx, earnings.PayoutSpec{Period: "2099-W01", Publisher: "pub_news", Currency: "USD", Amount: 3_150_000,
		Rail: "stripe", Destination: "acct_news"}, w.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := book.MovePayout(w.ctx, po.ID, earnings.PayoutMove{To: earnings.PayoutSending, From: []earnings.PayoutStatus{earnings.PayoutPending}, NewAttempt: true, Actor: "settler"}, w.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := book.MovePayout(w.ctx, po.ID, earnings.PayoutMove{To: earnings.PayoutPaid, From: []earnings.PayoutStatus{earnings.PayoutSending}, Actor: "settler", Reference: "tr_news1"}, w.clock.Now()); err != nil {
		t.Fatal(err)
	}
	names := func(ctx context.Context, account string) string {
		if o, err := store.Operator(ctx, account); err == nil {
			return o.Name
		}
		return ""
	}
	// Refusals the gateway counted this month: the paying crawler blocked
	// twice and over its cap once, another crawler only blocked, and forged
	// signatures that claim the paying crawler, counted as unverified;
	// another publisher's refusal never shows.
	bot, _, err := store.SignUp(w.ctx, "Blocked Bot", "ops@blocked.example")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := refusals.NewRecorder(refusals.Options{Redis: w.rdb})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		pub, account string
		code         deferred.Code
		n            int
	}{
		{"pub_news", op.ID, deferred.CodeBlocked, 2},
		{"pub_news", op.ID, deferred.CodeOverCap, 1},
		{"pub_news", bot.ID, deferred.CodeBlocked, 3},
		{"pub_news", op.ID, deferred.CodeSignatureInvalid, 4},
		{"pub_other", op.ID, deferred.CodeBlocked, 9},
	} {
		for range r.n {
			rec.Record(r.pub, r.account, r.code, w.clock.Now())
		}
	}
	if err := rec.Flush(w.ctx); err != nil {
		t.Fatal(err)
	}
	counts, err := refusals.NewReader(w.rdb, "")
	if err != nil {
		t.Fatal(err)
	}
	pubSrv, err := publisher.New(publisher.Options{Book: book, Accounts: store, Names: names, Refusals: counts, Now: w.clock.Now, Logger: testlog.New()})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := finance.New(finance.Options{Ledger: w.l, Ops: w.s, Config: w.fcfg, Now: w.clock.Now, Logger: testlog.New(), Mount: pubSrv})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	month := w.base.Format("2006-01")

	// The JSON statement for the publisher's bearer token.
	req, _ := http.NewRequest("GET", ts.URL+"/v1/publisher/statement?month="+month, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var st publisher.StatementJSON
	if err := json.Unmarshal(raw, &st); err != nil || resp.StatusCode != 200 {
		t.Fatalf("statement: %d %s", resp.StatusCode, raw)
	}
	usd := st.Totals["USD"]
	if st.Publisher != news.ID || usd.Gross != "3.50" || usd.Fee != "0.35" || usd.Net != "3.15" || usd.PaidOut != "3.15" ||
		len(st.Crawlers) != 1 || st.Crawlers[0].Name != "Acme Crawler" || len(st.Sites) != 1 || len(st.Payouts) != 1 || st.Payouts[0].Reference != "tr_news1" {
		t.Fatalf("statement %s", raw)
	}

	// The refusal counts for the bearer token.
	req, _ = http.NewRequest("GET", ts.URL+"/v1/publisher/refusals?month="+month, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var rf publisher.RefusalsJSON
	if err := json.Unmarshal(raw, &rf); err != nil || resp.StatusCode != 200 {
		t.Fatalf("refusals: %d %s", resp.StatusCode, raw)
	}
	if rf.Crawlers[op.ID]["blocked"] != 2 || rf.Crawlers[op.ID]["bad_signature"] != 0 || rf.Crawlers[refusals.Unverified]["bad_signature"] != 4 ||
		rf.Crawlers[bot.ID]["blocked"] != 3 || len(rf.Rows) != 4 {
		t.Fatalf("refusals %s", raw)
	}

	bctx := newBrowser(t, w.ctx, chromium(t), t.TempDir(), 1280, 900)
	navigate(t, bctx, "the sign-in page", chromedp.Navigate(ts.URL+"/publisher/"))
	if resp, err := chromedp.RunResponse(bctx, chromedp.SendKeys(chromedp.ID("token"), "pcp_wrong"), chromedp.Click(chromedp.ID("signin"))); err != nil || resp.Status != 401 {
		t.Fatalf("a wrong token: %v %v", resp, err)
	}
	if e := textOf(t, bctx, chromedp.ID("error")); !strings.Contains(e, "not a publisher token") {
		t.Fatalf("wrong token answer %q", e)
	}
	navigate(t, bctx, "sign in", chromedp.SendKeys(chromedp.ID("token"), token), chromedp.Click(chromedp.ID("signin")))
	navigate(t, bctx, "the month", chromedp.SetValue(chromedp.ID("month"), month), chromedp.Click(chromedp.ID("show")))
	if n := evalInt(t, bctx, `document.querySelectorAll("svg.chart rect.bar[data-amount='3.15']").length`); n != 1 {
		t.Fatalf("%d chart bars of 3.15", n)
	}
	if n := evalInt(t, bctx, `document.querySelectorAll("svg.chart rect.bar").length`); n < 28 {
		t.Fatalf("the chart has %d day bars, want one per day of the month", n)
	}
	crawlers, payouts, totals := textOf(t, bctx, chromedp.ID("crawlers")), textOf(t, bctx, chromedp.ID("payouts")), textOf(t, bctx, chromedp.ID("totals"))
	if !strings.Contains(crawlers, "Acme Crawler") || !strings.Contains(crawlers, "USD\u00a03.15") || strings.Contains(crawlers, op.ID) && !strings.Contains(crawlers, "Acme") {
		t.Fatalf("crawlers table: %q", crawlers)
	}
	for _, c := range []struct {
		account, reason string
		want            int
	}{
		{op.ID, "blocked", 2}, {op.ID, "over_cap", 1}, {op.ID, "bad_signature", 0},
		{bot.ID, "blocked", 3}, {bot.ID, "over_cap", 0},
		{refusals.Unverified, "bad_signature", 4}, {refusals.Unverified, "blocked", 0},
	} {
		js := `Number(document.querySelector("#crawlers tr[data-account='` + c.account + `'] td.` + c.reason + `").textContent)`
		if n := evalInt(t, bctx, js); n != c.want {
			t.Errorf("crawlers table: %s %s = %d, want %d (%q)", c.account, c.reason, n, c.want, crawlers)
		}
	}
	if !strings.Contains(crawlers, "Blocked Bot") || !strings.Contains(crawlers, "Unverified") {
		t.Fatalf("crawlers table names the refused crawler and the unverified bucket: %q", crawlers)
	}
	if !strings.Contains(payouts, "tr_news1") || !strings.Contains(payouts, "paid") {
		t.Fatalf("payouts table: %q", payouts)
	}
	if strings.Contains(totals, "9.00") || !strings.Contains(totals, "USD\u00a03.50") {
		t.Fatalf("totals: %q (another publisher's earnings must not show)", totals)
	}
	if n := evalInt(t, bctx, `document.querySelectorAll("#downloads a").length`); n != 3 {
		t.Fatalf("%d statement links", n)
	}
	navigate(t, bctx, "the printable statement", chromedp.Click(chromedp.ID("statement-html")))
	if s := textOf(t, bctx, chromedp.ID("statement-totals")); !strings.Contains(s, "USD\u00a00.35") {
		t.Fatalf("printable statement totals: %q", s)
	}
}
