package registry

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/money"
)

type agrFixture struct {
	*fixture
	op    *Operator
	priv  ed25519.PrivateKey
	other *Operator // a second operator with a key of its own
	opriv ed25519.PrivateKey
}

func newAgrFixture(t *testing.T) *agrFixture {
	t.Helper()
	f := &agrFixture{fixture: newFixture(t, nil)}
	f.op, _ = f.signUp(t)
	f.priv, _ = f.register(t, f.op.ID)
	f.other, _ = f.signUp(t)
	f.opriv, _ = f.register(t, f.other.ID)
	for id, hosts := range map[string][]string{
		"pub_news": {"news.example", "racea.example", "raceb.example", "racec.example", "raced.example", "racee.example"},
		"pub_blog": {"blog.example"},
	} {
		if _, _, err := f.store.CreatePublisher(context.Background(), PublisherSpec{ID: id, Name: id, Contact: "ops@" + id + ".example", Hosts: hosts}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// blogOffer is f.offer on pub_blog's host, blog.example.
func (f *agrFixture) blogOffer() agreement.Agreement {
	a := f.offer()
	a.Scope = []agreement.Site{{Host: "blog.example"}}
	return a
}

// offer is a 20% discount on news.example for f.op, from now.
func (f *agrFixture) offer() agreement.Agreement {
	return agreement.Agreement{Account: f.op.ID, Currency: "USD", Scope: []agreement.Site{{Host: "news.example"}},
		ValidFrom: f.clock.Now(),
		Terms:     agreement.Terms{Kind: agreement.KindRate, Rate: &agreement.Rate{Mode: agreement.RateDiscount, DiscountBPS: 2000}}}
}

func (f *agrFixture) mustOffer(t *testing.T, pub string, a agreement.Agreement) *agreement.Agreement {
	t.Helper()
	got, err := f.store.OfferAgreement(context.Background(), pub, a)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (f *agrFixture) sign(t *testing.T, priv ed25519.PrivateKey, a *agreement.Agreement) agreement.Acceptance {
	t.Helper()
	acc, err := agreement.SignAcceptance(priv, a, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return acc
}

func (f *agrFixture) mustAccept(t *testing.T, a *agreement.Agreement) *agreement.Agreement {
	t.Helper()
	got, err := f.store.AcceptAgreement(context.Background(), f.op.ID, a.ID, a.Version, f.sign(t, f.priv, a))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestOfferAgreement(t *testing.T) {
	f := newAgrFixture(t)
	ctx := context.Background()
	a := f.mustOffer(t, "pub_news", f.offer())
	if !agreement.ValidID(a.ID) || a.Version != 1 || a.Publisher != "pub_news" || a.State != agreement.StateOffered ||
		!a.OfferedAt.Equal(f.clock.Now().Truncate(time.Second)) {
		t.Fatalf("offered %+v", a)
	}
	for name, list := range map[string]func() ([]agreement.Agreement, error){
		"account": func() ([]agreement.Agreement, error) {
			l, _, err := f.store.Offers(ctx, OfferQuery{Account: f.op.ID})
			return l, err
		},
		"publisher": func() ([]agreement.Agreement, error) {
			l, _, err := f.store.Offers(ctx, OfferQuery{Publisher: "pub_news"})
			return l, err
		},
		"pair": func() ([]agreement.Agreement, error) {
			l, _, err := f.store.Offers(ctx, OfferQuery{Publisher: "pub_news", Account: f.op.ID})
			return l, err
		},
		"all": func() ([]agreement.Agreement, error) { l, _, err := f.store.ListAgreements(ctx, 0, 10); return l, err },
	} {
		got, err := list()
		if err != nil || len(got) != 1 || got[0].ID != a.ID {
			t.Errorf("by %s: %+v, %v", name, got, err)
		}
	}
	if got, _, _ := f.store.Offers(ctx, OfferQuery{Publisher: "pub_blog"}); len(got) != 0 {
		t.Errorf("another publisher lists %+v", got)
	}
	if got, _, _ := f.store.Offers(ctx, OfferQuery{Account: f.other.ID}); len(got) != 0 {
		t.Errorf("another account lists %+v", got)
	}
	if got, err := f.store.AcceptedAgreements(ctx, f.op.ID); err != nil || len(got) != 0 {
		t.Errorf("an offer is accepted: %+v, %v", got, err)
	}
	if got, _ := f.store.AgreementsInForce(ctx, f.op.ID, f.clock.Now()); len(got) != 0 {
		t.Errorf("an offer is in force: %+v", got)
	}
}

func TestOfferAgreementRefuses(t *testing.T) {
	f := newAgrFixture(t)
	ctx := context.Background()
	mine := f.mustOffer(t, "pub_news", f.offer())
	tests := []struct {
		name string
		pub  string
		edit func(*agreement.Agreement)
		want error
	}{
		{"for another publisher", "pub_blog", func(a *agreement.Agreement) { a.Publisher = "pub_news" }, ErrForbidden},
		{"a version of another publisher's agreement", "pub_blog", func(a *agreement.Agreement) {
			a.ID, a.Scope = mine.ID, []agreement.Site{{Host: "blog.example"}}
		}, ErrForbidden},
		{"a version for another account", "pub_news", func(a *agreement.Agreement) { a.ID, a.Account = mine.ID, f.other.ID }, ErrForbidden},
		{"unknown agreement", "pub_news", func(a *agreement.Agreement) { a.ID = "agr_zzzzzzzzzzzzzzzz" }, ErrNotFound},
		{"malformed agreement id", "pub_news", func(a *agreement.Agreement) { a.ID = "agr_../x" }, ErrNotFound},
		{"unknown account", "pub_news", func(a *agreement.Agreement) { a.Account = "op_zzzzzzzzzzzzzzzz" }, ErrNotFound},
		{"not an account", "pub_news", func(a *agreement.Agreement) { a.Account = "pub_news" }, agreement.ErrInvalid},
		{"unknown publisher", "pub_nobody", func(a *agreement.Agreement) {}, ErrNotFound},
		{"bad terms", "pub_news", func(a *agreement.Agreement) { a.Terms.Rate.DiscountBPS = 10001 }, agreement.ErrInvalid},
		{"already ended", "pub_news", func(a *agreement.Agreement) {
			a.ValidFrom, a.ValidUntil = f.clock.Now().Add(-2*time.Hour), f.clock.Now().Add(-time.Hour)
		}, agreement.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := f.offer()
			tt.edit(&a)
			_, err := f.store.OfferAgreement(ctx, tt.pub, a)
			wantErr(t, err, tt.want)
		})
	}
	// Nothing of the refused offers was stored.
	if all, total, _ := f.store.ListAgreements(ctx, 0, 100); total != 1 || len(all) != 1 {
		t.Errorf("stored %d agreements (%d versions), want the 1 offered", total, len(all))
	}
}

func TestAcceptAgreement(t *testing.T) {
	f := newAgrFixture(t)
	ctx := context.Background()
	a := f.mustOffer(t, "pub_news", f.offer())
	acc := f.sign(t, f.priv, a)
	got, err := f.store.AcceptAgreement(ctx, f.op.ID, a.ID, a.Version, acc)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != agreement.StateAccepted || got.Acceptance == nil || *got.Acceptance != acc || !got.Accepted() {
		t.Fatalf("accepted %+v", got)
	}
	// The stored acceptance still verifies over the stored version.
	if err := agreement.VerifyAcceptance(got, *got.Acceptance, f.priv.Public().(ed25519.PublicKey), f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	inForce, err := f.store.AgreementsInForce(ctx, f.op.ID, f.clock.Now())
	if err != nil || len(inForce) != 1 {
		t.Fatalf("in force: %+v, %v", inForce, err)
	}
	if v := agreement.InForce(inForce, f.op.ID, "pub_news", "news.example", "/a", f.clock.Now()); v == nil || v.ID != a.ID {
		t.Fatalf("InForce = %+v", v)
	}
	// A replay of the same acceptance changes nothing.
	_, err = f.store.AcceptAgreement(ctx, f.op.ID, a.ID, a.Version, acc)
	wantErr(t, err, ErrAgreementState)
	_, err = f.store.DeclineAgreement(ctx, f.op.ID, a.ID, a.Version)
	wantErr(t, err, ErrAgreementState)
	_, err = f.store.WithdrawAgreement(ctx, "pub_news", a.ID, a.Version)
	wantErr(t, err, ErrAgreementState)
}

func TestAcceptAgreementRefuses(t *testing.T) {
	f := newAgrFixture(t)
	ctx := context.Background()
	a := f.mustOffer(t, "pub_news", f.offer())
	revokedPriv, revoked := f.register(t, f.op.ID)
	if _, err := f.store.RevokeKey(ctx, f.op.ID, revoked.ID); err != nil {
		t.Fatal(err)
	}
	v2 := *a
	v2.Version = 2
	tests := []struct {
		name    string
		account string
		version int
		acc     func() agreement.Acceptance
		advance time.Duration
		want    error
	}{
		{"another account accepts", f.other.ID, 1, func() agreement.Acceptance { return f.sign(t, f.opriv, a) }, 0, ErrForbidden},
		{"signed by another account's key", f.op.ID, 1, func() agreement.Acceptance { return f.sign(t, f.opriv, a) }, 0, agreement.ErrBadAcceptance},
		{"signed by a revoked key", f.op.ID, 1, func() agreement.Acceptance { return f.sign(t, revokedPriv, a) }, 0, ErrKeyUnusable},
		{"signed by an unregistered key", f.op.ID, 1, func() agreement.Acceptance { return f.sign(t, newPriv(t), a) }, 0, agreement.ErrBadAcceptance},
		{"bytes of another version", f.op.ID, 1, func() agreement.Acceptance { return f.sign(t, f.priv, &v2) }, 0, agreement.ErrBadAcceptance},
		{"a version that does not exist", f.op.ID, 2, func() agreement.Acceptance { return f.sign(t, f.priv, &v2) }, 0, ErrAgreementState},
		{"stale", f.op.ID, 1, func() agreement.Acceptance { return f.sign(t, f.priv, a) }, agreement.AcceptanceWindow + time.Second, agreement.ErrAcceptanceStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acc := tt.acc()
			f.clock.Advance(tt.advance)
			_, err := f.store.AcceptAgreement(ctx, tt.account, a.ID, tt.version, acc)
			wantErr(t, err, tt.want)
		})
	}
	if v, _ := f.store.AgreementVersion(ctx, a.ID, 1); v.State != agreement.StateOffered {
		t.Errorf("after refusals the offer is %s", v.State)
	}
	_, err := f.store.AcceptAgreement(ctx, f.op.ID, "agr_zzzzzzzzzzzzzzzz", 1, f.sign(t, f.priv, a))
	wantErr(t, err, ErrNotFound)

	// A suspended operator accepts nothing.
	if _, err := f.store.SetStatus(ctx, f.op.ID, StatusSuspended); err != nil {
		t.Fatal(err)
	}
	_, err = f.store.AcceptAgreement(ctx, f.op.ID, a.ID, 1, f.sign(t, f.priv, a))
	wantErr(t, err, ErrSuspended)
}

func TestAgreementVersions(t *testing.T) {
	f := newAgrFixture(t)
	ctx := context.Background()
	v1 := f.mustAccept(t, f.mustOffer(t, "pub_news", f.offer()))
	canon1 := v1.Canonical()

	// Version 2 starts in a day at a fixed price; v1 governs until then.
	next := f.offer()
	next.ID = v1.ID
	next.ValidFrom = f.clock.Now().Add(24 * time.Hour)
	next.Terms = agreement.Terms{Kind: agreement.KindRate, Rate: &agreement.Rate{Mode: agreement.RateFixed, Price: 500}}
	v2 := f.mustOffer(t, "pub_news", next)
	if v2.Version != 2 || v2.ID != v1.ID {
		t.Fatalf("second offer is %s v%d", v2.ID, v2.Version)
	}
	// Version 3 offered before 2 is decided withdraws 2.
	v3 := f.mustOffer(t, "pub_news", next)
	if got, _ := f.store.AgreementVersion(ctx, v1.ID, 2); got.State != agreement.StateWithdrawn {
		t.Fatalf("v2 after v3's offer: %s", got.State)
	}
	_, err := f.store.AcceptAgreement(ctx, f.op.ID, v2.ID, 2, f.sign(t, f.priv, v2))
	wantErr(t, err, ErrAgreementState)
	f.mustAccept(t, v3)

	all, err := f.store.Agreement(ctx, v1.ID)
	if err != nil || len(all) != 3 {
		t.Fatalf("versions: %+v, %v", all, err)
	}
	if all[0].State != agreement.StateSuperseded || all[2].State != agreement.StateAccepted {
		t.Fatalf("states %s, %s, %s", all[0].State, all[1].State, all[2].State)
	}
	if !bytes.Equal(all[0].Canonical(), canon1) {
		t.Fatal("version 1's content changed")
	}
	now := f.clock.Now()
	for _, tc := range []struct {
		at   time.Time
		want int
	}{{now, 1}, {now.Add(24*time.Hour - time.Second), 1}, {now.Add(24 * time.Hour), 3}} {
		inForce, err := f.store.AgreementsInForce(ctx, f.op.ID, tc.at)
		if err != nil {
			t.Fatal(err)
		}
		if v := agreement.InForce(inForce, f.op.ID, "pub_news", "news.example", "/", tc.at); v == nil || v.Version != tc.want {
			t.Errorf("at %s: in force %+v, want version %d", tc.at, v, tc.want)
		}
	}
	// Once v3 has started, v1 is no longer returned as in force.
	later, _ := f.store.AgreementsInForce(ctx, f.op.ID, now.Add(48*time.Hour))
	if len(later) != 1 || later[0].Version != 3 {
		t.Errorf("in force later: %+v", later)
	}
}

func TestAgreementOverlap(t *testing.T) {
	f := newAgrFixture(t)
	ctx := context.Background()
	// Two offers of the same scope: both may be offered while neither is
	// accepted, but only the first accepted stands.
	a := f.mustOffer(t, "pub_news", f.offer())
	b := f.mustOffer(t, "pub_news", f.offer())
	f.mustAccept(t, a)
	_, err := f.store.AcceptAgreement(ctx, f.op.ID, b.ID, 1, f.sign(t, f.priv, b))
	wantErr(t, err, agreement.ErrOverlap)
	// Once one is accepted, an overlapping offer is refused at once.
	_, err = f.store.OfferAgreement(ctx, "pub_news", f.offer())
	wantErr(t, err, agreement.ErrOverlap)
	// A nested prefix, another publisher or another account is no overlap.
	nested := f.offer()
	nested.Scope = []agreement.Site{{Host: "news.example", Paths: []string{"/premium/"}}}
	f.mustAccept(t, f.mustOffer(t, "pub_news", nested))
	f.mustAccept(t, f.mustOffer(t, "pub_blog", f.blogOffer()))
	otherAcct := f.offer()
	otherAcct.Account = f.other.ID
	f.mustOffer(t, "pub_news", otherAcct)
}

func TestDeclineAndWithdrawAgreement(t *testing.T) {
	f := newAgrFixture(t)
	ctx := context.Background()
	a := f.mustOffer(t, "pub_news", f.offer())
	_, err := f.store.DeclineAgreement(ctx, f.other.ID, a.ID, 1)
	wantErr(t, err, ErrForbidden)
	got, err := f.store.DeclineAgreement(ctx, f.op.ID, a.ID, 1)
	if err != nil || got.State != agreement.StateDeclined {
		t.Fatalf("declined: %+v, %v", got, err)
	}
	_, err = f.store.AcceptAgreement(ctx, f.op.ID, a.ID, 1, f.sign(t, f.priv, a))
	wantErr(t, err, ErrAgreementState)

	b := f.mustOffer(t, "pub_news", f.offer())
	_, err = f.store.WithdrawAgreement(ctx, "pub_blog", b.ID, 1)
	wantErr(t, err, ErrForbidden)
	got, err = f.store.WithdrawAgreement(ctx, "pub_news", b.ID, 1)
	if err != nil || got.State != agreement.StateWithdrawn {
		t.Fatalf("withdrawn: %+v, %v", got, err)
	}
	_, err = f.store.WithdrawAgreement(ctx, "pub_news", "agr_zzzzzzzzzzzzzzzz", 1)
	wantErr(t, err, ErrNotFound)
}

func TestAgreementsPerPairLimit(t *testing.T) {
	f := newAgrFixture(t)
	ctx := context.Background()
	for i := 0; i < MaxAgreementsPerPair; i++ {
		a := f.mustOffer(t, "pub_news", f.offer())
		if _, err := f.store.WithdrawAgreement(ctx, "pub_news", a.ID, 1); err != nil { // under MaxPendingOffers
			t.Fatal(err)
		}
	}
	_, err := f.store.OfferAgreement(ctx, "pub_news", f.offer())
	wantErr(t, err, ErrLimit)
	f.mustOffer(t, "pub_blog", f.blogOffer()) // another publisher is not limited by it
}

// stripeBilling gives f.op a stripe billing profile and returns a reader
// of its stored profile.
func (f *agrFixture) stripeBilling(t *testing.T) func() *Billing {
	t.Helper()
	ctx := context.Background()
	if _, err := f.store.SetBilling(ctx, f.op.ID, Billing{Rail: RailStripe, DailyCap: 5 * money.Scale, DefaultMaxPrice: money.Scale}); err != nil {
		t.Fatal(err)
	}
	return func() *Billing {
		op, err := f.store.Operator(ctx, f.op.ID)
		if err != nil {
			t.Fatal(err)
		}
		return op.Billing
	}
}

func TestSettlementPeriod(t *testing.T) {
	f := newAgrFixture(t)
	ctx := context.Background()
	billing := f.stripeBilling(t)
	period := func() agreement.SettlementPeriod { return billing().SettlementPeriod }
	if p := period(); p != agreement.SettleDaily {
		t.Fatalf("default period %q", p)
	}
	if _, err := f.store.SetSettlementPeriod(ctx, f.op.ID, agreement.SettleMonthly); err != nil {
		t.Fatal(err)
	}
	if p := period(); p != agreement.SettleMonthly {
		t.Fatalf("period %q after setting monthly", p)
	}
	// A new billing profile without a period keeps it; one with a period sets it.
	b, err := f.store.SetBilling(ctx, f.op.ID, Billing{Rail: RailStripe, DailyCap: 6 * money.Scale, DefaultMaxPrice: money.Scale})
	if err != nil || b.SettlementPeriod != agreement.SettleMonthly || period() != agreement.SettleMonthly {
		t.Fatalf("after a new profile: %+v, %v, stored %q", b, err, period())
	}
	if _, err := f.store.SetBilling(ctx, f.op.ID, Billing{Rail: RailStripe, DailyCap: 6 * money.Scale, DefaultMaxPrice: money.Scale,
		SettlementPeriod: agreement.SettleWeekly}); err != nil || period() != agreement.SettleWeekly {
		t.Fatalf("profile with weekly: %v, stored %q", err, period())
	}
	_, err = f.store.SetSettlementPeriod(ctx, f.op.ID, "yearly")
	wantErr(t, err, ErrInvalid)
	_, err = f.store.SetBilling(ctx, f.op.ID, Billing{Rail: RailStripe, DailyCap: 6 * money.Scale, DefaultMaxPrice: money.Scale, SettlementPeriod: "hourly"})
	wantErr(t, err, ErrInvalidBilling)
	_, err = f.store.SetSettlementPeriod(ctx, "op_zzzzzzzzzzzzzzzz", agreement.SettleWeekly)
	wantErr(t, err, ErrNotFound)
}

// TestAgreementInvalidations: an acceptance, which changes what is in
// force, is announced, so that gateways drop their cached copy at once;
// offers, declines and withdrawals change nothing in force and announce
// nothing, so that a publisher's offers cannot empty every gateway's
// cache of an account. (Fails if an offer publishes: the first message
// is then the offer's, before the marker.)
func TestAgreementInvalidations(t *testing.T) {
	f := newAgrFixture(t)
	ctx := context.Background()
	sub := f.store.SubscribeInvalidations(ctx)
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription's confirmation
		t.Fatal(err)
	}
	next := func() string {
		t.Helper()
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		msg, err := sub.ReceiveMessage(rctx)
		if err != nil {
			t.Fatal(err)
		}
		return msg.Payload
	}
	declined := f.mustOffer(t, "pub_news", f.offer())
	if _, err := f.store.DeclineAgreement(ctx, f.op.ID, declined.ID, 1); err != nil {
		t.Fatal(err)
	}
	withdrawn := f.mustOffer(t, "pub_news", f.offer())
	if _, err := f.store.WithdrawAgreement(ctx, "pub_news", withdrawn.ID, 1); err != nil {
		t.Fatal(err)
	}
	a := f.mustOffer(t, "pub_news", f.offer())
	next2 := f.offer()
	next2.ID = a.ID
	a = f.mustOffer(t, "pub_news", next2) // version 2 supersedes the pending version 1
	// A marker of our own, published after all of the above: nothing came before it.
	if err := f.store.Redis().Publish(ctx, InvalidateChannel, "marker").Err(); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != "marker" {
		t.Fatalf("first message %q, want the marker: an offer, decline or withdrawal was announced", got)
	}
	f.mustAccept(t, a)
	if got := next(); got != "agreements "+f.op.ID {
		t.Fatalf("after the acceptance: message %q", got)
	}
}

// TestConcurrentOverlappingAcceptances: two overlapping offers accepted at
// the same time; exactly one acceptance stands.
func TestConcurrentOverlappingAcceptances(t *testing.T) {
	f := newAgrFixture(t)
	ctx := context.Background()
	for round := 0; round < 5; round++ {
		offer := f.offer()
		offer.Scope = []agreement.Site{{Host: "race" + string(rune('a'+round)) + ".example"}}
		a, b := f.mustOffer(t, "pub_news", offer), f.mustOffer(t, "pub_news", offer)
		errs := make(chan error, 2)
		for _, v := range []*agreement.Agreement{a, b} {
			acc := f.sign(t, f.priv, v)
			go func() {
				_, err := f.store.AcceptAgreement(ctx, f.op.ID, v.ID, 1, acc)
				errs <- err
			}()
		}
		var ok, overlap int
		for i := 0; i < 2; i++ {
			switch err := <-errs; {
			case err == nil:
				ok++
			case errors.Is(err, agreement.ErrOverlap):
				overlap++
			default:
				t.Fatal(err)
			}
		}
		if ok != 1 || overlap != 1 {
			t.Fatalf("round %d: %d accepted, %d refused for overlap; want 1 and 1", round, ok, overlap)
		}
	}
}

// TestAcceptanceInForceFromTheNextSecond: a version accepted at 12:00:00.9
// records DecidedAt 12:00:01 (rounded up, not down), so the requests a
// gateway priced under the previous version before the acceptance existed
// (12:00:00.0-.9) are not in the new version's window; one accepted on a
// whole second is in force from that second.
func TestAcceptanceInForceFromTheNextSecond(t *testing.T) {
	f := newAgrFixture(t)
	ctx := context.Background()
	v1 := f.mustAccept(t, f.mustOffer(t, "pub_news", f.offer()))
	whole := f.clock.Now().Add(time.Hour)
	f.clock.Set(whole)
	next := f.offer()
	next.ID = v1.ID
	next.Terms = agreement.Terms{Kind: agreement.KindRate, Rate: &agreement.Rate{Mode: agreement.RateFixed, Price: 500}}
	v2 := f.mustOffer(t, "pub_news", next)
	f.clock.Set(whole.Add(900 * time.Millisecond))
	got := f.mustAccept(t, v2)
	if want := whole.Add(time.Second); !got.DecidedAt.Equal(want) || !got.Start().Equal(want) {
		t.Fatalf("accepted at %s: DecidedAt %s, start %s; want %s", f.clock.Now(), got.DecidedAt, got.Start(), want)
	}
	all, err := f.store.AcceptedAgreements(ctx, f.op.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   time.Time
		want int
	}{{whole, 1}, {whole.Add(950 * time.Millisecond), 1}, {whole.Add(time.Second), 2}} {
		if v := agreement.InForce(all, f.op.ID, "pub_news", "news.example", "/", tc.at); v == nil || v.Version != tc.want {
			t.Errorf("at %s: in force %+v, want version %d", tc.at.Format("15:04:05.000"), v, tc.want)
		}
	}
	// On a whole second: in force from that very second.
	next.Terms.Rate.Price = 400
	v3 := f.mustOffer(t, "pub_news", next)
	f.clock.Set(whole.Add(time.Minute))
	if got := f.mustAccept(t, v3); !got.DecidedAt.Equal(whole.Add(time.Minute)) {
		t.Fatalf("accepted on a whole second: DecidedAt %s", got.DecidedAt)
	}
}

// TestSettlementPeriodChanged: the operator's record says when its
// settlement period was last set (the settler looks back for days a recent
// change left uninvoiced); never set, it is zero.
func TestSettlementPeriodChanged(t *testing.T) {
	f := newAgrFixture(t)
	ctx := context.Background()
	billing := f.stripeBilling(t)
	changed := func() time.Time { return billing().SettlementPeriodChanged }
	if c := changed(); !c.IsZero() {
		t.Fatalf("never set: changed %s", c)
	}
	f.clock.Advance(90 * time.Minute)
	if _, err := f.store.SetSettlementPeriod(ctx, f.op.ID, agreement.SettleWeekly); err != nil {
		t.Fatal(err)
	}
	if c := changed(); !c.Equal(f.clock.Now().Truncate(time.Millisecond)) {
		t.Fatalf("changed %s, want %s", c, f.clock.Now())
	}
	// A billing profile without a period keeps the time; one with a period sets it.
	at := f.clock.Now()
	f.clock.Advance(time.Hour)
	if _, err := f.store.SetBilling(ctx, f.op.ID, Billing{Rail: RailStripe, DailyCap: 6 * money.Scale, DefaultMaxPrice: money.Scale}); err != nil || !changed().Equal(at) {
		t.Fatalf("after a profile without a period: %v, changed %s, want %s", err, changed(), at)
	}
	if _, err := f.store.SetBilling(ctx, f.op.ID, Billing{Rail: RailStripe, DailyCap: 6 * money.Scale, DefaultMaxPrice: money.Scale,
		SettlementPeriod: agreement.SettleDaily}); err != nil || !changed().Equal(f.clock.Now()) {
		t.Fatalf("after a profile with a period: %v, changed %s", err, changed())
	}
}
