package gateway_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/pricing"
	"github.com/paycrawl/paycrawl/pkg/refusals"
)

// countRefusals makes the harness's gateway count refusals on rdb.
func (h *harness) countRefusals(rdb redis.UniversalClient, o refusals.Options) (*refusals.Recorder, *refusals.Metrics) {
	h.t.Helper()
	o.Redis, o.Metrics = rdb, refusals.NewMetrics(prometheus.NewRegistry())
	rec, err := refusals.NewRecorder(o)
	if err != nil {
		h.t.Fatal(err)
	}
	h.refusals = rec
	h.gw, h.srv = h.startGateway(h.ledger)
	return rec, o.Metrics
}

// paid returns a GET of path paying up to 0.05, signed by c.
func (h *harness) paid(t *testing.T, c *crawler, path string) *http.Request {
	t.Helper()
	req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
	req.Header.Set(deferred.HeaderCrawlerMaxPrice, "USD 0.05")
	if err := c.signer.Sign(req, deferred.HeaderCrawlerMaxPrice); err != nil {
		t.Fatal(err)
	}
	return req
}

// send sends req and returns its status and refusal code.
func send(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Code string `json:"code"`
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, body.Code
}

// tamper changes the first byte of the signature value: the signature
// names its key, but no longer verifies.
func tamper(req *http.Request) {
	sig := req.Header.Get("Signature")
	i := strings.Index(sig, ":") + 1
	c := byte('A')
	if sig[i] == 'A' {
		c = 'B'
	}
	req.Header.Set("Signature", sig[:i]+string(c)+sig[i+1:])
}

// aroundToday is a range of days around now, so that a test running at
// midnight still reads its counts.
func aroundToday() (time.Time, time.Time) {
	d := time.Now().UTC().Truncate(24 * time.Hour)
	return d.AddDate(0, 0, -1), d.AddDate(0, 0, 2)
}

// Each refusal the gateway sends is counted for the site's publisher by
// reason: a blocked crawler and one over its cap by their verified
// accounts, each signature once; a signature that does not verify, of a
// key the claimed agent does not list, or replayed, and copies of a
// blocked request, under "unverified", never the account it claims.
func TestRefusalsCountedByCrawlerAndReason(t *testing.T) {
	h := newHarness(t)
	rec, _ := h.countRefusals(h.redis.Client(), refusals.Options{})
	blocked := h.newCrawler("refused-blocked", defaultTerms)
	capped := h.newCrawler("refused-capped", terms{cap: "0.01", maxPrice: "0.01"})
	h.setCrawlerRule(pricing.OverrideConfig{Operator: blocked.operator, Action: "block"})

	var once *http.Request
	for range 2 {
		once = h.paid(t, blocked, "/articles/b")
		if s, code := send(t, once.Clone(context.Background())); s != http.StatusForbidden || code != string(deferred.CodeBlocked) {
			t.Fatalf("blocked crawler: %d %s", s, code)
		}
	}
	// Copies of its last signature, sent by anyone who saw it: refused as
	// blocked (a blocked request's replay is never checked), but credited
	// to the account once.
	for range 3 {
		if s, code := send(t, once.Clone(context.Background())); s != http.StatusForbidden || code != string(deferred.CodeBlocked) {
			t.Fatalf("a copy of the blocked crawler's request: %d %s", s, code)
		}
	}
	first := h.paid(t, capped, "/articles/1")
	if s, _ := send(t, first.Clone(context.Background())); s != http.StatusOK {
		t.Fatalf("first page within the cap: %d", s)
	}
	if s, code := send(t, h.paid(t, capped, "/articles/2")); s != http.StatusForbidden || code != string(deferred.CodeOverCap) {
		t.Fatalf("over the cap: %d %s", s, code)
	}
	// Claiming the capped crawler's key, with a signature that fails.
	forged := h.paid(t, capped, "/articles/3")
	tamper(forged)
	if s, code := send(t, forged); s != http.StatusBadRequest || code != string(deferred.CodeSignatureInvalid) {
		t.Fatalf("forged signature: %d %s", s, code)
	}
	// Claiming its agent, with a key it does not list.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	impostor, err := deferred.NewSigner(other, capped.agent)
	if err != nil {
		t.Fatal(err)
	}
	if s, code := send(t, h.paid(t, &crawler{signer: impostor}, "/articles/4")); s != http.StatusBadRequest || code != string(deferred.CodeUnknownKey) {
		t.Fatalf("unknown key: %d %s", s, code)
	}
	// Its own signature, sent again by anyone who saw it.
	if s, code := send(t, first.Clone(context.Background())); s != http.StatusBadRequest || code != string(deferred.CodeReplay) {
		t.Fatalf("replay: %d %s", s, code)
	}
	// Not counted: an offer, a free page.
	if s, _ := send(t, mustRequest(t, h.srv.URL+"/articles/5")); s != http.StatusPaymentRequired {
		t.Fatalf("unsigned: %d", s)
	}

	if err := rec.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	rd, err := refusals.NewReader(h.redis.Client(), "")
	if err != nil {
		t.Fatal(err)
	}
	from, to := aroundToday()
	got, err := rd.Refusals(context.Background(), "pub_news", from, to)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]int64{
		blocked.operator:    {refusals.ReasonBlocked: 2},
		capped.operator:     {refusals.ReasonOverCap: 1},
		refusals.Unverified: {refusals.ReasonBadSignature: 3, refusals.ReasonBlocked: 3},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("refusals:\n got %v\nwant %v", got, want)
	}
	if other, _ := rd.Refusals(context.Background(), "pub_other", from, to); len(other) != 0 {
		t.Fatalf("another publisher's refusals: %v", other)
	}
}

func mustRequest(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// A flood of garbage signatures, each naming a key id never seen, adds
// one field per refusal code to one publisher-day hash, and nothing else
// to Redis.
func TestRefusalCountsBoundedUnderGarbageKeys(t *testing.T) {
	h := newHarness(t)
	rdb := h.redis.Client()
	rec, _ := h.countRefusals(rdb, refusals.Options{})
	victim := h.newCrawler("refused-victim", defaultTerms)
	before, err := rdb.DBSize(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	for i := range n {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		s, err := deferred.NewSigner(k, victim.agent)
		if err != nil {
			t.Fatal(err)
		}
		req := h.paid(t, &crawler{signer: s}, "/articles/flood")
		if i%2 == 1 {
			tamper(req)
		}
		if status, _ := send(t, req); status != http.StatusBadRequest {
			t.Fatalf("garbage %d: %d", i, status)
		}
	}
	if err := rec.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	after, _ := rdb.DBSize(context.Background()).Result()
	keys, _ := rdb.Keys(context.Background(), refusals.DefaultPrefix+":*").Result()
	if after-before != 1 || len(keys) != 1 {
		t.Fatalf("%d new keys (%v), want the one publisher-day hash", after-before, keys)
	}
	fields, err := rdb.HGetAll(context.Background(), keys[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for f, v := range fields {
		if !strings.HasPrefix(f, refusals.Unverified+"|bad_signature|") {
			t.Errorf("field %q", f)
		}
		var c int64
		_ = json.Unmarshal([]byte(v), &c)
		total += c
	}
	if len(fields) > 2 || total != n {
		t.Fatalf("%d fields %v counting %d, want at most 2 counting %d", len(fields), fields, total, n)
	}
}

// hangingRedis accepts connections and never answers.
func hangingRedis(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// A Redis of the counts that hangs neither fails nor holds a request:
// refusals, paid and free pages are answered as ever while the flusher
// waits on it, and every count it could not write is counted as dropped.
func TestRefusalCountsOnDeadRedisDoNotFailRequests(t *testing.T) {
	h := newHarness(t)
	dead, err := ledger.NewClient(ledger.ClientConfig{Addrs: []string{hangingRedis(t)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dead.Close() })
	rec, m := h.countRefusals(dead, refusals.Options{Interval: 10 * time.Millisecond, Timeout: 200 * time.Millisecond})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); rec.Run(ctx) }()

	blocked := h.newCrawler("refused-dead-blocked", defaultTerms)
	payer := h.newCrawler("refused-dead-payer", defaultTerms)
	h.setCrawlerRule(pricing.OverrideConfig{Operator: blocked.operator, Action: "block"})
	const n = 5
	for i := range n {
		if s, code := send(t, h.paid(t, blocked, "/articles/dead")); s != http.StatusForbidden || code != string(deferred.CodeBlocked) {
			t.Fatalf("blocked crawler %d: %d %s", i, s, code)
		}
	}
	if s, _ := send(t, h.paid(t, payer, "/articles/paid")); s != http.StatusOK {
		t.Fatalf("a paid page: %d", s)
	}
	if s, _ := send(t, mustRequest(t, h.srv.URL+"/free/page")); s != http.StatusOK {
		t.Fatalf("a free page: %d", s)
	}
	stop()
	<-done
	if r := testutil.ToFloat64(m.Recorded); r != n {
		t.Fatalf("%v recorded, want %d", r, n)
	}
	if d := testutil.ToFloat64(m.Dropped.WithLabelValues("redis")); d != n {
		t.Fatalf("%v counts dropped, want %d", d, n)
	}
}
