package ledger

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// agreementCases run in TestLedger, on a single server and on a cluster
// (where every key of an append must share the crawler's slot).
var agreementCases = []suiteCase{
	{"QuotaConcurrentThenOverage", testQuotaConcurrentThenOverage},
	{"QuotaConcurrentHardStop", testQuotaConcurrentHardStop},
	{"PrepaidConcurrentNeverNegative", testPrepaidConcurrentNeverNegative},
	{"AgreementRetriesCountOnce", testAgreementRetriesCountOnce},
	{"QuotaSharedAcrossVersions", testQuotaSharedAcrossVersions},
	{"AgreementLimitsApplyToWhatIsCharged", testAgreementLimits},
	{"PrepaidCreditIdempotentPerTopUp", testPrepaidCredit},
	{"PrepaidReverseTakesBackWhatIsLeft", testPrepaidReverse},
	{"PrepaidDisputeTakesAndGivesBackOnce", testPrepaidDispute},
	{"PrepaidPartialDisputeTakesItsAmount", testPrepaidPartialDispute},
	{"PrepaidReversalsStopAutomaticTopUps", testPrepaidStop},
	{"AgreementFieldsReadBack", testAgreementFieldsReadBack},
}

// week is a subscription period around the env's clock: it starts a day
// before now.
func (e *env) week() (start, end time.Time) {
	start = dayStart(e.clock.Now()).Add(-24 * time.Hour)
	return start, start.Add(7 * 24 * time.Hour)
}

// subscribed returns a commitment of account under a subscription
// agreement, inside its quota (charged 0).
func (e *env) subscribed(account string, version int64) *Commitment {
	c := e.commitment(account, 0)
	c.AgreementID, c.AgreementVersion, c.ListPrice, c.Charge = "agr_sub1", version, 1_000, ChargeQuota
	return c
}

// prepaid returns a commitment of account drawing drawn from its prepaid
// balance.
func (e *env) prepaid(account string, drawn money.Micros) *Commitment {
	c := e.commitment(account, 0)
	c.AgreementID, c.AgreementVersion, c.ListPrice, c.Charge, c.Drawn = "agr_pre1", 1, drawn, ChargePrepaid, drawn
	return c
}

// concurrently appends n commitments made by mk from n goroutines and
// returns them with their errors.
func (e *env) concurrently(n int, mk func() *Commitment, lim Limits) ([]*Commitment, []error) {
	cs := make([]*Commitment, n)
	for i := range cs {
		cs[i] = mk()
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.l.Append(e.ctx, cs[i], lim)
		}()
	}
	wg.Wait()
	return cs, errs
}

// readDay reads account's commitments of today.
func (e *env) readDay(account string) []*Commitment {
	e.t.Helper()
	var got []*Commitment
	if err := e.l.Commitments(e.ctx, account, e.today(), func(c *Commitment) error {
		got = append(got, c)
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return got
}

// streamLen is how many commitments account's day holds.
func (e *env) streamLen(account string) int64 {
	e.t.Helper()
	n, err := e.rdb.XLen(e.ctx, e.l.streamKey(account, e.today())).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func testQuotaConcurrentThenOverage(t *testing.T, e *env) {
	const n, included, overage = 40, 25, 300
	start, end := e.week()
	q := &Quota{PeriodStart: start, PeriodEnd: end, Included: included, Overage: overage}
	cs, errs := e.concurrently(n, func() *Commitment { return e.subscribed("acme", 1) }, Limits{Quota: q})
	kinds := map[ChargeKind]int{}
	for i, c := range cs {
		if errs[i] != nil {
			t.Fatalf("append %d: %v", i, errs[i])
		}
		kinds[c.Charge]++
		if want := map[ChargeKind]money.Micros{ChargeQuota: 0, ChargeOverage: overage}[c.Charge]; c.Price != want {
			t.Errorf("%s commitment charged %s, want %s", c.Charge, c.Price, want)
		}
	}
	if kinds[ChargeQuota] != included || kinds[ChargeOverage] != n-included {
		t.Fatalf("kinds %v, want %d quota and %d overage", kinds, included, n-included)
	}
	if used, err := e.l.QuotaUsed(e.ctx, "acme", "agr_sub1", start); err != nil || used != n {
		t.Fatalf("QuotaUsed = %d, %v; want %d", used, err, n)
	}
	agg, err := e.l.Aggregate(e.ctx, "acme", e.today())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := agg.Currencies["USD"], (Total{Count: n, Amount: (n - included) * overage}); got != want {
		t.Fatalf("day total %+v, want %+v", got, want)
	}
	// What was stored says the same, commitment by commitment.
	stored := map[ChargeKind]int{}
	for _, c := range e.readDay("acme") {
		stored[c.Charge]++
	}
	if !reflect.DeepEqual(stored, kinds) {
		t.Fatalf("stored kinds %v, appended %v", stored, kinds)
	}
	if err := e.l.Verify(e.ctx, "acme", e.today()); err != nil {
		t.Fatal(err)
	}
	ttl, err := e.rdb.PExpireTime(e.ctx, e.l.quotaKey("acme", "agr_sub1", start)).Result()
	if err != nil || ttl != time.Duration(end.Add(QuotaRetention).UnixMilli())*time.Millisecond {
		t.Fatalf("quota counter expires at %v (%v), want %v", ttl, err, end.Add(QuotaRetention).UnixMilli())
	}
}

func testQuotaConcurrentHardStop(t *testing.T, e *env) {
	const n, included = 40, 25
	start, end := e.week()
	q := &Quota{PeriodStart: start, PeriodEnd: end, Included: included, HardStop: true}
	cs, errs := e.concurrently(n, func() *Commitment { return e.subscribed("acme", 1) }, Limits{Quota: q})
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
			if cs[i].Charge != ChargeQuota || cs[i].Price != 0 {
				t.Errorf("recorded %s at %s", cs[i].Charge, cs[i].Price)
			}
		case errors.Is(err, ErrQuotaExhausted):
		default:
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if ok != included {
		t.Fatalf("%d appends recorded, want %d", ok, included)
	}
	if used, _ := e.l.QuotaUsed(e.ctx, "acme", "agr_sub1", start); used != included {
		t.Fatalf("QuotaUsed = %d, want %d", used, included)
	}
	if got := e.streamLen("acme"); got != included {
		t.Fatalf("stream holds %d, want %d", got, included)
	}
	// A refusal writes nothing: its signature was not burnt, so the same
	// request succeeds once the period allows it (here: a larger quota).
	var refused *Commitment
	for i, err := range errs {
		if err != nil {
			refused = cs[i]
			break
		}
	}
	more := *q
	more.Included = included + 1
	if _, err := e.l.Append(e.ctx, refused, Limits{Quota: &more}); err != nil {
		t.Fatalf("refused request, appended again under a larger quota: %v", err)
	}
}

func testPrepaidConcurrentNeverNegative(t *testing.T, e *env) {
	const n, credit, draw = 30, 1_000, 70
	if _, _, err := e.l.CreditPrepaid(e.ctx, "acme", "agr_pre1", "topup_1", credit); err != nil {
		t.Fatal(err)
	}
	cs, errs := e.concurrently(n, func() *Commitment { return e.prepaid("acme", draw) }, Limits{})
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
			if cs[i].Price != 0 || cs[i].Drawn != draw {
				t.Errorf("recorded price %s drawn %s", cs[i].Price, cs[i].Drawn)
			}
		case errors.Is(err, ErrPrepaidExhausted):
		default:
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if ok != credit/draw {
		t.Fatalf("%d draws recorded, want %d", ok, credit/draw)
	}
	if b, err := e.l.PrepaidBalance(e.ctx, "acme", "agr_pre1"); err != nil || b != credit%draw {
		t.Fatalf("balance %s, %v; want %d", b, err, credit%draw)
	}
	if got := e.streamLen("acme"); got != int64(ok) {
		t.Fatalf("stream holds %d, want %d", got, ok)
	}
	// A draw the balance covers exactly empties it; none goes below 0.
	if _, err := e.l.Append(e.ctx, e.prepaid("acme", credit%draw), Limits{}); err != nil {
		t.Fatal(err)
	}
	_, err := e.l.Append(e.ctx, e.prepaid("acme", 1), Limits{})
	wantErr(t, err, ErrPrepaidExhausted)
	if b, _ := e.l.PrepaidBalance(e.ctx, "acme", "agr_pre1"); b != 0 {
		t.Fatalf("balance %s, want 0", b)
	}
	agg, _ := e.l.Aggregate(e.ctx, "acme", e.today())
	if got := agg.Currencies["USD"]; got.Amount != 0 || got.Count != int64(ok+1) {
		t.Fatalf("day total %+v: prepaid requests are counted and charged 0", got)
	}
}

func testAgreementRetriesCountOnce(t *testing.T, e *env) {
	start, end := e.week()
	q := &Quota{PeriodStart: start, PeriodEnd: end, Included: 1, Overage: 500}
	first := e.subscribed("acme", 1)
	id1, err := e.l.Append(e.ctx, first, Limits{Quota: q})
	if err != nil {
		t.Fatal(err)
	}
	over := e.subscribed("acme", 1)
	id2, err := e.l.Append(e.ctx, over, Limits{Quota: q})
	if err != nil || over.Charge != ChargeOverage {
		t.Fatalf("second append: %v, %s", err, over.Charge)
	}
	// Resends, as the gateway makes them after a lost reply: the same
	// commitment as it was before the first Append (Charge quota, Price 0).
	for _, tc := range []struct {
		c    *Commitment
		id   string
		kind ChargeKind
		p    money.Micros
	}{{first, id1, ChargeQuota, 0}, {over, id2, ChargeOverage, 500}} {
		again := *tc.c
		again.Charge, again.Price, again.ID, again.Day = ChargeQuota, 0, "", ""
		id, err := e.l.Append(e.ctx, &again, Limits{Quota: q})
		if err != nil || id != tc.id || again.Charge != tc.kind || again.Price != tc.p {
			t.Fatalf("resend = %s %s %s, %v; want %s %s %s", id, again.Charge, again.Price, err, tc.id, tc.kind, tc.p)
		}
	}
	if used, _ := e.l.QuotaUsed(e.ctx, "acme", "agr_sub1", start); used != 2 {
		t.Fatalf("QuotaUsed = %d after two appends and their resends, want 2", used)
	}

	if _, _, err := e.l.CreditPrepaid(e.ctx, "acme", "agr_pre1", "topup_1", 100); err != nil {
		t.Fatal(err)
	}
	p := e.prepaid("acme", 60)
	pid, err := e.l.Append(e.ctx, p, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	again := *p
	if id, err := e.l.Append(e.ctx, &again, Limits{}); err != nil || id != pid {
		t.Fatalf("prepaid resend = %s, %v; want %s", id, err, pid)
	}
	if b, _ := e.l.PrepaidBalance(e.ctx, "acme", "agr_pre1"); b != 40 {
		t.Fatalf("balance %s after a draw of 60 and its resend, want 40", b)
	}
}

func testQuotaSharedAcrossVersions(t *testing.T, e *env) {
	start, end := e.week()
	v1 := &Quota{PeriodStart: start, PeriodEnd: end, Included: 3, Overage: 100}
	for i := 0; i < 4; i++ {
		c := e.subscribed("acme", 1)
		if _, err := e.l.Append(e.ctx, c, Limits{Quota: v1}); err != nil {
			t.Fatal(err)
		}
		if want := map[bool]ChargeKind{true: ChargeQuota, false: ChargeOverage}[i < 3]; c.Charge != want {
			t.Fatalf("v1 request %d: %s, want %s", i, c.Charge, want)
		}
	}
	// Version 2 raises the quota to 6 and the overage to 200 mid-period:
	// the period has used 4, so 2 more are included.
	v2 := &Quota{PeriodStart: start, PeriodEnd: end, Included: 6, Overage: 200}
	var got []ChargeKind
	for i := 0; i < 3; i++ {
		c := e.subscribed("acme", 2)
		if _, err := e.l.Append(e.ctx, c, Limits{Quota: v2}); err != nil {
			t.Fatal(err)
		}
		got = append(got, c.Charge)
		if c.Charge == ChargeOverage && c.Price != 200 {
			t.Fatalf("v2 overage charged %s", c.Price)
		}
	}
	if want := []ChargeKind{ChargeQuota, ChargeQuota, ChargeOverage}; !reflect.DeepEqual(got, want) {
		t.Fatalf("v2 kinds %v, want %v", got, want)
	}
	// Another period has its own counter.
	next := &Quota{PeriodStart: end, PeriodEnd: end.Add(7 * 24 * time.Hour), Included: 1}
	if n, _ := e.l.QuotaUsed(e.ctx, "acme", "agr_sub1", next.PeriodStart); n != 0 {
		t.Fatalf("next period used %d", n)
	}
}

func testAgreementLimits(t *testing.T, e *env) {
	start, end := e.week()
	// The daily cap applies to what is charged: inside the quota nothing,
	// so a cap of 150 lets every included request through and one overage.
	q := &Quota{PeriodStart: start, PeriodEnd: end, Included: 2, Overage: 100}
	lim := Limits{DailyCap: 150, Quota: q}
	for i := 0; i < 3; i++ {
		if _, err := e.l.Append(e.ctx, e.subscribed("acme", 1), lim); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	_, err := e.l.Append(e.ctx, e.subscribed("acme", 1), lim)
	wantErr(t, err, ErrOverCap)
	// The max price applies to the overage price, not the included 0.
	_, err = e.l.Append(e.ctx, e.subscribed("acme", 1), Limits{MaxPrice: 99, Quota: q})
	wantErr(t, err, ErrOverMaxPrice)
	if used, _ := e.l.QuotaUsed(e.ctx, "acme", "agr_sub1", start); used != 3 {
		t.Fatalf("QuotaUsed = %d: a refused request counted", used)
	}
	// And to what a prepaid request draws.
	if _, _, err := e.l.CreditPrepaid(e.ctx, "acme", "agr_pre1", "topup_1", 1_000); err != nil {
		t.Fatal(err)
	}
	_, err = e.l.Append(e.ctx, e.prepaid("acme", 200), Limits{MaxPrice: 199})
	wantErr(t, err, ErrOverMaxPrice)
	if b, _ := e.l.PrepaidBalance(e.ctx, "acme", "agr_pre1"); b != 1_000 {
		t.Fatalf("balance %s after a refusal", b)
	}
	// A negotiated rate is charged its price, checked like any price.
	r := e.commitment("acme", 40)
	r.AgreementID, r.AgreementVersion, r.ListPrice, r.Charge = "agr_rate1", 1, 50, ChargeRate
	if _, err := e.l.Append(e.ctx, r, Limits{DailyCap: 140}); err != nil {
		t.Fatal(err)
	}
	r2 := e.commitment("acme", 1)
	r2.AgreementID, r2.AgreementVersion, r2.ListPrice, r2.Charge = "agr_rate1", 1, 50, ChargeRate
	_, err = e.l.Append(e.ctx, r2, Limits{DailyCap: 140})
	wantErr(t, err, ErrOverCap)
}

func testPrepaidCredit(t *testing.T, e *env) {
	b, applied, err := e.l.CreditPrepaid(e.ctx, "acme", "agr_pre1", "topup_1", 500)
	if err != nil || !applied || b != 500 {
		t.Fatalf("first credit = %s %v %v", b, applied, err)
	}
	b, applied, err = e.l.CreditPrepaid(e.ctx, "acme", "agr_pre1", "topup_1", 500)
	if err != nil || applied || b != 500 {
		t.Fatalf("resent credit = %s %v %v; want 500, not applied", b, applied, err)
	}
	_, _, err = e.l.CreditPrepaid(e.ctx, "acme", "agr_pre1", "topup_1", 600)
	wantErr(t, err, ErrConflict)
	if b, _, err = e.l.CreditPrepaid(e.ctx, "acme", "agr_pre1", "topup_2", 250); err != nil || b != 750 {
		t.Fatalf("second top-up = %s, %v", b, err)
	}
	_, _, err = e.l.CreditPrepaid(e.ctx, "acme", "agr_pre1", "topup_3", MaxAmount)
	wantErr(t, err, ErrInvalid)
	ups, err := e.l.PrepaidTopUps(e.ctx, "acme", "agr_pre1")
	if want := map[string]money.Micros{"topup_1": 500, "topup_2": 250}; err != nil || !reflect.DeepEqual(ups, want) {
		t.Fatalf("top-ups %v, %v; want %v", ups, err, want)
	}
	// Another agreement, another account: their own balances.
	for _, k := range [][2]string{{"acme", "agr_pre2"}, {"other", "agr_pre1"}} {
		if b, err := e.l.PrepaidBalance(e.ctx, k[0], k[1]); err != nil || b != 0 {
			t.Fatalf("balance of %v = %s, %v", k, b, err)
		}
	}
	for _, bad := range []struct{ account, agreement, topUp string }{
		{"acme", "agr {x}", "t"}, {"acme", "agr_pre1", ""}, {"a{b}", "agr_pre1", "t"},
	} {
		_, _, err := e.l.CreditPrepaid(e.ctx, bad.account, bad.agreement, bad.topUp, 1)
		wantErr(t, err, ErrInvalid)
	}
	_, _, err = e.l.CreditPrepaid(e.ctx, "acme", "agr_pre1", "topup_4", 0)
	wantErr(t, err, ErrInvalid)
}

func testAgreementFieldsReadBack(t *testing.T, e *env) {
	start, end := e.week()
	if _, _, err := e.l.CreditPrepaid(e.ctx, "acme", "agr_pre1", "topup_1", 1_000); err != nil {
		t.Fatal(err)
	}
	rate := e.commitment("acme", 45)
	rate.AgreementID, rate.AgreementVersion, rate.ListPrice, rate.Charge = "agr_rate1", 3, 50, ChargeRate
	plain := e.commitment("acme", 50)
	want := []*Commitment{e.subscribed("acme", 2), e.subscribed("acme", 2), e.prepaid("acme", 30), rate, plain}
	q := &Quota{PeriodStart: start, PeriodEnd: end, Included: 1, Overage: 7}
	for _, c := range want {
		lim := Limits{}
		if c.Charge == ChargeQuota {
			lim.Quota = q
		}
		if _, err := e.l.Append(e.ctx, c, lim); err != nil {
			t.Fatal(err)
		}
	}
	got := e.readDay("acme")
	if len(got) != len(want) {
		t.Fatalf("read %d, want %d", len(got), len(want))
	}
	for i := range want {
		if w := readBack(want[i], want[i].ID); !reflect.DeepEqual(got[i], w) {
			t.Errorf("commitment %d:\n got %+v\nwant %+v", i, got[i], w)
		}
	}
	if got[1].Charge != ChargeOverage || got[1].Price != 7 || got[4].Kind() != ChargeList {
		t.Fatalf("read %s at %s and %s", got[1].Charge, got[1].Price, got[4].Kind())
	}
}

func TestAgreementValidation(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	start := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	q := func() *Quota {
		return &Quota{PeriodStart: start, PeriodEnd: start.AddDate(0, 0, 7), Included: 10, Overage: 5}
	}
	agreed := func(kind ChargeKind) func(c *Commitment) {
		return func(c *Commitment) {
			c.AgreementID, c.AgreementVersion, c.ListPrice, c.Charge = "agr_x", 1, 1_000, kind
		}
	}
	tests := []struct {
		name  string
		edit  func(c *Commitment)
		quota *Quota
		ok    bool
	}{
		{"no agreement", func(c *Commitment) {}, nil, true},
		{"rate", agreed(ChargeRate), nil, true},
		{"quota", func(c *Commitment) { agreed(ChargeQuota)(c); c.Price = 0 }, q(), true},
		{"prepaid", func(c *Commitment) { agreed(ChargePrepaid)(c); c.Price, c.Drawn = 0, 900 }, nil, true},
		{"version without agreement", func(c *Commitment) { c.AgreementVersion = 1 }, nil, false},
		{"kind without agreement", func(c *Commitment) { c.Charge = ChargeRate }, nil, false},
		{"quota without agreement", func(c *Commitment) {}, q(), false},
		{"agreement without version", func(c *Commitment) { agreed(ChargeRate)(c); c.AgreementVersion = 0 }, nil, false},
		{"agreement id with a brace", func(c *Commitment) { agreed(ChargeRate)(c); c.AgreementID = "agr_{x}" }, nil, false},
		{"agreement id with a space", func(c *Commitment) { agreed(ChargeRate)(c); c.AgreementID = "agr x" }, nil, false},
		{"list kind with agreement", agreed(ChargeList), nil, false},
		{"overage asked for", agreed(ChargeOverage), q(), false},
		{"unknown kind", agreed("free"), nil, false},
		{"quota kind without quota", func(c *Commitment) { agreed(ChargeQuota)(c); c.Price = 0 }, nil, false},
		{"quota on a rate", agreed(ChargeRate), q(), false},
		{"quota charged", agreed(ChargeQuota), q(), false},
		{"prepaid charged", func(c *Commitment) { agreed(ChargePrepaid)(c); c.Drawn = 5 }, nil, false},
		{"drawn on a rate", func(c *Commitment) { agreed(ChargeRate)(c); c.Drawn = 5 }, nil, false},
		{"negative list price", func(c *Commitment) { agreed(ChargeRate)(c); c.ListPrice = -1 }, nil, false},
		{"received before the period", func(c *Commitment) { agreed(ChargeQuota)(c); c.Price, c.Received = 0, start.Add(-time.Nanosecond) }, q(), false},
		{"received at the period's end", func(c *Commitment) { agreed(ChargeQuota)(c); c.Price, c.Received = 0, start.AddDate(0, 0, 7) }, q(), false},
		{"negative quota", func(c *Commitment) { agreed(ChargeQuota)(c); c.Price = 0 }, &Quota{PeriodStart: start, PeriodEnd: start.AddDate(0, 1, 0), Included: -1}, false},
		{"empty period", func(c *Commitment) { agreed(ChargeQuota)(c); c.Price = 0 }, &Quota{PeriodStart: start, PeriodEnd: start}, false},
		{"overage out of range", func(c *Commitment) { agreed(ChargeQuota)(c); c.Price = 0 }, &Quota{PeriodStart: start, PeriodEnd: start.AddDate(0, 0, 7), Overage: MaxAmount + 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sampleCommitment("acme", 1, 1_000, now)
			tt.edit(c)
			err := c.validate(Limits{Quota: tt.quota})
			if tt.ok && err != nil {
				t.Fatal(err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalid) {
				t.Fatalf("validate = %v, want ErrInvalid", err)
			}
		})
	}
}

// A commitment without an agreement is stored exactly as before
// agreements: the agreement is an optional field, appended only for those
// that have one.
func TestCompactAgreementSectionIsAdditive(t *testing.T) {
	now := time.Date(2026, 12, 1, 19, 30, 0, 0, time.UTC)
	plain := signedCommitment("acme", 7, now)
	rec, _ := stored(t, plain)
	// The record of signedCommitment in format 2, as before agreements.
	if len(rec) != 177 {
		t.Errorf("record without an agreement is %d bytes, was 177", len(rec))
	}
	for _, kind := range []ChargeKind{ChargeRate, ChargeQuota, ChargeOverage, ChargePrepaid} {
		c := *plain
		c.AgreementID, c.AgreementVersion, c.ListPrice, c.Charge = "agr_0123456789abcdef", 2, 1_000, kind
		if kind == ChargePrepaid {
			c.Drawn = 900
		}
		arec, d := stored(t, &c)
		if !strings.HasPrefix(arec, rec) || arec[len(rec)] != fieldAgreement {
			t.Fatalf("%s: record does not extend the plain one with an agreement field", kind)
		}
		if got := roundTrip(t, &c); !reflect.DeepEqual(got, readBack(&c, got.ID)) {
			t.Errorf("%s: read back %+v", kind, got)
		}
		// A field cut short, or followed by anything, is refused.
		for n := len(rec) + 1; n < len(arec); n++ {
			if _, err := decodeCompact(arec[:n], Day(c.Received), d); err == nil {
				t.Errorf("%s: record cut at %d of %d decoded", kind, n, len(arec))
			}
		}
		for _, tail := range []string{"\x01", "\x01\x00", arec[len(rec):]} {
			if _, err := decodeCompact(arec+tail, Day(c.Received), d); err == nil {
				t.Errorf("%s: record with trailing %q decoded", kind, tail)
			}
		}
	}
}

// FuzzCompactAgreementRoundTrip: whatever the agreement fields, a compact
// record gives them back exactly.
func FuzzCompactAgreementRoundTrip(f *testing.F) {
	f.Add("agr_0123", int64(1), int64(1000), int64(0), uint8(2), int64(0))
	f.Add("agr_x", int64(1<<40), int64(0), int64(0), uint8(4), int64(1<<52))
	f.Fuzz(func(t *testing.T, id string, version, list, price int64, code uint8, drawn int64) {
		c := sampleCommitment("acme", 1, money.Micros(price), time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC))
		c.AgreementID, c.AgreementVersion, c.ListPrice, c.Drawn = id, version, money.Micros(list), money.Micros(drawn)
		if int(code) < len(chargeCodes) {
			c.Charge = chargeCodes[code]
		}
		var q *Quota
		if c.Charge == ChargeQuota {
			q = &Quota{PeriodStart: dayStart(c.Received), PeriodEnd: dayStart(c.Received).AddDate(0, 1, 0)}
		}
		if c.validate(Limits{Quota: q}) != nil {
			return
		}
		if got := roundTrip(t, c); !reflect.DeepEqual(got, readBack(c, got.ID)) {
			t.Fatalf("read back\n%+v\nwant\n%+v", got, readBack(c, got.ID))
		}
	})
}

func ExampleCommitment_Kind() {
	c := &Commitment{}
	fmt.Println(c.Kind())
	c.Charge = ChargeQuota
	fmt.Println(c.Kind())
	// Output:
	// list
	// quota
}
