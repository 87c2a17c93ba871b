package refusals_test

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/refusals"
)

var (
	day1 = time.Date(2026, 12, 1, 23, 59, 0, 0, time.UTC)
	day2 = time.Date(2026, 12, 2, 0, 0, 1, 0, time.UTC)
)

func start(t *testing.T, o refusals.Options) (*refusals.Recorder, *refusals.Reader, redis.UniversalClient) {
	t.Helper()
	srv := testredis.Start(t, testredis.Options{NoAOF: true})
	rdb, err := ledger.NewClient(ledger.ClientConfig{Addrs: []string{srv.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	o.Redis = rdb
	rec, err := refusals.NewRecorder(o)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := refusals.NewReader(rdb, o.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	return rec, rd, rdb
}

// Each reason is counted for the right publisher, crawler and UTC day,
// with its code beside it, and read back by reason for a range.
func TestCountsByPublisherCrawlerDayAndReason(t *testing.T) {
	rec, rd, _ := start(t, refusals.Options{})
	ctx := context.Background()
	const a, b = "op_aaaaaaaaaaaaaaaa", "op_bbbbbbbbbbbbbbbb"
	for _, r := range []struct {
		pub, account string
		code         deferred.Code
		at           time.Time
		n            int
	}{
		{"pub_news", a, deferred.CodeBlocked, day1, 3},
		{"pub_news", a, deferred.CodeAccountSuspended, day1, 1},
		{"pub_news", a, deferred.CodeOverCap, day2, 2},
		{"pub_news", b, deferred.CodePriceAboveMax, day2, 1},
		{"pub_news", b, deferred.CodeBillingMissing, day2, 1},
		{"pub_news", "", deferred.CodeBlocked, day1, 1},         // unsigned, blocked
		{"pub_news", a, deferred.CodeSignatureInvalid, day1, 4}, // never credited to a
		{"pub_news", a, deferred.CodeReplay, day2, 1},           // verified, but a copy
		{"pub_news", "", deferred.CodeUnknownKey, day2, 2},
		{"pub_other", b, deferred.CodeBlocked, day1, 5},
		// Not counted: an offer, our own failures, malformed requests.
		{"pub_news", a, deferred.CodePaymentRequired, day1, 7},
		{"pub_news", a, deferred.CodeLedgerUnavailable, day1, 1},
		{"pub_news", "", deferred.CodePathNotCanonical, day1, 1},
		{"", a, deferred.CodeBlocked, day1, 1},
	} {
		for range r.n {
			rec.Record(r.pub, r.account, r.code, r.at)
		}
	}
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	month := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	got, err := rd.Refusals(ctx, "pub_news", month, month.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]int64{
		a:                   {"blocked": 4, "over_cap": 2},
		b:                   {"price": 1, "billing": 1},
		refusals.Unverified: {"blocked": 1, "bad_signature": 7},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("pub_news refusals:\n got %v\nwant %v", got, want)
	}
	// One day only: the day is the UTC day the request was received.
	got, err = rd.Refusals(ctx, "pub_news", day2.Truncate(24*time.Hour), day2.Truncate(24*time.Hour).AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]map[string]int64{a: {"over_cap": 2}, b: {"price": 1, "billing": 1}, refusals.Unverified: {"bad_signature": 3}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("pub_news on %s:\n got %v\nwant %v", day2.Format(time.DateOnly), got, want)
	}
	other, err := rd.Refusals(ctx, "pub_other", month, month.AddDate(0, 1, 0))
	if err != nil || !reflect.DeepEqual(other, map[string]map[string]int64{b: {"blocked": 5}}) {
		t.Fatalf("pub_other: %v %v", other, err)
	}
	// The finer codes.
	rows, err := rd.Rows(ctx, "pub_news", month, month.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	wantRows := []refusals.Row{
		{Day: "2026-12-01", Crawler: a, Reason: "blocked", Code: "account_suspended", Count: 1},
		{Day: "2026-12-01", Crawler: a, Reason: "blocked", Code: "crawler_blocked", Count: 3},
		{Day: "2026-12-01", Crawler: refusals.Unverified, Reason: "bad_signature", Code: "signature_invalid", Count: 4},
		{Day: "2026-12-01", Crawler: refusals.Unverified, Reason: "blocked", Code: "crawler_blocked", Count: 1},
		{Day: "2026-12-02", Crawler: a, Reason: "over_cap", Code: "spend_cap_exceeded", Count: 2},
		{Day: "2026-12-02", Crawler: b, Reason: "billing", Code: "billing_missing", Count: 1},
		{Day: "2026-12-02", Crawler: b, Reason: "price", Code: "price_above_max", Count: 1},
		{Day: "2026-12-02", Crawler: refusals.Unverified, Reason: "bad_signature", Code: "signature_replayed", Count: 1},
		{Day: "2026-12-02", Crawler: refusals.Unverified, Reason: "bad_signature", Code: "unknown_key", Count: 2},
	}
	if !reflect.DeepEqual(rows, wantRows) {
		t.Fatalf("rows:\n got %v\nwant %v", rows, wantRows)
	}
	// Flushes add up.
	rec.Record("pub_news", a, deferred.CodeBlocked, day1)
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := rd.Refusals(ctx, "pub_news", month, month.AddDate(0, 1, 0)); got[a]["blocked"] != 5 {
		t.Fatalf("after a second flush: %v", got)
	}
}

// A day's counts expire the retention after the day ends, in the
// publisher's hash tag.
func TestRetentionAndHashTag(t *testing.T) {
	rec, _, rdb := start(t, refusals.Options{Retention: 10 * 24 * time.Hour, Prefix: "x:rf"})
	ctx := context.Background()
	// A day far enough ahead that its expiry is in the future whatever
	// the clock.
	at := time.Date(2099, 1, 1, 12, 0, 0, 0, time.UTC)
	rec.Record("pub_news", "op_aaaaaaaaaaaaaaaa", deferred.CodeBlocked, at)
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	exp, err := rdb.ExpireTime(ctx, "x:rf:{pub:pub_news}:2099-01-01").Result()
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2099, 1, 12, 0, 0, 0, 0, time.UTC).Unix(); int64(exp/time.Second) != want {
		t.Fatalf("expires at %d, want %d (the day's end plus 10 days)", int64(exp/time.Second), want)
	}
}

// However many garbage signatures and however many accounts refuse on one
// day, the publisher-day hash stays bounded: verified crawlers beyond
// MaxFields are counted as others, and no count is lost.
func TestKeyspaceBound(t *testing.T) {
	m := refusals.NewMetrics(prometheus.NewRegistry())
	const max = 50
	rec, rd, rdb := start(t, refusals.Options{MaxFields: max, Metrics: m})
	ctx := context.Background()
	codes := []deferred.Code{deferred.CodeSignatureInvalid, deferred.CodeUnknownKey, deferred.CodeAgentUnknown, deferred.CodeReplay}
	for i := range 2000 {
		// Claimed accounts and key ids are never part of a field.
		rec.Record("pub_news", fmt.Sprintf("op_claimed%06d", i), codes[i%len(codes)], day1)
		rec.Record("pub_news", fmt.Sprintf("op_verified%06d", i), deferred.CodeBlocked, day1)
		if i%300 == 0 {
			if err := rec.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v %v, want the one publisher-day", keys, err)
	}
	n, err := rdb.HLen(ctx, keys[0]).Result()
	// MaxFields, plus one per code of each reserved bucket: the four
	// unverified codes and others' one.
	if bound := int64(max + len(codes) + 1); err != nil || n > bound {
		t.Fatalf("%d fields (%v), want at most %d", n, err, bound)
	}
	got, err := rd.Refusals(ctx, "pub_news", day1.Truncate(24*time.Hour), day1.Truncate(24*time.Hour).AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	var verified int64
	for acct, byReason := range got {
		if acct != refusals.Unverified {
			verified += byReason["blocked"]
		}
	}
	if got[refusals.Unverified]["bad_signature"] != 2000 || verified != 2000 || got[refusals.Others]["blocked"] == 0 {
		t.Fatalf("counts %d unverified, %d verified (others %d), want 2000 each", got[refusals.Unverified]["bad_signature"], verified, got[refusals.Others]["blocked"])
	}
	if o := testutil.ToFloat64(m.Overflowed); int64(o) != got[refusals.Others]["blocked"] {
		t.Fatalf("overflowed metric %v, others %d", o, got[refusals.Others]["blocked"])
	}
}

// A verified account is credited once per signature: a copy of one (which
// a blocked or capped request's replay check never sees) counts as
// unverified until the signature expires; a full memory of signatures
// credits without remembering.
func TestOneCreditPerSignature(t *testing.T) {
	rec, rd, _ := start(t, refusals.Options{MaxSignatures: 2})
	ctx := context.Background()
	const a = "op_aaaaaaaaaaaaaaaa"
	add := func(sig string, expires time.Time, at time.Time) {
		rec.Add(refusals.Refusal{Publisher: "pub_news", Account: a, Signature: sig, SignatureExpires: expires, Code: deferred.CodeBlocked, At: at})
	}
	at := day1.Add(-time.Hour) // exp is a minute later, the same day
	exp := at.Add(time.Minute)
	add("s1", exp, at)                                  // credited
	add("s1", exp, at.Add(time.Second))                 // a copy
	add("s1", exp, at.Add(time.Second))                 // a copy
	add("s2", exp, at)                                  // credited
	add("s3", exp, at)                                  // memory full: credited, not remembered
	add("s3", exp, at)                                  // so credited again
	add("s1", exp, exp)                                 // past its expiry s1 is forgotten: credited (the verifier refuses it first)
	rec.Record("pub_news", a, deferred.CodeBlocked, at) // no signature id: credited
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	d := day1.Truncate(24 * time.Hour)
	got, err := rd.Refusals(ctx, "pub_news", d, d.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]int64{a: {"blocked": 6}, refusals.Unverified: {"blocked": 2}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// A full table between flushes drops further counts, counted.
func TestPendingBound(t *testing.T) {
	m := refusals.NewMetrics(prometheus.NewRegistry())
	rec, _, _ := start(t, refusals.Options{MaxPending: 10, Metrics: m})
	for i := range 15 {
		rec.Record("pub_news", fmt.Sprintf("op_%016d", i), deferred.CodeBlocked, day1)
	}
	rec.Record("pub_news", fmt.Sprintf("op_%016d", 3), deferred.CodeBlocked, day1) // held: still counted
	if d := testutil.ToFloat64(m.Dropped.WithLabelValues("buffer_full")); d != 5 {
		t.Fatalf("%v dropped, want 5", d)
	}
	if r := testutil.ToFloat64(m.Recorded); r != 11 {
		t.Fatalf("%v recorded, want 11", r)
	}
}

// A dead Redis only drops counts: Record returns at once, a flush fails
// within its timeout and counts what it dropped.
func TestDeadRedisDropsCounts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	rdb, err := ledger.NewClient(ledger.ClientConfig{Addrs: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	m := refusals.NewMetrics(prometheus.NewRegistry())
	rec, err := refusals.NewRecorder(refusals.Options{Redis: rdb, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		rec.Record("pub_news", "op_aaaaaaaaaaaaaaaa", deferred.CodeBlocked, day1)
	}
	rec.Record("pub_other", "", deferred.CodeSignatureInvalid, day1)
	if err := rec.Close(); err == nil {
		t.Fatal("a flush to a dead Redis succeeded")
	}
	if d := testutil.ToFloat64(m.Dropped.WithLabelValues("redis")); d != 4 {
		t.Fatalf("%v counts dropped, want 4", d)
	}
	// Nothing is held for later.
	if err := rec.Flush(context.Background()); err != nil {
		t.Fatalf("an empty flush: %v", err)
	}
}

func TestReaderRange(t *testing.T) {
	_, rd, _ := start(t, refusals.Options{})
	ctx := context.Background()
	for _, tt := range []struct {
		from, to time.Time
		ok       bool
	}{
		{day1, day1, false},
		{day2, day1, false},
		{day1, day1.AddDate(1, 0, 2), false},
		{day1, day1.AddDate(0, 0, 2), true},
	} {
		_, err := rd.Rows(ctx, "pub_news", tt.from, tt.to)
		if (err == nil) != tt.ok {
			t.Errorf("range %s..%s: %v", tt.from, tt.to, err)
		}
	}
}

// On Redis Cluster one flush writes the hashes of many publishers (in
// many slots, each publisher's days in its own hash tag) and reads them
// back.
func TestOnCluster(t *testing.T) {
	c := testredis.StartCluster(t, 3, testredis.Options{NoAOF: true})
	rdb := c.Client(t)
	rec, err := refusals.NewRecorder(refusals.Options{Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := refusals.NewReader(rdb, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const pubs = 20
	for i := range pubs {
		for j := 0; j <= i; j++ {
			rec.Record(fmt.Sprintf("pub_%02d", i), "op_aaaaaaaaaaaaaaaa", deferred.CodeBlocked, day1)
			rec.Record(fmt.Sprintf("pub_%02d", i), "", deferred.CodeSignatureExpired, day2)
		}
	}
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range pubs {
		got, err := rd.Refusals(ctx, fmt.Sprintf("pub_%02d", i), day1.Truncate(24*time.Hour), day2.Truncate(24*time.Hour).AddDate(0, 0, 1))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]map[string]int64{"op_aaaaaaaaaaaaaaaa": {"blocked": int64(i + 1)}, refusals.Unverified: {"bad_signature": int64(i + 1)}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("pub_%02d: got %v, want %v", i, got, want)
		}
	}
}

// BenchmarkRecord is the cost a refusal adds to the request path: one map
// increment under a mutex, no I/O.
func BenchmarkRecord(b *testing.B) {
	rec, err := refusals.NewRecorder(refusals.Options{Redis: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})})
	if err != nil {
		b.Fatal(err)
	}
	at := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec.Record("pub_news", "op_aaaaaaaaaaaaaaaa", deferred.CodeBlocked, at)
		}
	})
}
