package registry

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/redis/go-redis/v9"
)

// Tests of the bounds on what a publisher's offers cost an account: the
// pending offers are capped, refused and superseded offers drop their
// content, and what decides money reads accepted versions only.

// newFloodFixture is newAgrFixture with pub_news holding the hosts these
// tests offer too.
func newFloodFixture(t *testing.T) *agrFixture {
	t.Helper()
	f := newAgrFixture(t)
	hosts := []string{"news.example", "other.example", "flood.example", "x.example", "y.example"}
	for i := 0; i < 16; i++ {
		hosts = append(hosts, fmt.Sprintf("site%02d.news.example", i))
	}
	if _, err := f.store.SetPublisherHosts(context.Background(), "pub_news", hosts); err != nil {
		t.Fatal(err)
	}
	return f
}

// bigOffer is f.offer with a scope of about 7 KiB, as a hostile publisher
// would send to fill Redis.
func (f *agrFixture) bigOffer() agreement.Agreement {
	a := f.offer()
	a.Scope = nil
	for i := 0; i < 16; i++ {
		a.Scope = append(a.Scope, agreement.Site{Host: fmt.Sprintf("site%02d.news.example", i),
			Paths: []string{"/" + strings.Repeat("a", 200) + "/", "/" + strings.Repeat("b", 200) + "/"}})
	}
	return a
}

// agrBytes is what Redis holds for the registry's agreements: the sum of
// MEMORY USAGE over their keys, and how many version hashes keep content.
func agrBytes(t *testing.T, rdb redis.UniversalClient) (bytes int64, withContent int) {
	t.Helper()
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, keyPrefix+"agr*", 1000).Iterator()
	for iter.Next(ctx) {
		n, err := rdb.MemoryUsage(ctx, iter.Val()).Result()
		if err != nil {
			t.Fatal(err)
		}
		bytes += n
		if strings.Contains(iter.Val(), ":v:") {
			if ok, err := rdb.HExists(ctx, iter.Val(), "content").Result(); err != nil {
				t.Fatal(err)
			} else if ok {
				withContent++
			}
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return bytes, withContent
}

// TestPendingOffersCapped: a publisher has at most MaxPendingOffers offers
// pending with one account (ErrTooManyOffers past it); a new version takes
// its pending predecessor's place, and a decline or a withdrawal frees
// one; other publishers and accounts have their own. Fails without the
// cap (the ninth offer is stored).
func TestPendingOffersCapped(t *testing.T) {
	f := newFloodFixture(t)
	ctx := context.Background()
	var pending []*agreement.Agreement
	for i := 0; i < MaxPendingOffers; i++ {
		pending = append(pending, f.mustOffer(t, "pub_news", f.offer()))
	}
	_, err := f.store.OfferAgreement(ctx, "pub_news", f.offer())
	wantErr(t, err, ErrTooManyOffers)
	if got, total, err := f.store.Offers(ctx, OfferQuery{Account: f.op.ID}); err != nil || total != MaxPendingOffers || len(got) != MaxPendingOffers {
		t.Fatalf("pending: %d listed, total %d, %v", len(got), total, err)
	}

	// The next version of a pending offer replaces it: still 8 pending.
	next := f.offer()
	next.ID = pending[0].ID
	v2 := f.mustOffer(t, "pub_news", next)
	v1, err := f.store.AgreementVersion(ctx, v2.ID, 1)
	if err != nil || v1.State != agreement.StateWithdrawn || !v1.ContentDropped || v1.ContentSHA256 != pending[0].ContentDigest() ||
		len(v1.Scope) != 0 || v1.Account != f.op.ID || v1.Publisher != "pub_news" {
		t.Fatalf("superseded pending version: %+v, %v", v1, err)
	}
	_, err = f.store.OfferAgreement(ctx, "pub_news", f.offer())
	wantErr(t, err, ErrTooManyOffers)

	// A decline and a withdrawal each free a place.
	if _, err := f.store.DeclineAgreement(ctx, f.op.ID, pending[1].ID, 1); err != nil {
		t.Fatal(err)
	}
	f.mustOffer(t, "pub_news", f.offer())
	if _, err := f.store.WithdrawAgreement(ctx, "pub_news", pending[2].ID, 1); err != nil {
		t.Fatal(err)
	}
	f.mustOffer(t, "pub_news", f.offer())
	_, err = f.store.OfferAgreement(ctx, "pub_news", f.offer())
	wantErr(t, err, ErrTooManyOffers)

	// An acceptance frees one too.
	f.mustAccept(t, pending[3])
	scoped := f.offer()
	scoped.Scope = []agreement.Site{{Host: "other.example"}}
	f.mustOffer(t, "pub_news", scoped)

	// Another publisher, another account: their own places.
	f.mustOffer(t, "pub_blog", f.blogOffer())
	other := f.offer()
	other.Account = f.other.ID
	f.mustOffer(t, "pub_news", other)

	declined, total, err := f.store.Offers(ctx, OfferQuery{Account: f.op.ID, State: agreement.StateDeclined})
	if err != nil || total != 1 || declined[0].ID != pending[1].ID || !declined[0].ContentDropped {
		t.Fatalf("declined offers: %+v, %d, %v", declined, total, err)
	}
	_, _, err = f.store.Offers(ctx, OfferQuery{Account: f.op.ID, State: agreement.StateAccepted})
	wantErr(t, err, ErrInvalid)
}

// TestOfferFloodBounded: a publisher offering version after version (each
// withdrawing the last) and agreement after agreement (each declined)
// leaves the content of its pending offers only; the rest is metadata of a
// few hundred bytes a version. Fails without dropping content (every
// version keeps its 7 KiB).
func TestOfferFloodBounded(t *testing.T) {
	f := newFloodFixture(t)
	ctx := context.Background()
	rdb := f.store.Redis()
	big := f.bigOffer()
	first := f.mustOffer(t, "pub_news", big)
	before, _ := agrBytes(t, rdb)
	const versions = 200
	next := big
	next.ID = first.ID
	for i := 2; i <= versions; i++ {
		f.mustOffer(t, "pub_news", next)
	}
	const declined = 20
	for i := 0; i < declined; i++ {
		a := f.mustOffer(t, "pub_news", big)
		if _, err := f.store.DeclineAgreement(ctx, f.op.ID, a.ID, 1); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < MaxPendingOffers-1; i++ {
		f.mustOffer(t, "pub_news", big)
	}
	_, err := f.store.OfferAgreement(ctx, "pub_news", big)
	wantErr(t, err, ErrTooManyOffers)

	after, withContent := agrBytes(t, rdb)
	if withContent != MaxPendingOffers {
		t.Errorf("%d versions keep their content, want the %d pending", withContent, MaxPendingOffers)
	}
	// The pending offers' content, and at most 400 bytes per other version.
	dropped := int64(versions - 1 + declined)
	if bound := int64(MaxPendingOffers)*before + 400*dropped; after > bound {
		t.Errorf("%d bytes after %d versions and %d declined offers (one offer: %d); want at most %d", after, versions, declined, before, bound)
	}
	t.Logf("one offer %d bytes; after the flood %d bytes (%d per dropped version at most)", before, after, (after-int64(MaxPendingOffers)*before)/dropped)
}

// countingHook counts the commands a client sends and the bytes of their
// text (arguments and reply).
type countingHook struct{ cmds, replyBytes atomic.Int64 }

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.count(cmd)
		return err
	}
}

func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			h.count(c)
		}
		return err
	}
}

func (h *countingHook) count(c redis.Cmder) {
	h.cmds.Add(1)
	h.replyBytes.Add(int64(len(c.String())))
}

// cost runs fn and returns the commands and reply bytes it cost.
func (h *countingHook) cost(fn func()) (cmds, bytes int64) {
	c0, b0 := h.cmds.Load(), h.replyBytes.Load()
	fn()
	return h.cmds.Load() - c0, h.replyBytes.Load() - b0
}

// TestAcceptedReadsIgnoreOffers: AcceptedAgreements (gateways, the
// settler, the audit), AgreementsInForce and the publisher's and global
// readers return accepted versions only, and cost the same commands and
// reply bytes before and after a flood of offers to the account. Fails
// when they read every version of every agreement of the account.
func TestAcceptedReadsIgnoreOffers(t *testing.T) {
	f := newFloodFixture(t)
	ctx := context.Background()
	a := f.mustAccept(t, f.mustOffer(t, "pub_news", f.offer()))
	hook := &countingHook{}
	f.store.Redis().AddHook(hook)
	readers := map[string]func() ([]agreement.Agreement, error){
		"account":  func() ([]agreement.Agreement, error) { return f.store.AcceptedAgreements(ctx, f.op.ID) },
		"in force": func() ([]agreement.Agreement, error) { return f.store.AgreementsInForce(ctx, f.op.ID, f.clock.Now()) },
		"publisher": func() ([]agreement.Agreement, error) {
			return f.store.AcceptedAgreementsOfPublisher(ctx, "pub_news")
		},
		"all": func() ([]agreement.Agreement, error) {
			var all []agreement.Agreement
			err := f.store.EachAcceptedAgreement(ctx, func(b []agreement.Agreement) error { all = append(all, b...); return nil })
			return all, err
		},
	}
	type cost struct{ cmds, bytes int64 }
	measure := func() map[string]cost {
		out := map[string]cost{}
		for name, read := range readers {
			var got []agreement.Agreement
			var err error
			c, b := hook.cost(func() { got, err = read() })
			if err != nil || len(got) != 1 || got[0].ID != a.ID || got[0].State != agreement.StateAccepted {
				t.Fatalf("%s: %+v, %v; want the accepted version only", name, got, err)
			}
			out[name] = cost{c, b}
		}
		return out
	}
	measure() // the indexes exist from the first offer; nothing to build
	quiet := measure()

	// The flood: pending offers, a long chain of superseded versions of
	// one of them, declined offers, each with a large scope.
	big := f.bigOffer()
	big.Scope = append(big.Scope, agreement.Site{Host: "flood.example"})
	var pending []*agreement.Agreement
	for i := 0; i < MaxPendingOffers; i++ {
		pending = append(pending, f.mustOffer(t, "pub_news", big))
	}
	next := big
	next.ID = pending[0].ID
	for i := 0; i < 50; i++ {
		f.mustOffer(t, "pub_news", next)
	}
	for i := 0; i < 10; i++ {
		if _, err := f.store.DeclineAgreement(ctx, f.op.ID, pending[len(pending)-1].ID, 1); err != nil {
			t.Fatal(err)
		}
		pending = pending[:len(pending)-1]
		pending = append(pending, f.mustOffer(t, "pub_news", big))
	}
	flooded := measure()
	for name := range readers {
		if flooded[name] != quiet[name] {
			t.Errorf("%s: %+v before the flood, %+v after: its cost grows with offers", name, quiet[name], flooded[name])
		}
	}
}

// TestAcceptedIndexRebuilt: agreements stored before the indexes of
// accepted versions existed (no index, no digests) still read: the first
// read rebuilds the index from the stored versions, with what an
// acceptance added meanwhile, and marks it; later reads use it. Fails
// without the rebuild (nothing is read).
func TestAcceptedIndexRebuilt(t *testing.T) {
	f := newFloodFixture(t)
	ctx := context.Background()
	rdb := f.store.Redis()
	v1 := f.mustAccept(t, f.mustOffer(t, "pub_news", f.offer()))
	next := f.offer()
	next.ID = v1.ID
	next.ValidFrom = f.clock.Now().Add(48 * time.Hour)
	v2 := f.mustAccept(t, f.mustOffer(t, "pub_news", next))
	blog := f.mustAccept(t, f.mustOffer(t, "pub_blog", f.blogOffer()))
	elsewhere := func(host string) agreement.Agreement {
		a := f.offer()
		a.Scope = []agreement.Site{{Host: host}}
		return a
	}
	declined := f.mustOffer(t, "pub_news", elsewhere("x.example"))
	pendingBefore := f.mustOffer(t, "pub_news", elsewhere("y.example"))
	// What the store held before: no index and no digest.
	if err := rdb.Del(ctx, opAccKey(f.op.ID), pubAccKey("pub_news"), pubAccKey("pub_blog"), allAccKey()).Err(); err != nil {
		t.Fatal(err)
	}
	iter := rdb.Scan(ctx, 0, keyPrefix+"agr:*:v:*", 1000).Iterator()
	for iter.Next(ctx) {
		if err := rdb.HDel(ctx, iter.Val(), "content_sha256").Err(); err != nil {
			t.Fatal(err)
		}
	}
	// A version declined now was stored without a digest: it keeps its content.
	if _, err := f.store.DeclineAgreement(ctx, f.op.ID, declined.ID, 1); err != nil {
		t.Fatal(err)
	}
	if got, err := f.store.AgreementVersion(ctx, declined.ID, 1); err != nil || got.ContentDropped || len(got.Scope) == 0 {
		t.Fatalf("a declined version stored before digests: %+v, %v", got, err)
	}
	// An acceptance before the first read adds itself to an index that is
	// not built yet; the rebuild keeps it.
	late := f.mustAccept(t, pendingBefore)

	refs := func(vs []agreement.Agreement) string {
		var out []string
		for _, v := range vs {
			out = append(out, fmt.Sprintf("%s:%d", v.ID, v.Version))
		}
		return strings.Join(out, " ")
	}
	sorted := func(vs ...*agreement.Agreement) string {
		out := make([]agreement.Agreement, len(vs))
		for i, v := range vs {
			out[i] = *v
		}
		for i := range out {
			for j := i + 1; j < len(out); j++ {
				if out[j].ID < out[i].ID || (out[j].ID == out[i].ID && out[j].Version < out[i].Version) {
					out[i], out[j] = out[j], out[i]
				}
			}
		}
		return refs(out)
	}
	for round := 0; round < 2; round++ {
		got, err := f.store.AcceptedAgreements(ctx, f.op.ID)
		if want := sorted(v1, v2, blog, late); err != nil || refs(got) != want {
			t.Fatalf("round %d: account's accepted %q, %v; want %q", round, refs(got), err, want)
		}
		got, err = f.store.AcceptedAgreementsOfPublisher(ctx, "pub_news")
		if want := sorted(v1, v2, late); err != nil || refs(got) != want {
			t.Fatalf("round %d: publisher's accepted %q, %v; want %q", round, refs(got), err, want)
		}
		var all []agreement.Agreement
		err = f.store.EachAcceptedAgreement(ctx, func(b []agreement.Agreement) error { all = append(all, b...); return nil })
		if want := sorted(v1, v2, blog, late); err != nil || refs(all) != want {
			t.Fatalf("round %d: every accepted %q, %v; want %q", round, refs(all), err, want)
		}
		for _, k := range []string{opAccKey(f.op.ID), pubAccKey("pub_news"), allAccKey()} {
			if ok, err := rdb.SIsMember(ctx, k, indexMarker).Result(); err != nil || !ok {
				t.Fatalf("round %d: %s not marked complete: %v", round, k, err)
			}
		}
	}
	// In force as before.
	if v := agreement.InForce(mustAccepted(t, f), f.op.ID, "pub_news", "news.example", "/", f.clock.Now()); v == nil || v.Version != 1 {
		t.Fatalf("in force after the rebuild: %+v", v)
	}
}

func mustAccepted(t *testing.T, f *agrFixture) []agreement.Agreement {
	t.Helper()
	all, err := f.store.AcceptedAgreements(context.Background(), f.op.ID)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// TestOfferOverOrphanVersionChangesNothing: when the key of the version an
// offer would write already exists (an orphan left by hand or by a broken
// restore), the offer fails and writes nothing: the agreement's head still
// names its latest version, which is still offered, with its content.
func TestOfferOverOrphanVersionChangesNothing(t *testing.T) {
	f := newFloodFixture(t)
	ctx := context.Background()
	v1 := f.mustOffer(t, "pub_news", f.offer())
	rdb := f.store.rdb
	if err := rdb.HSet(ctx, agrVersionKey(v1.ID, 2), "content", "{}", "state", "offered").Err(); err != nil {
		t.Fatal(err)
	}
	next := f.offer()
	next.ID = v1.ID
	if _, err := f.store.OfferAgreement(ctx, "pub_news", next); err == nil {
		t.Fatal("an offer over an existing version key succeeded")
	}
	if latest, err := rdb.HGet(ctx, agrKey(v1.ID), "latest").Result(); err != nil || latest != "1" {
		t.Errorf("head's latest = %q, %v; want 1", latest, err)
	}
	got, err := f.store.AgreementVersion(ctx, v1.ID, 1)
	if err != nil || got.State != agreement.StateOffered || got.ContentDropped || len(got.Scope) == 0 {
		t.Errorf("version 1 after the failed offer: %+v, %v; want still offered with its content", got, err)
	}
}
