package paywall_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/testcrawler"
	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/paywall"
	"github.com/paycrawl/paycrawl/pkg/x402"
)

// agreedEnv is a paywall (apiSite, list price 0.002) that prices requests
// by the agreements of the real registry, through the resolver's cache
// (newEnv wires keys.Agreements).
func agreedEnv(t *testing.T) *env {
	t.Helper()
	awayFromMidnight(t)
	return newEnv(t, paywall.Options{})
}

// awayFromMidnight waits, when the test starts in the last seconds of a
// UTC day, until the next day has begun: a day is the smallest unit of
// every period (subscription weeks and months, the ledger's day), so the
// test's requests then all fall in one period.
func awayFromMidnight(t *testing.T) {
	now := time.Now().UTC()
	next := now.Truncate(24 * time.Hour).Add(24 * time.Hour)
	if d := next.Sub(now); d < 30*time.Second {
		t.Logf("waiting %s for the next UTC day", d)
		time.Sleep(d + time.Second)
	}
}

// offer is an agreement of apiSite's publisher covering all of api.example
// from now on, with terms.
func offer(terms agreement.Terms) agreement.Agreement {
	return agreement.Agreement{Currency: "USD", Scope: []agreement.Site{{Host: "api.example"}},
		ValidFrom: time.Now().UTC().Truncate(time.Second), Terms: terms}
}

func fixed(p money.Micros) *agreement.Rate {
	return &agreement.Rate{Mode: agreement.RateFixed, Price: p}
}

// receipt reads the receipt of a response.
func receipt(t *testing.T, h http.Header) *deferred.Receipt {
	t.Helper()
	rc, err := deferred.ParseReceipt(h)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// refusal reads a refusal's code.
func refusal(t *testing.T, body string) string {
	t.Helper()
	var b paywall.RefusalBody
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatalf("refusal body %q: %v", body, err)
	}
	return b.Code
}

// rederive checks every commitment of c's day against the agreement
// versions it names, as an audit would: the version in force at the
// request's time, its charge rule (agreement.Apply) over the recorded list
// price and the subscription's count in the period so far.
func rederive(t *testing.T, e *env, c *testcrawler.Crawler) []*ledger.Commitment {
	t.Helper()
	versions, err := e.reg.Store.AcceptedAgreements(context.Background(), c.Operator)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]int64{}
	cs := commitments(t, e.ledger, c.Operator)
	for i, cm := range cs {
		if cm.AgreementID == "" {
			if cm.Price != 2_000 || cm.Kind() != ledger.ChargeList {
				t.Errorf("commitment %d without agreement: %s at %s", i, cm.Kind(), cm.Price)
			}
			continue
		}
		a := agreement.InForce(versions, c.Operator, cm.Publisher, cm.Site, cm.Path, cm.Received)
		if a == nil || a.ID != cm.AgreementID || int64(a.Version) != cm.AgreementVersion {
			t.Fatalf("commitment %d names %s v%d, in force at %s: %+v", i, cm.AgreementID, cm.AgreementVersion, cm.Received, a)
		}
		key := ""
		if s := a.Terms.Subscription; s != nil {
			p, _ := agreement.PeriodOf(agreement.Cadence(s.Period), cm.Received)
			key = a.ID + p.Start.String()
			quota, _ := agreement.ProrateQuota(s.Included, p, agreement.Span{Start: versions[0].Start()})
			ch, err := agreement.Apply(a, cm.ListPrice, min(used[key], quota))
			if used[key] >= quota {
				ch, err = agreement.Apply(a, cm.ListPrice, s.Included)
			}
			if err != nil || ch.Refusal != "" || string(ch.Kind) != string(cm.Charge) || ch.Price != cm.Price {
				t.Errorf("commitment %d (%d used of %d): %s at %s, the agreement gives %+v (%v)", i, used[key], quota, cm.Charge, cm.Price, ch, err)
			}
			used[key]++
			continue
		}
		ch, err := agreement.Apply(a, cm.ListPrice, 0)
		if err != nil || string(ch.Kind) != string(cm.Charge) || ch.Price != cm.Price || ch.Draw != cm.Drawn {
			t.Errorf("commitment %d: %s at %s drawn %s, the agreement gives %+v (%v)", i, cm.Charge, cm.Price, cm.Drawn, ch, err)
		}
	}
	return cs
}

func TestAgreementRate(t *testing.T) {
	e := agreedEnv(t)
	fixedC := e.reg.NewCrawler(t, "op_fixed", testcrawler.DefaultTerms)
	discC := e.reg.NewCrawler(t, "op_disc", testcrawler.DefaultTerms)
	plainC := e.reg.NewCrawler(t, "op_plain", testcrawler.DefaultTerms)
	fa := e.reg.Agree(t, "pub_api", fixedC, offer(agreement.Terms{Kind: agreement.KindRate, Rate: fixed(1_500)}))
	e.reg.Agree(t, "pub_api", discC, offer(agreement.Terms{Kind: agreement.KindRate,
		Rate: &agreement.Rate{Mode: agreement.RateDiscount, DiscountBPS: 3_333}}))
	for _, tc := range []struct {
		c      *testcrawler.Crawler
		d      deferred.Dialect
		charge string
	}{
		{fixedC, deferred.DialectDeferred, "USD 0.0015"},
		{fixedC, deferred.DialectX402, "USD 0.0015"},
		{discC, deferred.DialectDeferred, "USD 0.001333"}, // floor(2000 × 6667 / 10000)
		{plainC, deferred.DialectDeferred, "USD 0.002"},   // no agreement: the list price
	} {
		status, body, h := get(t, client(tc.c, tc.d), e.srv.URL+"/data")
		if status != 200 || h.Get(deferred.HeaderCrawlerCharged) != tc.charge {
			t.Fatalf("%s %s: %d %q charged %q, want %s", tc.c.Operator, tc.d, status, body, h.Get(deferred.HeaderCrawlerCharged), tc.charge)
		}
		rc := receipt(t, h)
		if tc.c == fixedC && (rc.Agreement != fa.ID || rc.AgreementVersion != 1 || rc.Charge != "rate") {
			t.Errorf("receipt %+v does not name agreement %s v1", rc, fa.ID)
		}
		if tc.c == plainC && rc.Agreement != "" {
			t.Errorf("receipt of a list price names %q", rc.Agreement)
		}
	}
	for _, c := range []*testcrawler.Crawler{fixedC, discC, plainC} {
		rederive(t, e, c)
	}
	if cs := commitments(t, e.ledger, fixedC.Operator); cs[0].ListPrice != 2_000 || cs[0].Price != 1_500 || cs[0].Charge != ledger.ChargeRate {
		t.Errorf("commitment %+v", cs[0])
	}
}

// An agreement applies only on its own publisher's sites: another
// publisher's agreement naming api.example prices nothing there.
func TestAgreementOfAnotherPublisherDoesNotApply(t *testing.T) {
	e := agreedEnv(t)
	c := e.reg.NewCrawler(t, "op_other", testcrawler.DefaultTerms)
	e.reg.Agree(t, "pub_other", c, offer(agreement.Terms{Kind: agreement.KindRate, Rate: fixed(0)}))
	status, _, h := get(t, client(c, deferred.DialectDeferred), e.srv.URL+"/data")
	if status != 200 || h.Get(deferred.HeaderCrawlerCharged) != "USD 0.002" {
		t.Fatalf("%d charged %q, want the list price", status, h.Get(deferred.HeaderCrawlerCharged))
	}
	if cs := commitments(t, e.ledger, c.Operator); len(cs) != 1 || cs[0].AgreementID != "" {
		t.Fatalf("commitments %+v", cs)
	}
}

// A rate above what the crawler commits to is refused, nothing charged.
func TestAgreementRateAboveCommitment(t *testing.T) {
	e := agreedEnv(t)
	c := e.reg.NewCrawler(t, "op_dear", testcrawler.DefaultTerms)
	e.reg.Agree(t, "pub_api", c, offer(agreement.Terms{Kind: agreement.KindRate, Rate: fixed(20_000)}))
	status, body, h := get(t, client(c, deferred.DialectDeferred), e.srv.URL+"/data")
	if status != http.StatusPaymentRequired || h.Get(deferred.HeaderCrawlerError) != deferred.CodePriceAboveMax.CrawlerError() {
		t.Fatalf("%d %s (crawler-error %q), want 402 price_above_max", status, body, h.Get(deferred.HeaderCrawlerError))
	}
	if cs := commitments(t, e.ledger, c.Operator); len(cs) != 0 {
		t.Fatalf("%d commitments recorded", len(cs))
	}
}

func TestAgreementSubscription(t *testing.T) {
	for _, hardStop := range []bool{false, true} {
		name := map[bool]string{false: "overage", true: "hard stop"}[hardStop]
		t.Run(name, func(t *testing.T) {
			e := agreedEnv(t)
			c := e.reg.NewCrawler(t, "op_sub", testcrawler.DefaultTerms)
			sub := &agreement.Subscription{Period: agreement.PeriodWeek, Fee: 5_000_000, Included: 10, HardStop: hardStop}
			if !hardStop {
				sub.Overage = fixed(3_000)
			}
			a := e.reg.Agree(t, "pub_api", c, offer(agreement.Terms{Kind: agreement.KindSubscription, Subscription: sub}))
			period, _ := agreement.PeriodOf(agreement.CadenceWeek, time.Now())
			quota, _ := agreement.ProrateQuota(10, period, agreement.Span{Start: a.Start()})
			if quota < 2 {
				t.Fatalf("quota %d", quota)
			}
			for i := int64(0); i < quota; i++ {
				d := []deferred.Dialect{deferred.DialectDeferred, deferred.DialectX402}[i%2]
				status, body, h := get(t, client(c, d), e.srv.URL+"/data")
				if status != 200 || h.Get(deferred.HeaderCrawlerCharged) != "USD 0.00" {
					t.Fatalf("request %d of %d (%s): %d %q charged %q", i+1, quota, d, status, body, h.Get(deferred.HeaderCrawlerCharged))
				}
				rc := receipt(t, h)
				if rc.Charged.Value != 0 || rc.Agreement != a.ID || rc.AgreementVersion != 1 || rc.Charge != "quota" {
					t.Fatalf("request %d: receipt %+v", i+1, rc)
				}
				if d == deferred.DialectX402 {
					var sr x402.SettleResponse
					if err := x402.Decode(h.Get(x402.HeaderPaymentResponse), &sr); err != nil || sr.Amount != "0" {
						t.Fatalf("PAYMENT-RESPONSE %+v (%v), want amount 0", sr, err)
					}
				}
			}
			status, body, h := get(t, client(c, deferred.DialectDeferred), e.srv.URL+"/data")
			switch {
			case hardStop && (status != http.StatusPaymentRequired || refusal(t, body) != string(deferred.CodeQuotaExhausted) ||
				h.Get(x402.HeaderPaymentRequired) != "" || h.Get(deferred.HeaderCrawlerCharged) != ""):
				t.Fatalf("past a hard stop: %d %s (offer %q), want 402 quota_exhausted without an offer", status, body, h.Get(x402.HeaderPaymentRequired))
			case !hardStop && (status != 200 || h.Get(deferred.HeaderCrawlerCharged) != "USD 0.003" || receipt(t, h).Charge != "overage"):
				t.Fatalf("past the quota: %d %q charged %q, want the overage 0.003", status, body, h.Get(deferred.HeaderCrawlerCharged))
			}
			cs := rederive(t, e, c)
			want := quota + 1
			if hardStop {
				want = quota
			}
			if int64(len(cs)) != want {
				t.Fatalf("%d commitments, want %d", len(cs), want)
			}
			used, err := e.ledger.QuotaUsed(context.Background(), c.Operator, a.ID, period.Start)
			if err != nil || used != want {
				t.Fatalf("quota counter %d (%v), want %d", used, err, want)
			}
			agg, _ := e.ledger.Aggregate(context.Background(), c.Operator, ledger.Day(time.Now()))
			if wantAmount := map[bool]money.Micros{false: 3_000, true: 0}[hardStop]; agg.Currencies["USD"].Amount != wantAmount {
				t.Fatalf("day total %+v, want %s", agg.Currencies["USD"], wantAmount)
			}
		})
	}
}

func TestAgreementPrepaid(t *testing.T) {
	e := agreedEnv(t)
	c := e.reg.NewCrawler(t, "op_pre", testcrawler.DefaultTerms)
	a := e.reg.Agree(t, "pub_api", c, offer(agreement.Terms{Kind: agreement.KindPrepaid,
		Prepaid: &agreement.Prepaid{Amount: 5_000, Rate: &agreement.Rate{Mode: agreement.RateDiscount, DiscountBPS: 1_000}}}))
	ctx := context.Background()
	// The settler credits the balance once the top-up's charge succeeded.
	if _, _, err := e.ledger.CreditPrepaid(ctx, c.Operator, a.ID, "topup_1", 5_000); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		status, body, h := get(t, client(c, deferred.DialectX402), e.srv.URL+"/data")
		rc := receipt(t, h)
		if status != 200 || rc.Charged.Value != 0 || rc.Charge != "prepaid" || rc.Drawn != 1_800 {
			t.Fatalf("draw %d: %d %q receipt %+v, want charged 0, drawn 0.0018", i+1, status, body, rc)
		}
	}
	// 1,400 left, below the 1,800 a request draws: refused, nothing charged
	// or drawn, no offer.
	status, body, h := get(t, client(c, deferred.DialectDeferred), e.srv.URL+"/data")
	if status != http.StatusPaymentRequired || refusal(t, body) != string(deferred.CodePrepaidExhausted) || h.Get(x402.HeaderPaymentRequired) != "" {
		t.Fatalf("exhausted: %d %s, want 402 prepaid_exhausted without an offer", status, body)
	}
	if b, _ := e.ledger.PrepaidBalance(ctx, c.Operator, a.ID); b != 1_400 {
		t.Fatalf("balance %s, want 0.0014", b)
	}
	// A top-up makes it payable again.
	if _, _, err := e.ledger.CreditPrepaid(ctx, c.Operator, a.ID, "topup_2", 5_000); err != nil {
		t.Fatal(err)
	}
	if status, body, _ := get(t, client(c, deferred.DialectDeferred), e.srv.URL+"/data"); status != 200 {
		t.Fatalf("after a top-up: %d %s", status, body)
	}
	cs := rederive(t, e, c)
	if len(cs) != 3 {
		t.Fatalf("%d commitments, want 3", len(cs))
	}
	if b, _ := e.ledger.PrepaidBalance(ctx, c.Operator, a.ID); b != 10_000-3*1_800 {
		t.Fatalf("balance %s", b)
	}
}

// A new version accepted mid-period applies from its start, on the same
// quota counter: the period keeps what it used under version 1.
func TestAgreementSupersededMidPeriod(t *testing.T) {
	e := agreedEnv(t)
	c := e.reg.NewCrawler(t, "op_super", testcrawler.DefaultTerms)
	v1 := e.reg.Agree(t, "pub_api", c, offer(agreement.Terms{Kind: agreement.KindSubscription,
		Subscription: &agreement.Subscription{Period: agreement.PeriodMonth, Fee: 1_000_000, Included: 2, HardStop: true}}))
	for i := 0; i < 2; i++ {
		if status, body, _ := get(t, client(c, deferred.DialectDeferred), e.srv.URL+"/data"); status != 200 {
			t.Fatalf("v1 request %d: %d %s", i+1, status, body)
		}
	}
	if status, body, _ := get(t, client(c, deferred.DialectDeferred), e.srv.URL+"/data"); status != http.StatusPaymentRequired {
		t.Fatalf("v1 past its quota: %d %s", status, body)
	}
	// Version 2 includes 1,000 a month, with an overage: what the quota
	// prorated gives is far above the 2 used.
	next := offer(agreement.Terms{Kind: agreement.KindSubscription,
		Subscription: &agreement.Subscription{Period: agreement.PeriodMonth, Fee: 2_000_000, Included: 1_000, Overage: fixed(1_000)}})
	next.ID = v1.ID
	// The registry records an acceptance in whole seconds, rounded down, so
	// a version accepted within the second of earlier requests would be in
	// force, by its record, before them: accept in the next second.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	v2 := e.reg.Agree(t, "pub_api", c, next)
	if v2.Version != 2 {
		t.Fatalf("version %d", v2.Version)
	}
	status, _, h := get(t, client(c, deferred.DialectDeferred), e.srv.URL+"/data")
	if rc := receipt(t, h); status != 200 || rc.Charged.Value != 0 || rc.AgreementVersion != 2 || rc.Charge != "quota" {
		t.Fatalf("under v2: %d receipt %+v", status, rc)
	}
	cs := rederive(t, e, c)
	if len(cs) != 3 || cs[0].AgreementVersion != 1 || cs[2].AgreementVersion != 2 {
		t.Fatalf("commitments %+v", cs)
	}
	period, _ := agreement.PeriodOf(agreement.CadenceMonth, time.Now())
	if used, _ := e.ledger.QuotaUsed(context.Background(), c.Operator, v1.ID, period.Start); used != 3 {
		t.Fatalf("quota counter %d, want 3 (one counter for both versions)", used)
	}
}
