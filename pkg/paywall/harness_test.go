package paywall_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/paywall/keys"

	"github.com/paycrawl/paycrawl/internal/testcrawler"
	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/paywall"
	"github.com/paycrawl/paycrawl/pkg/pricing"
)

// env is a plain net/http server whose handlers are wrapped by a paywall,
// on a real redis-server ledger and a real registry.
type env struct {
	t      *testing.T
	redis  *testredis.Server
	ledger *ledger.Ledger
	reg    *testcrawler.Registry
	pw     *paywall.Paywall
	srv    *httptest.Server
	// served counts the handler's runs.
	served atomic.Int64
	// onStream runs in /stream once its status is written, before the
	// headers are flushed; release, when set, holds the body back until it
	// is closed.
	onStream func()
	release  chan struct{}
}

// apiSite is the middleware's site: 0.002 per call, /free/ free.
var apiSite = pricing.SiteConfig{Host: "api.example", Publisher: "pub_api", Currency: "USD", DefaultPrice: "0.002",
	Rules: []pricing.RuleConfig{{Prefix: "/free/", Free: true}}}

func newEnv(t *testing.T, o paywall.Options) *env {
	t.Helper()
	e := &env{t: t, reg: testcrawler.Start(t)}
	e.redis = testredis.Start(t, testredis.Options{Fsync: "always"})
	rdb, err := ledger.NewClient(ledger.ClientConfig{Addrs: []string{e.redis.Addr()},
		DialTimeout: 500 * time.Millisecond, ReadTimeout: time.Second, WriteTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	if e.ledger, err = ledger.New(rdb, ledger.Options{}); err != nil {
		t.Fatal(err)
	}
	if o.Site, err = paywall.NewSite(apiSite); err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	o.Ledger, o.Accounts, o.OfferSecrets = e.ledger, keys.Accounts(e.reg.Resolver), [][]byte{secret}
	if o.Agreements == nil {
		// The registry's agreements, as the gateway wires them: none unless
		// a test makes some (testcrawler.Registry.Agree).
		o.Agreements = keys.Agreements(e.reg.Resolver)
	}
	o.LedgerTimeout = 2 * time.Second
	if e.pw, err = paywall.New(o); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /data", func(w http.ResponseWriter, r *http.Request) {
		e.served.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"paid":"data"}`)
	})
	mux.HandleFunc("GET /free/hello", func(w http.ResponseWriter, r *http.Request) {
		e.served.Add(1)
		fmt.Fprint(w, "hello")
	})
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		e.served.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		if e.onStream != nil {
			e.onStream()
		}
		_ = http.NewResponseController(w).Flush()
		if e.release != nil {
			<-e.release
		}
		fmt.Fprint(w, "data: one\n\n")
	})
	// Anything else is a 404 from the handler itself.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		e.served.Add(1)
		http.NotFound(w, r)
	})
	e.srv = httptest.NewServer(e.pw.Wrap(mux))
	t.Cleanup(e.srv.Close)
	return e
}

// client pays up to 0.01 per request, pre-authorized, in dialect d.
func client(c *testcrawler.Crawler, d deferred.Dialect) *http.Client {
	return &http.Client{Transport: &deferred.Transport{Signer: c.Signer,
		MaxPrice: money.Amount{Currency: "USD", Value: 10_000}, Dialect: d, PreAuthorize: d == deferred.DialectDeferred}}
}

func get(t *testing.T, c *http.Client, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// commitments returns the ledger records of an operator for today.
func commitments(t *testing.T, l *ledger.Ledger, operator string) []*ledger.Commitment {
	t.Helper()
	var out []*ledger.Commitment
	err := l.Commitments(context.Background(), operator, ledger.Day(time.Now()), func(c *ledger.Commitment) error {
		out = append(out, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var quiet = slog.New(slog.DiscardHandler)
