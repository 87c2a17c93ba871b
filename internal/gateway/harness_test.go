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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/gateway"
	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/prometheus/client_golang/prometheus"
)

// harness is a gateway in front of an httptest origin, on a real
// redis-server ledger and a real registry.
type harness struct {
	t        testing.TB
	redis    *testredis.Server
	ledger   *ledger.Ledger
	accounts *testAccounts
	origin   *httptest.Server
	gw       *gateway.Gateway
	srv      *httptest.Server
	cfg      *gateway.Config

	mu          sync.Mutex
	originHits  map[string]int
	onOriginHit func(path string)
}

const configTemplate = `
registration_url: https://keys.example/register
offer_keys: [%s]
ledger_timeout: 500ms
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
    crawlers:
      - operator: op_blocked
        action: block
      - agent: https://friend.example
        action: allow
`

const publisherToken = "publisher-secret-token"

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{t: t, originHits: map[string]int{}}
	h.redis = testredis.Start(t, testredis.Options{Fsync: "everysec"})
	rdb, err := ledger.NewClient(ledger.ClientConfig{Addrs: []string{h.redis.Addr()},
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	h.ledger, err = ledger.New(rdb, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h.accounts = newTestAccounts()
	h.origin = httptest.NewServer(http.HandlerFunc(h.serveOrigin))
	t.Cleanup(h.origin.Close)

	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sum := sha256hex(publisherToken)
	h.cfg, err = gateway.ParseConfig([]byte(fmt.Sprintf(configTemplate, hex.EncodeToString(key), sum, h.origin.URL)))
	if err != nil {
		t.Fatal(err)
	}
	h.gw, err = gateway.New(gateway.Options{
		Config: h.cfg, Ledger: h.ledger, Accounts: h.accounts,
		Metrics: gateway.NewMetrics(prometheus.NewRegistry()),
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(httpx.Middleware(slog.New(slog.DiscardHandler), h.gw))
	t.Cleanup(h.srv.Close)
	return h
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

// crawler is a signing client of one operator.
type crawler struct {
	operator string
	agent    string
	key      ed25519.PrivateKey
	signer   *deferred.Signer

	mu       sync.Mutex
	receipts []*deferred.Receipt
}

// newCrawler registers a key for operator under agent with the given billing.
func (h *harness) newCrawler(operator, agent string, b gateway.Billing) *crawler {
	h.t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		h.t.Fatal(err)
	}
	s, err := deferred.NewSigner(priv, agent)
	if err != nil {
		h.t.Fatal(err)
	}
	h.accounts.add(operator, agent, priv, b)
	return &crawler{operator: operator, agent: agent, key: priv, signer: s}
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

func sha256hex(s string) string {
	sum := sha256Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// testAccounts stands in for the registry: agents, keys and billing terms.
type testAccounts struct {
	mu      sync.Mutex
	keys    map[string]deferred.ResolvedKey // agent + " " + keyid
	billing map[string]gateway.Billing
}

func newTestAccounts() *testAccounts {
	return &testAccounts{keys: map[string]deferred.ResolvedKey{}, billing: map[string]gateway.Billing{}}
}

func (a *testAccounts) add(operator, agent string, priv ed25519.PrivateKey, b gateway.Billing) {
	k, err := deferred.NewKey(priv.Public().(ed25519.PublicKey))
	if err != nil {
		panic(err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keys[agent+" "+k.ID] = deferred.ResolvedKey{Key: k, Account: operator}
	a.billing[operator] = b
}

func (a *testAccounts) ResolveKey(_ context.Context, agent, keyID string) (deferred.ResolvedKey, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k, ok := a.keys[agent+" "+keyID]
	if !ok {
		if !strings.HasPrefix(agent, "https://") {
			return deferred.ResolvedKey{}, deferred.Errorf(deferred.CodeAgentUnknown, "agent %s", agent)
		}
		return deferred.ResolvedKey{}, deferred.Errorf(deferred.CodeUnknownKey, "key %s", keyID)
	}
	return k, nil
}

func (a *testAccounts) Billing(_ context.Context, operator string) (gateway.Billing, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	b, ok := a.billing[operator]
	if !ok {
		return gateway.Billing{}, deferred.Errorf(deferred.CodeBillingMissing, "no billing profile")
	}
	return b, nil
}
