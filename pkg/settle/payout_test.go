package settle_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/paycrawl/paycrawl/internal/testlog"
	"github.com/paycrawl/paycrawl/internal/teststripe"
	"github.com/paycrawl/paycrawl/pkg/earnings"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/settle"
	"github.com/paycrawl/paycrawl/pkg/settle/evm"
	"github.com/paycrawl/paycrawl/pkg/settle/evm/devchain"
	"github.com/paycrawl/paycrawl/pkg/settle/stripe"
)

// pubs is an in-memory settle.Publishers.
type pubs struct {
	mu sync.Mutex
	m  map[string]*registry.Publisher
}

func (p *pubs) Publisher(_ context.Context, id string) (*registry.Publisher, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pub, ok := p.m[id]; ok {
		return pub, nil
	}
	return nil, fmt.Errorf("%w: publisher %s", registry.ErrNotFound, id)
}

// payoutWorld is an env with an earnings book, three publishers (a Stripe
// connected account with a 10 % fee and a 1.00 minimum, a proved wallet
// without fee, and one whose minimum is never reached) and a treasury that
// lets the settler pay out (holding what Stripe collected for pub_chain).
type payoutWorld struct {
	*env
	book    *earnings.Book
	pubs    *pubs
	wallet  common.Address
	chainOp string
}

func newPayoutWorld(t *testing.T) *payoutWorld {
	e := newEnv(t, rails{stripe: true, evm: true})
	w := &payoutWorld{env: e, pubs: &pubs{m: map[string]*registry.Publisher{}}}
	var err error
	if w.book, err = earnings.New(earnings.Options{Redis: e.rdb, Ledger: e.l, Fees: settle.RegistryFees{Store: w.pubs}}); err != nil {
		t.Fatal(err)
	}
	e.earn = w.book
	wk, wa := newKey(t)
	w.wallet = wa
	proof, err := registry.SignWalletProof(wk, registry.WalletClaim{Purpose: registry.WalletReceives, Account: "pub_chain", Wallet: wa.Hex(),
		ChainID: devchain.ChainID, Settler: e.settlerAddr.Hex(), IssuedAt: e.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	w.pubs.m["pub_card"] = &registry.Publisher{ID: "pub_card", FeeBPS: 1000, MinimumPayout: money.Scale,
		Payout: &registry.Payout{Rail: registry.RailStripe, StripeAccount: "acct_card", Currency: "USD"}}
	w.pubs.m["pub_chain"] = &registry.Publisher{ID: "pub_chain",
		Payout: &registry.Payout{Rail: registry.RailEVM, Wallet: wa.Hex(), WalletProof: &proof, Currency: "USDC"}}
	w.pubs.m["pub_small"] = &registry.Publisher{ID: "pub_small", MinimumPayout: 1000 * money.Scale,
		Payout: &registry.Payout{Rail: registry.RailStripe, StripeAccount: "acct_small", Currency: "USD"}}
	e.stripePayer("op_card", "pm_card_visa")
	w.chainOp = "op_chain"
	e.evmPayer(w.chainOp, 1000*money.Scale, 1000*money.Scale)
	if err := devchain.Fund(e.ctx, e.chain.Client(), e.minter, e.treasury, devchain.Ether); err != nil {
		t.Fatal(err)
	}
	// pub_chain's USD earnings were collected by Stripe, not on chain: the
	// operator moves their USDC into the treasury (here: minted).
	if err := devchain.Mint(e.ctx, e.chain.Client(), e.minter, e.token, e.treasury, 100*money.Scale); err != nil {
		t.Fatal(err)
	}
	if err := devchain.Approve(e.ctx, e.chain.Client(), e.treasuryKey, e.token, e.settlerAddr, 1000*money.Scale); err != nil {
		t.Fatal(err)
	}
	return w
}

// earnDay has both crawlers use the three publishers on day i and settles
// the day, recording the earnings.
func (w *payoutWorld) earnDay(i int) {
	w.t.Helper()
	w.use("op_card", i, "pub_card", "card.example", "USD", 2_000_000, 1_000_000)
	w.use("op_card", i, "pub_chain", "chain.example", "USD", 2_500_000)
	w.use("op_card", i, "pub_small", "small.example", "USD", 100_000)
	w.use(w.chainOp, i, "pub_chain", "chain.example", "USDC", 1_250_000)
	w.use(w.chainOp, i, "pub_card", "card.example", "USDC", 750_000)
	w.clock.Set(w.closeTime(i))
	rep := mustRun(w.t, w.settler(hooks{}), w.ctx)
	if n := rep.Days[len(rep.Days)-1].Earnings; n != 5 {
		w.t.Fatalf("day %d recorded %d earnings, want 5", i, n)
	}
}

// payouts builds a Payouts run (a restarted process) with fault hooks.
func (w *payoutWorld) payouts(h hooks) *settle.Payouts {
	w.t.Helper()
	sr, err := stripe.New(stripe.Config{APIKey: teststripe.APIKey, BaseURL: w.stripeURL, MaxNetworkRetries: -1, Faults: h.stripe, Logger: testlog.New()})
	if err != nil {
		w.t.Fatal(err)
	}
	er, err := evm.New(evm.Config{Client: w.chain.Client(), Token: w.token, Treasury: w.treasury, Key: w.settlerKey, Ledger: w.l,
		Confirmations: 2, PollInterval: 10 * time.Millisecond, ConfirmTimeout: 20 * time.Second, Faults: h.evm, Payouts: w.book, Logger: testlog.New()})
	if err != nil {
		w.t.Fatal(err)
	}
	p, err := settle.NewPayouts(settle.PayoutsOptions{Ledger: w.l, Book: w.book, Publishers: w.pubs, Rails: []settle.PayoutRail{sr, er},
		EVM: registry.WalletDomain{ChainID: devchain.ChainID, Settler: w.settlerAddr.Hex()}, Period: settle.PeriodDay,
		Now: w.clock.Now, Faults: h.settler, Logger: testlog.New()})
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

// transfers lists the Stripe transfers of a payout.
func (w *payoutWorld) transfers(id string) []teststripe.Transfer {
	var out []teststripe.Transfer
	for _, tr := range w.proxy.Transfers() {
		if tr.TransferGroup == id {
			out = append(out, tr)
		}
	}
	return out
}

// TestPayoutsOncePerPeriodWhateverCrashes: for each step of a payout run
// (after the payouts are created, after one moves to sending, around the
// Stripe call, around the chain transaction's write-ahead record and
// broadcast, while confirming, before the outcome is recorded) the run is
// killed there and run again: each publisher is paid its period's
// earnings exactly once (one Stripe transfer; one ERC-20 transfer of the
// exact amount), below-minimum balances carry over, and a third run
// changes nothing.
func TestPayoutsOncePerPeriodWhateverCrashes(t *testing.T) {
	w := newPayoutWorld(t)
	points := []struct {
		point string
		hook  func(h func(string) error) hooks
	}{
		{"none", func(func(string) error) hooks { return hooks{} }},
		{settle.FaultPayoutCreated, func(h func(string) error) hooks { return hooks{settler: h} }},
		{settle.FaultPayoutSending, func(h func(string) error) hooks { return hooks{settler: h} }},
		{settle.FaultBeforeStripeCall, func(h func(string) error) hooks { return hooks{stripe: h} }},
		{settle.FaultAfterStripeCall, func(h func(string) error) hooks { return hooks{stripe: h} }},
		{settle.FaultBeforeWriteAhead, func(h func(string) error) hooks { return hooks{evm: h} }},
		{settle.FaultBeforeBroadcast, func(h func(string) error) hooks { return hooks{evm: h} }},
		{settle.FaultAfterBroadcast, func(h func(string) error) hooks { return hooks{evm: h} }},
		{settle.FaultConfirming, func(h func(string) error) hooks { return hooks{evm: h} }},
		{settle.FaultPayoutBeforeOutcome, func(h func(string) error) hooks { return hooks{settler: h} }},
	}
	var paidToWallet money.Micros
	for i, p := range points {
		t.Run(strings.ReplaceAll(p.point, "/", "-"), func(t *testing.T) {
			w.t = t
			w.earnDay(i)
			w.clock.Set(w.closeTime(i).Add(24 * time.Hour)) // the day after the earnings is over
			period, _, _, _ := settle.PeriodOf(settle.PeriodDay, w.closeTime(i))
			hook, fired := crashAt(p.point)
			if _, err := w.payouts(p.hook(hook)).Run(w.ctx); p.point != "none" && (err == nil || fired.Load() != 1) {
				t.Fatalf("the crash at %s did not happen: %v (fired %d)", p.point, err, fired.Load())
			}
			for run := 0; run < 2; run++ {
				if _, err := w.payouts(hooks{}).Run(w.ctx); err != nil {
					t.Fatalf("run %d after the crash: %v", run, err)
				}
			}
			card, err := w.book.Payout(w.ctx, earnings.PayoutID(period, "pub_card", "USD"))
			if err != nil {
				t.Fatal(err)
			}
			// 3.00 earned, 10 % fee: 2.70 USD; the USDC it earned waits for a USDC method.
			if card.Status != earnings.PayoutPaid || card.Amount != 2_700_000 || card.Destination != "acct_card" || card.Attempt != 1 {
				t.Fatalf("card payout %+v", card)
			}
			trs := w.transfers(card.ID)
			if len(trs) != 1 || trs[0].Amount != 270 || trs[0].Destination != "acct_card" || trs[0].ID != card.Reference ||
				trs[0].IdempotencyKey != stripe.PayoutKey(card.ID, 1) {
				t.Fatalf("transfers of %s: %+v (reference %s)", card.ID, trs, card.Reference)
			}
			chain, err := w.book.Payout(w.ctx, earnings.PayoutID(period, "pub_chain", "USDC"))
			if err != nil {
				t.Fatal(err)
			}
			if chain.Status != earnings.PayoutPaid || chain.Amount != 1_250_000 || !strings.EqualFold(chain.Destination, w.wallet.Hex()) ||
				chain.RawTx == "" || chain.Reference == "" {
				t.Fatalf("chain payout %+v", chain)
			}
			// The wallet is paid its USD earnings too, in USDC, by a payout of their own.
			chainUSD, err := w.book.Payout(w.ctx, earnings.PayoutID(period, "pub_chain", "USD"))
			if err != nil || chainUSD.Status != earnings.PayoutPaid || chainUSD.Amount != 2_500_000 || chainUSD.Rail != "evm" ||
				chainUSD.Reference == chain.Reference {
				t.Fatalf("chain USD payout %+v %v", chainUSD, err)
			}
			paidToWallet += 1_250_000 + 2_500_000
			if got := w.balance(w.wallet); got != paidToWallet {
				t.Fatalf("the wallet holds %s, want %s: a payout was sent twice or not at all", got, paidToWallet)
			}
			small, err := w.book.Payout(w.ctx, earnings.PayoutID(period, "pub_small", "USD"))
			if err != nil || small.Status != earnings.PayoutCarried || small.Amount != 0 || !strings.Contains(small.Reason, "below the minimum") {
				t.Fatalf("small payout %+v %v", small, err)
			}
			for _, pc := range [][2]string{{"pub_card", "USD"}, {"pub_chain", "USDC"}, {"pub_chain", "USD"}} {
				if bal, err := w.book.Balance(w.ctx, pc[0], pc[1]); err != nil || bal != 0 {
					t.Fatalf("%s keeps %s %s after its payout (%v)", pc[0], bal, pc[1], err)
				}
			}
			if bal, _ := w.book.Balance(w.ctx, "pub_small", "USD"); bal != money.Micros(i+1)*100_000 {
				t.Fatalf("pub_small's carried balance is %s after %d days", bal, i+1)
			}
		})
	}
}

// TestPayoutHoldReleaseCancel: finance holds a payout (the run leaves it),
// releases it (the next run pays it), and a canceled payout gives its
// amount back to the balance.
func TestPayoutHoldReleaseCancel(t *testing.T) {
	w := newPayoutWorld(t)
	w.earnDay(0)
	w.clock.Set(w.closeTime(0).Add(24 * time.Hour))
	period, _, _, _ := settle.PeriodOf(settle.PeriodDay, w.closeTime(0))
	card := earnings.PayoutID(period, "pub_card", "USD")
	chain := earnings.PayoutID(period, "pub_chain", "USDC")
	p := w.payouts(hooks{settler: func(point string) error {
		if point == settle.FaultPayoutCreated {
			return fmt.Errorf("%w: stop after creating", settle.ErrInjected)
		}
		return nil
	}})
	if _, err := p.Run(w.ctx); err == nil {
		t.Fatal("the run did not stop")
	}
	if _, err := p.Act(w.ctx, card, settle.PayoutHold, "alice", ""); err == nil {
		t.Fatal("a hold without a reason was accepted")
	}
	if po, err := p.Act(w.ctx, card, settle.PayoutHold, "alice", "publisher disputes its statement"); err != nil || po.Status != earnings.PayoutHeld {
		t.Fatalf("hold: %+v %v", po, err)
	}
	if po, err := p.Act(w.ctx, chain, settle.PayoutCancel, "alice", "wrong wallet"); err != nil || po.Status != earnings.PayoutCanceled {
		t.Fatalf("cancel: %+v %v", po, err)
	}
	if bal, _ := w.book.Balance(w.ctx, "pub_chain", "USDC"); bal != 1_250_000 {
		t.Fatalf("canceled payout left the balance at %s", bal)
	}
	if _, err := w.payouts(hooks{}).Run(w.ctx); err != nil {
		t.Fatal(err)
	}
	if po, _ := w.book.Payout(w.ctx, card); po.Status != earnings.PayoutHeld || len(w.transfers(card)) != 0 {
		t.Fatalf("a held payout was sent: %+v", po)
	}
	if _, err := p.Act(w.ctx, card, settle.PayoutRelease, "bob", "statement checked"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Act(w.ctx, chain, settle.PayoutRelease, "bob", "too late"); err == nil {
		t.Fatal("a canceled payout was released")
	}
	if _, err := w.payouts(hooks{}).Run(w.ctx); err != nil {
		t.Fatal(err)
	}
	po, err := w.book.Payout(w.ctx, card)
	if err != nil || po.Status != earnings.PayoutPaid || len(w.transfers(card)) != 1 {
		t.Fatalf("released payout: %+v %v", po, err)
	}
	var kinds []string
	for _, h := range po.History {
		kinds = append(kinds, h.To+"/"+h.Actor)
	}
	if got := strings.Join(kinds, " "); !strings.Contains(got, "held/alice") || !strings.Contains(got, "pending/bob") || !strings.HasSuffix(got, "paid/settler") {
		t.Fatalf("history %s", got)
	}
}

// TestPayoutsRunEarly: an early run pays the period in progress with what
// was earned until then; the run after the period's end finds the
// period's payouts and adds none, so nothing is paid twice.
func TestPayoutsRunEarly(t *testing.T) {
	w := newPayoutWorld(t)
	w.earnDay(0)
	w.clock.Set(w.closeTime(0).Add(time.Minute))
	period, _, _, _ := settle.PeriodOf(settle.PeriodDay, w.clock.Now())
	rep, err := w.payouts(hooks{}).RunEarly(w.ctx)
	if err != nil || rep.Period != period || rep.Paid != 3 {
		t.Fatalf("early run: %+v %v", rep, err)
	}
	card := earnings.PayoutID(period, "pub_card", "USD")
	if po, err := w.book.Payout(w.ctx, card); err != nil || po.Status != earnings.PayoutPaid || po.Amount != 2_700_000 {
		t.Fatalf("card payout %+v %v", po, err)
	}
	w.clock.Set(w.closeTime(0).Add(24 * time.Hour))
	rep, err = w.payouts(hooks{}).Run(w.ctx)
	if err != nil || rep.Period != period || rep.Created != 0 || rep.Paid != 0 || len(w.transfers(card)) != 1 {
		t.Fatalf("the run after the period: %+v %v, %d transfers", rep, err, len(w.transfers(card)))
	}
}

// TestPayoutsNetChargebacks: a chargeback after a payout makes the
// publisher's balance negative; the next period pays nothing (its payout
// says why) and the balance carries over; later earnings net it first, and
// only what is left is paid.
func TestPayoutsNetChargebacks(t *testing.T) {
	w := newPayoutWorld(t)
	w.earnDay(0)
	w.clock.Set(w.closeTime(0).Add(24 * time.Hour))
	if _, err := w.payouts(hooks{}).Run(w.ctx); err != nil {
		t.Fatal(err)
	}
	// The whole of op_card's day-0 charge (5.60) is charged back: pub_card
	// gives back the 3.00 its lines earned less their 10 % fee.
	inv := ledger.InvoiceID("op_card", w.day(0), "USD")
	for range 2 {
		if _, err := w.book.Chargeback(w.ctx, inv, earnings.Chargeback{ID: "dp_all", Amount: 5_600_000, At: w.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if bal, _ := w.book.Balance(w.ctx, "pub_card", "USD"); bal != -2_700_000 {
		t.Fatalf("pub_card's balance after the chargeback is %s", bal)
	}
	w.clock.Set(w.closeTime(0).Add(48 * time.Hour))
	period, _, _, _ := settle.PeriodOf(settle.PeriodDay, w.closeTime(0).Add(24*time.Hour))
	if _, err := w.payouts(hooks{}).Run(w.ctx); err != nil {
		t.Fatal(err)
	}
	po, err := w.book.Payout(w.ctx, earnings.PayoutID(period, "pub_card", "USD"))
	if err != nil || po.Status != earnings.PayoutCarried || po.Amount != 0 || !strings.Contains(po.Reason, "negative") {
		t.Fatalf("the payout of a negative balance: %+v %v", po, err)
	}
	w.earnDay(3) // 2.70 earned: the balance is back to 0
	w.earnDay(4) // 2.70 more
	w.clock.Set(w.closeTime(4).Add(24 * time.Hour))
	if _, err := w.payouts(hooks{}).Run(w.ctx); err != nil {
		t.Fatal(err)
	}
	period, _, _, _ = settle.PeriodOf(settle.PeriodDay, w.closeTime(4))
	card := earnings.PayoutID(period, "pub_card", "USD")
	if po, err := w.book.Payout(w.ctx, card); err != nil || po.Status != earnings.PayoutPaid || po.Amount != 2_700_000 {
		t.Fatalf("the payout after the chargeback was netted: %+v %v", po, err)
	}
	var sent int64
	for _, tr := range w.proxy.Transfers() {
		if tr.Destination == "acct_card" {
			sent += tr.Amount
		}
	}
	if sent != 540 { // 3 × 2.70 earned - 2.70 charged back, in cents
		t.Fatalf("pub_card was sent %d cents, want 540", sent)
	}
}
