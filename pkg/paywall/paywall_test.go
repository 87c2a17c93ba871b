package paywall_test

import (
	"bufio"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/paycrawl/paycrawl/internal/testcrawler"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/paywall"
	"github.com/paycrawl/paycrawl/pkg/x402"
)

func TestUnsignedGets402WithOffer(t *testing.T) {
	e := newEnv(t, paywall.Options{})
	status, body, h := get(t, http.DefaultClient, e.srv.URL+"/data")
	if status != http.StatusPaymentRequired {
		t.Fatalf("unsigned: %d %s, want 402", status, body)
	}
	var pr x402.PaymentRequired
	if err := x402.Decode(h.Get(x402.HeaderPaymentRequired), &pr); err != nil {
		t.Fatal(err)
	}
	if len(pr.Accepts) == 0 || pr.Accepts[0].Amount != "2000" || pr.Accepts[0].PayTo != "pub_api" ||
		pr.Accepts[0].Scheme != "batch-settlement" || pr.Accepts[0].Network != "paycrawl:402" {
		t.Errorf("offer %+v, want batch-settlement 2000 micro-USD to pub_api on paycrawl:402", pr.Accepts)
	}
	if got := h.Get(deferred.HeaderCrawlerPrice); got != "USD 0.002" {
		t.Errorf("crawler-price %q, want USD 0.002", got)
	}
	if e.served.Load() != 0 {
		t.Error("the handler ran for an unpaid request")
	}
	// Free routes are served to anyone.
	if status, body, _ := get(t, http.DefaultClient, e.srv.URL+"/free/hello"); status != 200 || body != "hello" {
		t.Errorf("free route: %d %q", status, body)
	}
}

func TestOnlySuccessIsCharged(t *testing.T) {
	e := newEnv(t, paywall.Options{})
	c := e.reg.NewCrawler(t, "op_2xx", testcrawler.DefaultTerms)
	for _, d := range []deferred.Dialect{deferred.DialectDeferred, deferred.DialectX402} {
		status, body, h := get(t, client(c, d), e.srv.URL+"/data")
		if status != 200 || body != `{"paid":"data"}` || h.Get(deferred.HeaderCrawlerCharged) != "USD 0.002" {
			t.Fatalf("%s: %d %q charged %q", d, status, body, h.Get(deferred.HeaderCrawlerCharged))
		}
	}
	if status, _, h := get(t, client(c, deferred.DialectDeferred), e.srv.URL+"/missing"); status != 404 || h.Get(deferred.HeaderCrawlerCharged) != "" {
		t.Fatalf("404: %d charged %q", status, h.Get(deferred.HeaderCrawlerCharged))
	}
	cs := commitments(t, e.ledger, c.Operator)
	if len(cs) != 2 {
		t.Fatalf("%d commitments, want 2 (the 404 is free)", len(cs))
	}
	for _, cm := range cs {
		if cm.Price != 2000 || cm.Publisher != "pub_api" || cm.Site != "api.example" || cm.Path != "/data" || cm.Signature == "" {
			t.Errorf("commitment %+v", cm)
		}
	}
}

// The charge is in the ledger before the handler's first byte leaves, and
// the body streams: the client reads the headers while the handler is
// still blocked after its flush.
func TestChargeBeforeFirstByteAndStream(t *testing.T) {
	e := newEnv(t, paywall.Options{})
	c := e.reg.NewCrawler(t, "op_stream", testcrawler.DefaultTerms)
	e.release = make(chan struct{})
	t.Cleanup(func() {
		select {
		case <-e.release:
		default:
			close(e.release)
		}
	})
	var atFlush atomic.Int64
	e.onStream = func() { atFlush.Store(int64(len(commitments(t, e.ledger, c.Operator)))) }
	resp, err := client(c, deferred.DialectDeferred).Get(e.srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// The headers came while the handler waits: nothing was buffered.
	if resp.StatusCode != 200 || resp.Header.Get(deferred.HeaderCrawlerCharged) != "USD 0.002" {
		t.Fatalf("%d charged %q", resp.StatusCode, resp.Header.Get(deferred.HeaderCrawlerCharged))
	}
	if atFlush.Load() != 1 {
		t.Errorf("%d commitments when the handler's status was written, want 1", atFlush.Load())
	}
	close(e.release)
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Errorf("stream: %q %v", line, err)
	}
}

func TestReplayIsRefused(t *testing.T) {
	e := newEnv(t, paywall.Options{})
	c := e.reg.NewCrawler(t, "op_replay", testcrawler.DefaultTerms)
	req, _ := http.NewRequest("GET", e.srv.URL+"/data", nil)
	req.Header.Set(deferred.HeaderCrawlerMaxPrice, "USD 0.01")
	if err := c.Signer.Sign(req, deferred.HeaderCrawlerMaxPrice); err != nil {
		t.Fatal(err)
	}
	var statuses []int
	for range 2 {
		resp, err := http.DefaultClient.Do(req.Clone(req.Context()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
		if resp.StatusCode != 200 && resp.Header.Get(deferred.HeaderCrawlerError) != deferred.CodeReplay.CrawlerError() {
			t.Errorf("crawler-error %q", resp.Header.Get(deferred.HeaderCrawlerError))
		}
	}
	if statuses[0] != 200 || statuses[1] != deferred.CodeReplay.Status() {
		t.Errorf("statuses %v, want 200 then %d", statuses, deferred.CodeReplay.Status())
	}
	if n := len(commitments(t, e.ledger, c.Operator)); n != 1 || e.served.Load() != 1 {
		t.Errorf("%d commitments, %d handler runs: want 1 and 1", n, e.served.Load())
	}
}

func TestOverCapIsRefused(t *testing.T) {
	e := newEnv(t, paywall.Options{})
	c := e.reg.NewCrawler(t, "op_cap", testcrawler.Terms{DailyCap: "0.003", DefaultMaxPrice: "0.003"})
	cl := client(c, deferred.DialectDeferred)
	if status, _, _ := get(t, cl, e.srv.URL+"/data"); status != 200 {
		t.Fatalf("first call: %d", status)
	}
	status, _, h := get(t, cl, e.srv.URL+"/data")
	if status != deferred.CodeOverCap.Status() || h.Get(deferred.HeaderCrawlerError) != deferred.CodeOverCap.CrawlerError() {
		t.Errorf("over cap: %d %q", status, h.Get(deferred.HeaderCrawlerError))
	}
	if n := len(commitments(t, e.ledger, c.Operator)); n != 1 || e.served.Load() != 1 {
		t.Errorf("%d commitments, %d handler runs: want 1 and 1", n, e.served.Load())
	}
}

// A charge the ledger cannot record sends nothing of the handler's answer,
// not even the headers it set.
func TestLedgerFailureSendsNothingPaid(t *testing.T) {
	var e *env
	e = newEnv(t, paywall.Options{BeforeCharge: func(*http.Request, *ledger.Commitment) error {
		e.redis.Kill()
		return nil
	}})
	c := e.reg.NewCrawler(t, "op_down", testcrawler.DefaultTerms)
	status, body, h := get(t, client(c, deferred.DialectDeferred), e.srv.URL+"/data")
	if status != 503 || strings.Contains(body, "paid") || h.Get(deferred.HeaderCrawlerCharged) != "" {
		t.Fatalf("ledger down: %d %q charged %q, want 503 without the body", status, body, h.Get(deferred.HeaderCrawlerCharged))
	}
	if ce := h.Get(deferred.HeaderCrawlerError); ce == "" {
		t.Error("no crawler-error")
	}
}

// The hooks see each charge: BeforeCharge may refuse it (nothing is
// recorded), AfterCharge gets the ledger's id.
func TestChargeHooks(t *testing.T) {
	var ids []string
	refuse := atomic.Bool{}
	e := newEnv(t, paywall.Options{
		BeforeCharge: func(r *http.Request, c *ledger.Commitment) error {
			if refuse.Load() {
				return deferred.Errorf(deferred.CodeBlocked, "not today")
			}
			return nil
		},
		AfterCharge: func(r *http.Request, c *ledger.Commitment, id string) { ids = append(ids, id) },
	})
	c := e.reg.NewCrawler(t, "op_hooks", testcrawler.DefaultTerms)
	cl := client(c, deferred.DialectDeferred)
	if status, _, _ := get(t, cl, e.srv.URL+"/data"); status != 200 || len(ids) != 1 || ids[0] == "" {
		t.Fatalf("charged: %d ids %v", status, ids)
	}
	refuse.Store(true)
	status, body, _ := get(t, cl, e.srv.URL+"/data")
	if status != deferred.CodeBlocked.Status() || strings.Contains(body, "paid") {
		t.Errorf("refused by the hook: %d %q", status, body)
	}
	if n := len(commitments(t, e.ledger, c.Operator)); n != 1 || len(ids) != 1 {
		t.Errorf("%d commitments, ids %v: want 1", n, ids)
	}
}

func TestNewNeedsASiteAndAccounts(t *testing.T) {
	if _, err := paywall.New(paywall.Options{}); !errors.Is(err, paywall.ErrNoSite) {
		t.Errorf("no site: %v", err)
	}
	s, _ := paywall.NewSite(apiSite)
	if _, err := paywall.New(paywall.Options{Site: s}); !errors.Is(err, paywall.ErrNoAccounts) {
		t.Errorf("no accounts: %v", err)
	}
}
