package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/internal/teststripe"
	"github.com/paycrawl/paycrawl/pkg/archive"
	"github.com/paycrawl/paycrawl/pkg/archive/localstore"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/netguard"
	"github.com/paycrawl/paycrawl/pkg/paywall/keys"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/api"
	"github.com/paycrawl/paycrawl/pkg/registry/stripecust"
	"github.com/paycrawl/paycrawl/pkg/webhook"
	"github.com/redis/go-redis/v9"
)

// stack is a key directory on real Redis and stripe-mock, a resolver that
// listens for invalidations, and a paywall that verifies crawlers through
// that resolver, as a gateway will.
type stack struct {
	keydir   *httptest.Server
	store    *registry.Store
	resolver *keys.Resolver
	paywall  *paywall
	site     *httptest.Server
	ledger   *ledger.Ledger
	hooks    *webhook.Store
	// rdb is the stack's redis-server; archive the cold tier the key
	// directory reads archived days from.
	rdb     redis.UniversalClient
	archive archive.Store
	// receipts is crawlctl's receipt log in the test's directory.
	receipts string
}

func startStack(t *testing.T) *stack {
	t.Helper()
	rs := testredis.Start(t, testredis.Options{NoAOF: true})
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	customers, err := stripecust.New(stripecust.Config{APIKey: teststripe.APIKey, BaseURL: teststripe.Start(t)})
	if err != nil {
		t.Fatal(err)
	}
	st := &stack{keydir: httptest.NewUnstartedServer(nil), receipts: filepath.Join(t.TempDir(), "receipts.jsonl"), rdb: rdb}
	if st.archive, err = localstore.Open(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	base := "http://" + st.keydir.Listener.Addr().String()
	log := slog.New(slog.DiscardHandler)
	st.store, err = registry.NewStore(rdb, registry.Options{AgentBase: base, Customers: customers, Logger: log,
		SignupsPerMinute: -1, AllowHTTPLoopbackAgents: true,
		EVM: registry.WalletDomain{ChainID: 1337, Settler: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}})
	if err != nil {
		t.Fatal(err)
	}
	st.ledger, err = ledger.New(rdb, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.hooks, err = webhook.NewStore(rdb, webhook.Options{AllowHTTP: true, Policy: &netguard.Policy{Allow: netguard.LoopbackPrefixes()}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Store: st.store, AdminToken: strings.Repeat("a", 32), Logger: log, Usage: &archive.Tiered{Ledger: st.ledger, Store: st.archive}, Webhooks: st.hooks,
		EVM: api.EVMConfig{SettlerAddress: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", TokenAddress: "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", ChainID: 1337}})
	if err != nil {
		t.Fatal(err)
	}
	st.keydir.Config.Handler = srv.Handler()
	st.keydir.Start()
	t.Cleanup(st.keydir.Close)

	st.resolver, err = keys.NewResolver(st.store, keys.ResolverOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = st.resolver.Listen(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-st.resolver.Subscribed():
	case <-time.After(5 * time.Second):
		t.Fatal("resolver did not subscribe")
	}
	offers, err := deferred.NewOffers([][]byte{[]byte(strings.Repeat("k", 32))}, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.paywall = &paywall{t: t, offers: offers, resolver: st.resolver, verifier: &deferred.Verifier{Keys: st.resolver},
		price: money.Amount{Currency: "USD", Value: 10_000}}
	st.site = httptest.NewServer(st.paywall)
	t.Cleanup(st.site.Close)
	return st
}

// paywall is a minimal publisher: 402 with an offer, then verification
// through the registry resolver, the account's billing check, and a
// receipt. It records charges in memory.
type paywall struct {
	t        *testing.T
	offers   *deferred.Offers
	resolver *keys.Resolver
	verifier *deferred.Verifier
	price    money.Amount

	// ledger, when set, receives a real commitment for every charge, and
	// the paths /cut and /unconfirmed misbehave after it: the body is cut
	// short, or the charge is answered as unconfirmed (503).
	ledger *ledger.Ledger

	mu      sync.Mutex
	charges []string // operator ids
}

func (p *paywall) quote(r *http.Request) deferred.Quote {
	return deferred.Quote{Resource: "http://" + r.Host + r.URL.Path, Authority: deferred.NormalizeAuthority(r.Host, "http"),
		Path: r.URL.EscapedPath(), Price: p.price, PayTo: "pub_1", Network: "paycrawl:402"}
}

func (p *paywall) refuse(w http.ResponseWriter, r *http.Request, err error) {
	code := deferred.CodeOf(err)
	w.Header().Set(deferred.HeaderCrawlerError, code.CrawlerError())
	if code.Status() == http.StatusPaymentRequired {
		offer := p.offers.New(p.quote(r))
		_ = offer.WriteHeaders(w.Header(), code)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusPaymentRequired)
		_ = json.NewEncoder(w).Encode(offer.V1Body(err.Error()))
		return
	}
	http.Error(w, err.Error(), code.Status())
}

func (p *paywall) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	intent, err := deferred.ParseIntent(r.Header)
	if err != nil {
		p.refuse(w, r, err)
		return
	}
	if !deferred.HasSignature(r.Header) || intent == nil {
		if deferred.HasSignature(r.Header) {
			if _, err := p.verifier.Verify(r.Context(), r, "http", nil); err != nil {
				p.refuse(w, r, err)
				return
			}
		}
		p.refuse(w, r, deferred.Errorf(deferred.CodePaymentRequired, "payment required"))
		return
	}
	verdict, err := p.verifier.Verify(r.Context(), r, "http", intent)
	if err != nil {
		p.refuse(w, r, err)
		return
	}
	if _, err := p.resolver.Account(r.Context(), verdict.Key.Account); err != nil {
		p.refuse(w, r, err)
		return
	}
	charged, err := p.offers.Accept(intent, p.quote(r))
	if err != nil {
		p.refuse(w, r, err)
		return
	}
	p.mu.Lock()
	p.charges = append(p.charges, verdict.Key.Account)
	p.mu.Unlock()
	commitmentID := "cmt_1"
	if p.ledger != nil {
		ev := verdict.Evidence
		rid := fmt.Sprintf("rq%d", time.Now().UnixNano())
		id, err := p.ledger.Append(r.Context(), &ledger.Commitment{RequestID: rid, Received: time.Now(), Account: verdict.Key.Account,
			Agent: verdict.Agent.URL, KeyID: verdict.Key.ID, PublicKey: string(verdict.Key.JWK()), Publisher: "pub_1", Site: r.Host,
			Method: ev.Method, Scheme: ev.Scheme, Authority: ev.Authority, Path: ev.RequestURI, Price: charged.Value,
			Currency: charged.Currency, Dialect: string(intent.Dialect), Label: ev.Label, SignatureInput: ev.SignatureInput,
			Signature: ev.Signature, Covered: ev.Headers, ReplayIDs: verdict.ReplayIDs, ReplayUntil: verdict.Expires}, ledger.Limits{})
		if err != nil {
			p.t.Errorf("paywall append: %v", err)
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		commitmentID = id
		w.Header().Set("X-Request-Id", rid)
		switch r.URL.Path {
		case "/unconfirmed":
			w.Header().Set(deferred.HeaderCrawlerError, deferred.CodeChargeUnconfirmed.CrawlerError())
			http.Error(w, "the ledger did not confirm the payment", http.StatusServiceUnavailable)
			return
		case "/cut":
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("<html>the first bytes"))
			// Flushed, so that the client has the answer's headers: a
			// connection that dies before any byte of the answer is resent
			// by net/http's Transport, signature and all.
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the connection drops mid-body
		}
	}
	rc := deferred.Receipt{Scheme: intent.Scheme, Network: "paycrawl:402", OfferID: intent.OfferID, CommitmentID: commitmentID,
		Payer: verdict.Agent.URL, Charged: charged, Timestamp: time.Now()}
	_ = rc.WriteHeaders(w.Header(), intent.Dialect)
	w.Header().Set("Content-Type", "text/html")
	_, _ = w.Write([]byte("<html>paid content</html>"))
}

// cli runs crawlctl with args and the stack's key directory.
type cli struct {
	t   *testing.T
	env map[string]string
	st  *stack
}

func (c *cli) run(args ...string) (stdout, stderr string, err error) {
	c.t.Helper()
	var out, errb bytes.Buffer
	env := map[string]string{"PAYCRAWL_KEYDIR_URL": c.st.keydir.URL, "PAYCRAWL_RECEIPTS": c.st.receipts}
	for k, v := range c.env {
		env[k] = v
	}
	err = run(context.Background(), args, &out, &errb, func(k string) string { return env[k] })
	return out.String(), errb.String(), err
}

// ok runs a command that must succeed.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	out, errOut, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("crawlctl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// jsonOf runs a command with --json and decodes its output.
func (c *cli) jsonOf(v any, args ...string) {
	c.t.Helper()
	out := c.ok(append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("crawlctl %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// fails runs a command that must fail with exit status code, and returns
// its stdout.
func (c *cli) fails(code int, args ...string) string {
	c.t.Helper()
	out, errOut, err := c.run(args...)
	if got := exitCode(err); got != code {
		c.t.Fatalf("crawlctl %s: exit %d (%v), want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, err, code, out, errOut)
	}
	return out
}

// jsonFails runs a command with --json that must fail with exit status
// code, and decodes its output.
func (c *cli) jsonFails(v any, code int, args ...string) {
	c.t.Helper()
	out := c.fails(code, append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("crawlctl %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func isUsage(err error) bool {
	var ue *usageError
	return errors.As(err, &ue)
}
