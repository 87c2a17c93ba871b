package gateway_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/gateway"
	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/internal/testcrawler"
	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/paywall/keys"
	"github.com/paycrawl/paycrawl/pkg/pricing"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/prometheus/client_golang/prometheus"
)

// harness is a gateway in front of an httptest origin, on a real
// redis-server ledger and a real registry.
type harness struct {
	t        testing.TB
	redis    *testredis.Server
	regRedis *testredis.Server
	ledger   *ledger.Ledger
	store    *registry.Store
	resolver *keys.Resolver
	registry *testcrawler.Registry
	origin   *httptest.Server
	gw       *gateway.Gateway
	srv      *httptest.Server
	cfg      *gateway.Config
	// refusals, when set, counts the refusals of the gateways started
	// after it is set.
	refusals gateway.RefusalRecorder
	// rawConfig is the YAML cfg was parsed from.
	rawConfig string

	mu          sync.Mutex
	originHits  map[string]int
	onOriginHit func(path string)
}

const configTemplate = `
registration_url: https://keys.example/register
offer_keys: [%s]
ledger_timeout: 5s
origin_timeout: 2s
registry:
  public_url: https://keys.example
publishers:
  - id: pub_news
    token_sha256: %s
sites:
  - host: 127.0.0.1
    origin: %s
    publisher: pub_news
    currency: USD
    default_price: "0.01"
    terms_url: https://news.example/terms
    rules:
      - prefix: /free/
        free: true
      - glob: /premium/*
        price: "0.05"
`

const publisherToken = "publisher-secret-token"

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{t: t, originHits: map[string]int{}}
	// The ledger's own setting: with everysec, redis-server postpones its
	// AOF write while a background fsync is slow yet still replies, so a
	// SIGKILL of redis-server alone can lose an acknowledged append (seen
	// here under load in TestLedgerDownFailsClosed).
	h.redis = testredis.Start(t, testredis.Options{Fsync: "always"})
	// Reads (and the gateway's ledger_timeout) wait up to five seconds:
	// with appendfsync always, a reply waits for the fsync, which a disk
	// shared with the other packages' tests can stall past a second (seen
	// at a load of 30), making an append's outcome unknown (503
	// charge_unconfirmed) where the test expects 200. A killed
	// redis-server still refuses connections at once.
	rdb, err := ledger.NewClient(ledger.ClientConfig{Addrs: []string{h.redis.Addr()},
		DialTimeout: 500 * time.Millisecond, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	h.ledger, err = ledger.New(rdb, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The registry runs on its own redis-server, as a key directory's would.
	reg := testcrawler.Start(t)
	h.regRedis, h.store, h.resolver = reg.Redis, reg.Store, reg.Resolver
	h.registry = reg
	h.origin = httptest.NewServer(http.HandlerFunc(h.serveOrigin))
	t.Cleanup(h.origin.Close)

	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sum := sha256hex(publisherToken)
	h.rawConfig = fmt.Sprintf(configTemplate, hex.EncodeToString(key), sum, h.origin.URL)
	h.cfg, err = gateway.ParseConfig([]byte(h.rawConfig))
	if err != nil {
		t.Fatal(err)
	}
	h.gw, h.srv = h.startGateway(h.ledger)
	return h
}

// useProfile restarts the harness's gateway with a coverage profile.
func (h *harness) useProfile(p deferred.Profile) {
	h.t.Helper()
	h.cfg.Signatures.Profile = string(p)
	h.gw, h.srv = h.startGateway(h.ledger)
}

// startGateway runs a gateway of the harness's configuration on ledger l.
func (h *harness) startGateway(l gateway.Ledger) (*gateway.Gateway, *httptest.Server) {
	h.t.Helper()
	gw, err := gateway.New(gateway.Options{
		Config: h.cfg, Ledger: l, Accounts: keys.Accounts(h.resolver), Refusals: h.refusals,
		Metrics: gateway.NewMetrics(prometheus.NewRegistry()),
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	srv := httptest.NewServer(httpx.Middleware(slog.New(slog.DiscardHandler), gw))
	h.t.Cleanup(srv.Close)
	return gw, srv
}

func (h *harness) serveOrigin(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.originHits[r.URL.Path]++
	hook := h.onOriginHit
	h.mu.Unlock()
	if hook != nil {
		hook(r.URL.Path)
	}
	switch {
	case r.URL.Path == "/missing":
		http.NotFound(w, r)
	case r.URL.Path == "/broken":
		http.Error(w, "origin failure", http.StatusInternalServerError)
	case r.URL.Path == "/slow":
		time.Sleep(3 * time.Second)
	default:
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, "<p>paid body of %s</p>", r.URL.Path)
	}
}

// crawler is a signing client of one operator, registered in the registry
// with a hosted agent.
type crawler struct {
	operator string
	agent    string
	key      ed25519.PrivateKey
	signer   *deferred.Signer

	mu       sync.Mutex
	receipts []*deferred.Receipt
}

// terms are a crawler's billing terms in decimal strings.
type terms struct{ cap, maxPrice string }

var defaultTerms = terms{cap: "1000", maxPrice: "1.00"}

// newCrawler signs up an operator, registers a key with its proof and sets
// an evm billing profile with the given terms.
func (h *harness) newCrawler(name string, tm terms) *crawler {
	h.t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.newCrawlerWithKey(name, tm, priv)
}

// newCrawlerWithKey is newCrawler for a key made elsewhere.
func (h *harness) newCrawlerWithKey(name string, tm terms, priv ed25519.PrivateKey) *crawler {
	h.t.Helper()
	c := h.registry.NewCrawlerWithKey(h.t, name, testcrawler.Terms{DailyCap: tm.cap, DefaultMaxPrice: tm.maxPrice}, priv)
	return &crawler{operator: c.Operator, agent: c.Agent, key: c.Key, signer: c.Signer}
}

// setCrawlerRule adds a per-crawler rule to the site and reloads the gateway.
func (h *harness) setCrawlerRule(rule pricing.OverrideConfig) {
	h.t.Helper()
	h.cfg.Sites[0].Crawlers = append(h.cfg.Sites[0].Crawlers, rule)
	if err := h.gw.Reload(h.cfg.Sites); err != nil {
		h.t.Fatal(err)
	}
}

// client returns an http.Client paying up to maxPrice in the dialect.
func (c *crawler) client(maxPrice string, dialect deferred.Dialect, preauth bool) *http.Client {
	m, err := money.Parse(maxPrice)
	if err != nil {
		panic(err)
	}
	return &http.Client{Transport: &deferred.Transport{
		Signer: c.signer, MaxPrice: money.Amount{Currency: "USD", Value: m}, Dialect: dialect, PreAuthorize: preauth,
		OnReceipt: func(_ *http.Request, r *deferred.Receipt) {
			c.mu.Lock()
			c.receipts = append(c.receipts, r)
			c.mu.Unlock()
		},
	}}
}

// get fetches a path and returns status, body and headers.
func (h *harness) get(c *http.Client, path string, hdr ...string) (int, string, http.Header) {
	h.t.Helper()
	req, err := http.NewRequest("GET", h.srv.URL+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// commitments returns the ledger records of an operator for today.
func (h *harness) commitments(operator string) []*ledger.Commitment {
	h.t.Helper()
	var out []*ledger.Commitment
	err := h.ledger.Commitments(context.Background(), operator, time.Now().UTC().Format(time.DateOnly), func(c *ledger.Commitment) error {
		out = append(out, c)
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *harness) hits(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.originHits[path]
}

// originHitsTotal is how many requests reached the origin, all paths.
func (h *harness) originHitsTotal() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.originHits {
		n += c
	}
	return n
}

func sha256hex(s string) string {
	sum := sha256Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
