package deferred

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
)

const testAgent = "https://crawler.example"

// testKey returns a fresh Ed25519 key, its Key and a signer naming testAgent.
func testKey(t testing.TB) (ed25519.PrivateKey, Key, *Signer) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := NewKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(priv, testAgent)
	if err != nil {
		t.Fatal(err)
	}
	return priv, k, s
}

// staticKeys resolves the given keys under testAgent.
func staticKeys(keys ...Key) KeyResolver {
	return KeyResolverFunc(func(_ context.Context, agent, keyID string) (ResolvedKey, error) {
		if agent != testAgent {
			return ResolvedKey{}, Errorf(CodeAgentUnknown, "agent %s is not registered", agent)
		}
		for _, k := range keys {
			if k.ID == keyID {
				return ResolvedKey{Key: k, Account: "op_1"}, nil
			}
		}
		return ResolvedKey{}, Errorf(CodeUnknownKey, "key %s", keyID)
	})
}

// memGuard is an in-memory ReplayGuard for unit tests; the real one is the
// Redis ledger, tested in pkg/ledger.
type memGuard struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (g *memGuard) Seen(_ context.Context, account string, ids []string) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, id := range ids {
		if g.seen[account+"/"+id] {
			return true, nil
		}
	}
	return false, nil
}

func (g *memGuard) record(account string, ids []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = map[string]bool{}
	}
	for _, id := range ids {
		g.seen[account+"/"+id] = true
	}
}

func testOffers(t testing.TB, now func() time.Time) *Offers {
	t.Helper()
	o, err := NewOffers([][]byte{[]byte(strings.Repeat("k", 32))}, time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// paywall is a minimal server of the protocol, as the gateway does it: offer,
// intent, verify, accept, record, receipt. It records charges in memory.
type paywall struct {
	t        testing.TB
	offers   *Offers
	verifier *Verifier
	guard    *memGuard
	price    money.Amount

	mu      sync.Mutex
	charges []money.Amount
}

func newPaywall(t testing.TB, keys ...Key) *paywall {
	g := &memGuard{}
	return &paywall{
		t: t, offers: testOffers(t, nil), guard: g,
		verifier: &Verifier{Keys: staticKeys(keys...), Replay: g},
		price:    money.Amount{Currency: "USD", Value: 10_000},
	}
}

func (p *paywall) quote(r *http.Request) Quote {
	return Quote{Resource: "http://" + r.Host + r.URL.Path, Authority: NormalizeAuthority(r.Host, "http"), Path: r.URL.EscapedPath(),
		Price: p.price, PayTo: "pub_1", Network: "paycrawl:402", RegistrationURL: "https://keys.example/register"}
}

func (p *paywall) refuse(w http.ResponseWriter, r *http.Request, err error) {
	code := CodeOf(err)
	w.Header().Set(HeaderCrawlerError, code.CrawlerError())
	if code.Status() == http.StatusPaymentRequired {
		offer := p.offers.New(p.quote(r))
		if err := offer.WriteHeaders(w.Header(), code); err != nil {
			p.t.Error(err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusPaymentRequired)
		_ = json.NewEncoder(w).Encode(offer.V1Body(err.Error()))
		return
	}
	http.Error(w, err.Error(), code.Status())
}

func (p *paywall) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	intent, err := ParseIntent(r.Header)
	if err != nil {
		p.refuse(w, r, err)
		return
	}
	if !HasSignature(r.Header) {
		if intent != nil {
			p.refuse(w, r, ErrSignatureNeeded)
			return
		}
		p.refuse(w, r, Errorf(CodePaymentRequired, "payment required"))
		return
	}
	verdict, err := p.verifier.Verify(r.Context(), r, "http", intent)
	if err != nil {
		p.refuse(w, r, err)
		return
	}
	if intent == nil {
		p.refuse(w, r, Errorf(CodePaymentRequired, "payment required"))
		return
	}
	charged, err := p.offers.Accept(intent, p.quote(r))
	if err != nil {
		p.refuse(w, r, err)
		return
	}
	p.guard.record(verdict.Key.Account, verdict.ReplayIDs)
	p.mu.Lock()
	p.charges = append(p.charges, charged)
	n := len(p.charges)
	p.mu.Unlock()
	rc := Receipt{Scheme: intent.Scheme, Network: "paycrawl:402", OfferID: intent.OfferID,
		CommitmentID: "c-" + string(rune('0'+n)), Payer: verdict.Agent.URL, Charged: charged, Timestamp: time.Now()}
	if err := rc.WriteHeaders(w.Header(), intent.Dialect); err != nil {
		p.t.Error(err)
	}
	_, _ = w.Write([]byte("paid content"))
}

func (p *paywall) chargeCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.charges)
}

func startPaywall(t testing.TB, keys ...Key) (*paywall, *httptest.Server) {
	p := newPaywall(t, keys...)
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv
}
