package finance_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/paycrawl/paycrawl/internal/testclock"
	"github.com/paycrawl/paycrawl/internal/testledger"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/internal/finance"
	"github.com/paycrawl/paycrawl/internal/testlog"
	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// Tokens of the test world: alice may act, victor may only read.
const (
	aliceToken  = "fin_alice_0123456789abcdef0123456789abcdef"
	victorToken = "fin_victor_0123456789abcdef0123456789abcde"
)

// world is a finance test's world: a real redis-server with a ledger, a
// settler and the finance server on a settable clock, served by httptest on
// 127.0.0.1. Usage lands on base day; the clock then stands after that
// day's close, so "yesterday" is the base day.
type world struct {
	t      *testing.T
	ctx    context.Context
	rdb    *redis.Client
	l      *ledger.Ledger
	clock  *clock
	day    string
	base   time.Time
	cfg    settle.Config
	s      *settle.Settler
	srv    *finance.Server
	fcfg   finance.Config
	ts     *httptest.Server
	seq    atomic.Int64
	signer *crawlerKey
}

func newWorld(t *testing.T) *world {
	t.Helper()
	// The world's calls end with the test binary's own deadline (go test
	// -timeout), less a margin to report them, rather than a fixed time
	// that a loaded machine overruns: the large audit takes a minute
	// under -race on two busy cores.
	deadline := time.Now().Add(5 * time.Minute)
	if d, ok := t.Deadline(); ok {
		deadline = d.Add(-30 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	rdb := testredis.Start(t, testredis.Options{Fsync: "no"}).Client()
	// A day in the future, so that replay keys outlive the test.
	base := time.Now().UTC().Add(48 * time.Hour).Truncate(24 * time.Hour)
	c := testclock.New(base.Add(12 * time.Hour))
	l, err := ledger.New(rdb, ledger.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: ctx, rdb: rdb, l: l, clock: c, base: base, day: ledger.Day(base), signer: newCrawlerKey(t)}
	w.cfg = settle.DefaultConfig()
	w.cfg.LockWait = 100 * time.Millisecond
	w.s = w.settler()
	w.fcfg = finance.Config{Tokens: []finance.Token{
		{Name: "alice", Role: finance.RoleFinance, TokenSHA256: sha(aliceToken)},
		{Name: "victor", Role: finance.RoleViewer, TokenSHA256: sha(victorToken)},
	}, SessionSecret: "a test secret that is long enough to sign sessions"}
	w.srv = w.server(w.fcfg)
	w.ts = httptest.NewServer(w.srv.Handler())
	t.Cleanup(w.ts.Close)
	return w
}

func (w *world) settler() *settle.Settler {
	s, err := settle.New(settle.Options{Ledger: w.l, Payers: noPayers{}, Config: w.cfg, Now: w.clock.Now, Logger: testlog.New()})
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func (w *world) server(cfg finance.Config) *finance.Server {
	srv, err := finance.New(finance.Options{Ledger: w.l, Ops: w.s, Config: cfg, Now: w.clock.Now, Logger: testlog.New()})
	if err != nil {
		w.t.Fatal(err)
	}
	return srv
}

func sha(token string) string {
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}

// noPayers: the finance tests never charge.
type noPayers struct{}

func (noPayers) Payer(context.Context, string) (settle.Payer, error) {
	return settle.Payer{}, settle.ErrNoPayer
}

// crawlerKey signs requests as a crawler does.
type crawlerKey struct {
	signer *deferred.Signer
	kid    string
	jwk    string
}

func newCrawlerKey(t testing.TB) *crawlerKey {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := deferred.NewSigner(priv, "https://agents.example/.well-known/http-message-signatures-directory")
	if err != nil {
		t.Fatal(err)
	}
	// The strict profile covers @method and @path, which the tampering tests
	// change: under the reference profile (the default) a commitment's path
	// and method are not signed, so the audit cannot catch their change.
	s.Profile = deferred.ProfileStrict
	k, err := deferred.NewKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return &crawlerKey{signer: s, kid: k.ID, jwk: string(k.JWK())}
}

// signed is a signed request's evidence.
type signed struct {
	label, input, sig string
	covered           map[string]string
}

// sign signs GET https://site+path with a crawler-max-price header.
func (k *crawlerKey) sign(t testing.TB, site, path string, maxPrice money.Amount) signed {
	r := httptest.NewRequest(http.MethodGet, "https://"+site+path, nil)
	r.Header.Set(deferred.HeaderCrawlerMaxPrice, maxPrice.String())
	if err := k.signer.Sign(r, deferred.HeaderCrawlerMaxPrice); err != nil {
		t.Fatal(err)
	}
	label, input, _ := strings.Cut(r.Header.Get("Signature-Input"), "=")
	_, sig, _ := strings.Cut(r.Header.Get("Signature"), "=")
	return signed{label: label, input: input, sig: sig, covered: map[string]string{
		"signature-agent":              r.Header.Get(deferred.HeaderSignatureAgent),
		deferred.HeaderCrawlerMaxPrice: maxPrice.String(),
	}}
}

// commitment is one paid request of account on day i, signed by k (nil:
// unsigned, for tests that do not audit).
func (w *world) commitment(k *crawlerKey, account, pub, site, cur string, price money.Micros, sg *signed) *ledger.Commitment {
	n := w.seq.Add(1)
	path := fmt.Sprintf("/articles/%d", n)
	at := w.base.Add(12 * time.Hour)
	c := &ledger.Commitment{
		RequestID: fmt.Sprintf("req-%d", n), Received: at, Account: account, KeyID: "unsigned",
		Publisher: pub, Site: site, Method: http.MethodGet, Scheme: "https", Authority: site, Path: path,
		Price: price, Currency: cur, Dialect: "crawler-price",
		ReplayIDs: []string{fmt.Sprintf("nonce-%d", n)}, ReplayUntil: at.Add(time.Hour),
	}
	if k != nil {
		s := sg
		if s == nil {
			v := k.sign(w.t, site, path, money.Amount{Currency: cur, Value: price})
			s = &v
		} else {
			c.Path = "/articles/shared" // the path the shared signature covers
		}
		c.KeyID, c.PublicKey = k.kid, k.jwk
		c.Label, c.SignatureInput, c.Signature, c.Covered = s.label, s.input, s.sig, s.covered
	}
	return c
}

// use appends one signed commitment per price (the clock inside the day).
func (w *world) use(account, pub, site, cur string, prices ...money.Micros) {
	w.t.Helper()
	w.useWith(w.signer, account, pub, site, cur, prices...)
}

func (w *world) useWith(k *crawlerKey, account, pub, site, cur string, prices ...money.Micros) {
	w.t.Helper()
	w.clock.Set(w.base.Add(12 * time.Hour))
	for _, p := range prices {
		if _, err := w.l.Append(w.ctx, w.commitment(k, account, pub, site, cur, p, nil), ledger.Limits{}); err != nil {
			w.t.Fatalf("Append: %v", err)
		}
	}
}

// close closes the day with the settler and leaves the clock after it.
func (w *world) close() {
	w.t.Helper()
	w.clock.Set(w.base.Add(24*time.Hour + w.cfg.Grace + time.Minute))
	if _, err := w.s.Close(w.ctx, w.day); err != nil {
		w.t.Fatalf("Close: %v", err)
	}
}

// id is the invoice id of account in cur on the world's day.
func (w *world) id(account, cur string) string { return ledger.InvoiceID(account, w.day, cur) }

func (w *world) invoice(id string) *ledger.Invoice {
	w.t.Helper()
	inv, err := w.l.Invoice(w.ctx, id)
	if err != nil {
		w.t.Fatal(err)
	}
	return inv
}

// drive moves a checked draft to st under the settler lock, as a run
// would; set, if not zero, is recorded on the final move (a paid invoice's
// PaymentIntent, say).
func (w *world) drive(id string, st ledger.Status, set ledger.Settlement) {
	w.t.Helper()
	token, release, err := w.l.AcquireLock(w.ctx, settle.LockName, time.Minute)
	if err != nil {
		w.t.Fatal(err)
	}
	defer release()
	inv := w.invoice(id)
	path := testledger.PathTo(st)
	for i, to := range path {
		tr := ledger.Transition{To: to, Token: token, Actor: "settler", Reason: "test drives it"}
		switch to {
		case ledger.StatusCharging:
			tr.Set = ledger.Settlement{Rail: "stripe"}
			tr.Attempt = &ledger.Attempt{Number: 1, Rail: "stripe", Reference: "cus_test", Amount: inv.Total, Outcome: "started"}
		case ledger.StatusPaid:
			tr.Set = ledger.Settlement{PaymentIntent: "pi_test_" + inv.Account, Charged: inv.Total}
			tr.Attempt = &ledger.Attempt{Number: 1, Rail: "stripe", Reference: "pi_test_" + inv.Account, Amount: inv.Total, Outcome: "succeeded"}
		case ledger.StatusCarried:
			tr.Set = ledger.Settlement{CarriedOut: inv.Total}
		case ledger.StatusFailed:
			tr.Set = ledger.Settlement{Error: "card_declined"}
		}
		if i == len(path)-1 && set != (ledger.Settlement{}) {
			tr.Set = set
		}
		if err := w.l.Transition(w.ctx, id, tr); err != nil {
			w.t.Fatalf("drive %s to %s: %v", id, to, err)
		}
	}
}

// call sends an API request with a bearer token ("" for none) and returns
// the status and body.
func (w *world) call(method, path, token string, body any) (int, []byte) {
	w.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(w.ctx, method, w.ts.URL+path, rd)
	if err != nil {
		w.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := w.ts.Client().Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	return resp.StatusCode, b
}

// decode unmarshals b into v or fails.
func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

// apiError is the JSON error shape.
type apiError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// clock is the tests' settable clock.
type clock = testclock.Clock
