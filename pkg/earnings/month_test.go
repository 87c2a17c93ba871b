package earnings

import (
	"context"
	"fmt"
	"math/rand"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/internal/testclock"
	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// feeTable is a Fees of fixed fees by publisher.
type feeTable map[string]int64

func (f feeTable) FeeBPS(_ context.Context, p string) (int64, error) { return f[p], nil }

type world struct {
	t     *testing.T
	ctx   context.Context
	rdb   *redis.Client
	l     *ledger.Ledger
	clock *testclock.Clock
	book  *Book
	seq   int
}

func newWorld(t *testing.T, fees Fees) *world {
	t.Helper()
	srv := testredis.Start(t, testredis.Options{NoAOF: true})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	w := &world{t: t, ctx: context.Background(), rdb: rdb, clock: testclock.New(time.Now().UTC().AddDate(0, 0, -40).Truncate(24 * time.Hour))}
	var err error
	if w.l, err = ledger.New(rdb, ledger.Options{Now: w.clock.Now}); err != nil {
		t.Fatal(err)
	}
	if w.book, err = New(Options{Redis: rdb, Ledger: w.l, Fees: fees}); err != nil {
		t.Fatal(err)
	}
	return w
}

// crawl appends one commitment of account at publisher's site, now.
func (w *world) crawl(account, publisher, site string, price money.Micros) {
	w.t.Helper()
	w.seq++
	s := strconv.Itoa(w.seq)
	now := w.clock.Now()
	c := &ledger.Commitment{RequestID: "req-" + s, Received: now, Account: account, Agent: "https://crawler.example/agent",
		KeyID: "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U", PublicKey: `{"kty":"OKP","crv":"Ed25519","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"}`,
		Publisher: publisher, Site: site, Method: "GET", Scheme: "https", Authority: site, Path: "/a/" + s, Price: price, Currency: "USD",
		OfferID: "offer-" + s, Dialect: "deferred", Label: "sig1",
		SignatureInput: `sig1=("@authority");created=1735689600;keyid="poqk";tag="web-bot-auth"`, Signature: "sig1=:" + s + "==:",
		Covered: map[string]string{"signature-agent": `"https://crawler.example/agent"`}, ReplayIDs: []string{"n-" + s},
		ReplayUntil: time.Now().Add(time.Hour)}
	if _, err := w.l.Append(w.ctx, c, ledger.Limits{}); err != nil {
		w.t.Fatal(err)
	}
}

// settle walks invoice id to status, with refunds of the given amounts
// when paid.
func (w *world) settle(id string, to ledger.Status, refunds ...money.Micros) {
	w.t.Helper()
	inv, err := w.l.Invoice(w.ctx, id)
	if err != nil {
		w.t.Fatal(err)
	}
	move := func(s ledger.Status, set ledger.Settlement) {
		w.t.Helper()
		if err := w.l.Transition(w.ctx, id, ledger.Transition{To: s, Token: 1, Actor: "test", Set: set}); err != nil {
			w.t.Fatalf("%s → %s: %v", id, s, err)
		}
	}
	if to == ledger.StatusVoid {
		move(ledger.StatusVoid, ledger.Settlement{})
		return
	}
	move(ledger.StatusApproved, ledger.Settlement{})
	move(ledger.StatusCharging, ledger.Settlement{})
	if to == ledger.StatusCarried {
		move(ledger.StatusCarried, ledger.Settlement{CarriedOut: inv.Total})
		return
	}
	move(ledger.StatusPaid, ledger.Settlement{Rail: "stripe", PaymentIntent: "pi_" + id, Charged: inv.Total})
	for i, r := range refunds {
		seq := int64(i + 1)
		if _, _, err := w.l.BeginRefund(w.ctx, id, ledger.RefundRequest{Token: 1, Seq: seq, Amount: r, Actor: "fin", Reason: "test"}); err != nil {
			w.t.Fatal(err)
		}
		if err := w.l.FinishRefund(w.ctx, id, seq, ledger.RefundResult{Token: 1, Status: ledger.RefundDone, Reference: fmt.Sprintf("re_%s_%d", id, seq), Actor: "test"}); err != nil {
			w.t.Fatal(err)
		}
	}
}

// TestEarningsOverAGeneratedMonth: thirty days of three crawlers on four
// sites of three publishers (fees 250, 0 and 10000 bps), with credits,
// voids, carried invoices collected later, refunds and chargebacks (each
// reported three times; every third one won and reinstated). Each
// publisher's balance adds up, to the micro-unit, to its paid (and
// collected) invoice lines minus credits and the fee, less its share of
// refunds and chargebacks, each share giving back its fee; the shares add
// up to what was refunded and charged back; everything
// the crawlers paid is what the publishers earned before fees; and
// recording again, even from scratch, changes nothing.
func TestEarningsOverAGeneratedMonth(t *testing.T) {
	fees := feeTable{"pub_news": 250, "pub_blog": 0, "pub_house": 10_000}
	w := newWorld(t, fees)
	rng := rand.New(rand.NewSource(15))
	sites := []struct{ pub, site string }{{"pub_news", "news.example"}, {"pub_news", "sport.example"}, {"pub_blog", "blog.example"}, {"pub_house", "house.example"}}
	crawlers := []string{"op_a", "op_b", "op_c"}
	var days, disputes []string
	var chargedBack money.Micros
	for d := 0; d < 30; d++ {
		day := ledger.Day(w.clock.Now())
		days = append(days, day)
		for _, acct := range crawlers {
			for n := rng.Intn(6) + 1; n > 0; n-- {
				s := sites[rng.Intn(len(sites))]
				w.crawl(acct, s.pub, s.site, money.Micros(rng.Intn(50_000)+1)) // up to 0.05, not whole cents
			}
		}
		w.clock.Advance(24 * time.Hour)
		for _, acct := range crawlers {
			inv, _, err := w.l.CreateInvoice(w.ctx, acct, day, "USD", "settler")
			if err != nil {
				t.Fatal(err)
			}
			if rng.Intn(5) == 0 && len(inv.Lines) > 0 { // a credit on a line
				l := rng.Intn(len(inv.Lines))
				if err := w.l.CreditLine(w.ctx, inv.ID, l, money.Micros(rng.Int63n(int64(inv.Lines[l].Amount)+1)), "fin", "test"); err != nil {
					t.Fatal(err)
				}
				if inv, err = w.l.Invoice(w.ctx, inv.ID); err != nil {
					t.Fatal(err)
				}
			}
			switch r := rng.Intn(10); {
			case d == 29 || r < 6: // the last day is paid, so every carried invoice is collected
				var refunds []money.Micros
				if r == 0 && inv.Total > 2 {
					refunds = []money.Micros{inv.Total / 3, money.Micros(rng.Int63n(int64(inv.Total - inv.Total/3)))}
				}
				w.settle(inv.ID, ledger.StatusPaid, refunds...)
				if r == 1 && inv.Total > 3 { // a dispute: part of what is left after refunds, reported three times
					cb := Chargeback{ID: "dp_" + strconv.Itoa(d) + "_" + acct, Amount: money.Micros(rng.Int63n(int64(inv.Total)-1) + 1), At: w.clock.Now()}
					for range 3 {
						if _, err := w.book.Chargeback(w.ctx, inv.ID, cb); err != nil {
							t.Fatal(err)
						}
					}
					chargedBack += cb.Amount
					if len(disputes)%3 == 1 { // every third dispute is won: its funds come back, once
						for range 2 {
							if _, err := w.book.Reinstatement(w.ctx, inv.ID, cb); err != nil {
								t.Fatal(err)
							}
						}
						chargedBack -= cb.Amount
					}
					disputes = append(disputes, cb.ID)
				}
			case r < 8:
				w.settle(inv.ID, ledger.StatusCarried)
			default:
				w.settle(inv.ID, ledger.StatusVoid)
			}
		}
		if _, err := w.book.RecordDay(w.ctx, day); err != nil {
			t.Fatal(err)
		}
	}

	// What each publisher is owed, computed from the invoices alone.
	want := map[string]money.Micros{}
	var collected, earnedGross, refunded money.Micros
	for _, day := range days {
		invs, err := w.l.Invoices(w.ctx, day)
		if err != nil {
			t.Fatal(err)
		}
		for _, inv := range invs {
			if inv.Status == ledger.StatusPaid {
				collected += inv.Charged
				refunded += inv.Refunded
			}
			if inv.Status != ledger.StatusPaid && inv.Status != ledger.StatusCarried {
				continue
			}
			for _, l := range inv.Lines {
				net := l.Amount - l.Credit
				want[l.Publisher] += net - net*money.Micros(fees[l.Publisher])/10_000
				earnedGross += net
			}
		}
	}
	if collected != earnedGross {
		t.Fatalf("crawlers paid %s, publishers earned %s before fees", collected, earnedGross)
	}
	kinds := map[string]int{}
	check := func(when string) {
		t.Helper()
		var refundGross, chargebackGross money.Micros
		for pub, bps := range fees {
			entries, err := w.book.Entries(w.ctx, pub, time.Unix(0, 0), time.Now().Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			var net, reversals money.Micros
			for _, e := range entries {
				kinds[e.Kind]++
				if e.CollectedBy != "" {
					kinds["collected"]++
				}
				if e.Credit > 0 {
					kinds["credited"]++
				}
				if e.Net != e.Gross-e.Credit-e.Voided-e.Fee {
					t.Fatalf("%s: entry %s does not add up: %+v", when, e.Key, e)
				}
				switch e.Kind {
				case KindRefund, KindChargeback, KindReinstated:
					if e.Fee != e.Gross*money.Micros(bps)/10_000 {
						t.Fatalf("%s: %s %s gives back fee %s of %s at %d bps", when, e.Kind, e.Key, e.Fee, e.Gross, bps)
					}
					if e.Kind == KindRefund {
						refundGross += e.Gross
					} else {
						chargebackGross += e.Gross
					}
					reversals += e.Net
				case KindEarning:
					net += e.Net
				case KindVoid:
					if e.Net != 0 {
						t.Fatalf("%s: void %s nets %s", when, e.Key, e.Net)
					}
				}
			}
			if net != want[pub] {
				t.Errorf("%s: %s earned %s, want %s", when, pub, net, want[pub])
			}
			bal, err := w.book.Balance(w.ctx, pub, "USD")
			if err != nil || bal != net+reversals {
				t.Errorf("%s: %s balance %s (%v), want %s", when, pub, bal, err, net+reversals)
			}
		}
		if refundGross != -refunded {
			t.Errorf("%s: refunds reversed %s, crawlers were refunded %s", when, refundGross, refunded)
		}
		if chargebackGross != -chargedBack {
			t.Errorf("%s: chargebacks took back %s, the card networks took %s", when, chargebackGross, chargedBack)
		}
	}
	check("recorded day by day")
	for _, k := range []string{KindEarning, KindVoid, KindRefund, KindChargeback, KindReinstated, "collected", "credited"} {
		if kinds[k] == 0 {
			t.Fatalf("the month lacks variety: %v", kinds)
		}
	}
	t.Logf("entries: %v", kinds)
	// Forget which invoices were recorded: a full rerun adds nothing.
	if err := w.rdb.Del(w.ctx, w.book.idxKey("inv")).Err(); err != nil {
		t.Fatal(err)
	}
	for _, day := range days {
		rep, err := w.book.RecordDay(w.ctx, day)
		if err != nil || rep.Entries != 0 {
			t.Fatalf("rerun of %s: %+v %v", day, rep, err)
		}
	}
	check("recorded again")
}

func TestFeeRoundsTowardZero(t *testing.T) {
	for _, tc := range []struct {
		amount money.Micros
		bps    int64
		want   money.Micros
	}{
		{0, 250, 0},
		{39, 250, 0},             // 0.975 micro-units: the platform takes nothing
		{40, 250, 1},             // exactly 1
		{79, 250, 1},             // 1.975 → 1
		{1_000_000, 250, 25_000}, // 2.5 % of 1.00
		{1_000_000, 0, 0},        // fee 0 is allowed
		{1_000_000, 10_000, 1_000_000},
		{-79, 250, -1}, // a reversal gives back what its earning took
		{1<<62 + 12345, 9_999, (1<<62+12345)/10_000*9_999 + (1<<62+12345)%10_000*9_999/10_000}, // no overflow
	} {
		if got := Fee(tc.amount, tc.bps); got != tc.want {
			t.Errorf("Fee(%d, %d) = %d, want %d", tc.amount, tc.bps, got, tc.want)
		}
	}
}

func TestAllocateIsExact(t *testing.T) {
	for _, tc := range []struct {
		total   money.Micros
		weights []money.Micros
		want    []money.Micros
	}{
		{100, []money.Micros{1, 1, 1}, []money.Micros{34, 33, 33}},
		{2, []money.Micros{1, 1, 1}, []money.Micros{1, 1, 0}},
		{10, []money.Micros{0, 5, 5}, []money.Micros{0, 5, 5}},
		{7, []money.Micros{0, 0}, []money.Micros{0, 7}},
		{1 << 52, []money.Micros{1 << 52, 1 << 52, 1}, nil},
	} {
		got := allocate(tc.total, tc.weights)
		var sum money.Micros
		for _, g := range got {
			sum += g
		}
		if sum != tc.total || tc.want != nil && fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("allocate(%d, %v) = %v, want %v summing to %d", tc.total, tc.weights, got, tc.want, tc.total)
		}
	}
}
