package settle_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"github.com/paycrawl/paycrawl/internal/testclock"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/internal/testlog"
	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/internal/teststripe"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
	"github.com/paycrawl/paycrawl/pkg/settle/evm"
	"github.com/paycrawl/paycrawl/pkg/settle/evm/devchain"
	"github.com/paycrawl/paycrawl/pkg/settle/stripe"
)

// rails says which payment back ends an env starts.
type rails struct{ stripe, evm bool }

// env is one test's world: a real redis-server with a ledger on a settable
// clock, and optionally stripe-mock behind the recording proxy and an
// embedded chain with TestUSDC deployed. Settlers built by env.settler share
// all of it, so building a new one is a restart.
type env struct {
	t     *testing.T
	ctx   context.Context
	rdb   redis.UniversalClient
	l     *ledger.Ledger
	clock *clock
	// base is the first usage day's midnight (UTC), in the future, so that
	// replay keys expire after the test.
	base   time.Time
	payers *payers
	cfg    settle.Config
	seq    atomic.Int64

	stripeURL string
	proxy     *teststripe.Proxy

	chain              *devchain.Chain
	token, treasury    common.Address
	minter, settlerKey *ecdsa.PrivateKey
	treasuryKey        *ecdsa.PrivateKey
	settlerAddr        common.Address

	// earn, when set, is the settlers' earnings book.
	earn settle.Earnings
	// arr, when set, are the settlers' agreements and settlement periods.
	arr settle.Arrangements
	// hosts, when set, are the settlers' host claims.
	hosts settle.HostClaims
}

func newEnv(t *testing.T, r rails) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	rdb := testredis.Start(t, testredis.Options{Fsync: "no"}).Client()
	base := time.Now().UTC().Add(48 * time.Hour).Truncate(24 * time.Hour)
	c := testclock.New(base.Add(12 * time.Hour))
	l, err := ledger.New(rdb, ledger.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := settle.DefaultConfig()
	cfg.ReviewWindow = 0
	cfg.Workers = 4
	cfg.Lookback = 3
	e := &env{t: t, ctx: ctx, rdb: rdb, l: l, clock: c, base: base, payers: &payers{m: map[string]settle.Payer{}}, cfg: cfg}
	if r.stripe {
		e.stripeURL, e.proxy = teststripe.StartProxy(t)
	}
	if r.evm {
		e.startChain()
	}
	return e
}

// startChain starts the embedded chain (a block every 25ms), deploys the
// token and makes the settler's and the treasury's addresses.
func (e *env) startChain() {
	t := e.t
	var minterAddr common.Address
	e.minter, minterAddr = newKey(t)
	e.settlerKey, e.settlerAddr = newKey(t)
	e.treasuryKey, e.treasury = newKey(t)
	ch, err := devchain.Start(devchain.Options{BlockInterval: 25 * time.Millisecond, Fund: []common.Address{minterAddr, e.settlerAddr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.Close() })
	e.chain = ch
	if e.token, err = devchain.DeployToken(e.ctx, ch.Client(), e.minter); err != nil {
		t.Fatal(err)
	}
}

func newKey(t *testing.T) (*ecdsa.PrivateKey, common.Address) {
	t.Helper()
	k, a, err := devchain.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k, a
}

// hooks are the fault hooks of one settler and its rails.
type hooks struct {
	settler, stripe, evm func(string) error
	// archiver, if set, is the settler's cold tier.
	archiver settle.Archiver
}

// settler builds a new Settler with new rails on the env's ledger, Stripe
// and chain: a restarted process.
func (e *env) settler(h hooks) *settle.Settler {
	e.t.Helper()
	return e.settlerWith(e.cfg, h)
}

func (e *env) settlerWith(cfg settle.Config, h hooks) *settle.Settler {
	e.t.Helper()
	return e.build(cfg, h, e.payers)
}

// settlerWithPayers builds a settler on other payers.
func (e *env) settlerWithPayers(p settle.Payers) *settle.Settler {
	e.t.Helper()
	return e.build(e.cfg, hooks{}, p)
}

func (e *env) build(cfg settle.Config, h hooks, p settle.Payers) *settle.Settler {
	e.t.Helper()
	var rs []settle.Rail
	if e.proxy != nil {
		r, err := stripe.New(stripe.Config{APIKey: teststripe.APIKey, BaseURL: e.stripeURL, Now: e.clock.Now,
			MaxNetworkRetries: -1, Faults: h.stripe, Logger: testlog.New()})
		if err != nil {
			e.t.Fatal(err)
		}
		rs = append(rs, r)
	}
	if e.chain != nil {
		r, err := evm.New(evm.Config{Client: e.chain.Client(), Token: e.token, Treasury: e.treasury, Key: e.settlerKey, Ledger: e.l,
			Confirmations: 2, PollInterval: 10 * time.Millisecond, ConfirmTimeout: 20 * time.Second, Faults: h.evm, Logger: testlog.New()})
		if err != nil {
			e.t.Fatal(err)
		}
		rs = append(rs, r)
	}
	s, err := settle.New(settle.Options{Ledger: e.l, Payers: p, Rails: rs, Config: cfg, Now: e.clock.Now,
		Faults: h.settler, Archiver: h.archiver, Logger: testlog.New(), Earnings: e.earn, Arrangements: e.arr,
		Hosts: e.hosts})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// hot is how many commitments of a crawler-day the ledger's Redis holds.
func (e *env) hot(account, day string) int {
	e.t.Helper()
	n := 0
	if err := e.l.Commitments(e.ctx, account, day, func(*ledger.Commitment) error { n++; return nil }); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// day returns the usage day i days after the base day.
func (e *env) day(i int) string { return ledger.Day(e.base.AddDate(0, 0, i)) }

// at sets the clock to the moment day i may be closed (its end + grace).
func (e *env) closeTime(i int) time.Time {
	return e.base.AddDate(0, 0, i+1).Add(e.cfg.Grace)
}

// use appends one commitment per price for account on day i, on publisher
// pub's site, in currency cur; the clock is set inside that day.
func (e *env) use(account string, i int, pub, site, cur string, prices ...money.Micros) {
	e.t.Helper()
	at := e.base.AddDate(0, 0, i).Add(12 * time.Hour)
	e.clock.Set(at)
	for _, p := range prices {
		n := e.seq.Add(1)
		c := &ledger.Commitment{
			RequestID: fmt.Sprintf("req-%d", n), Received: at, Account: account, KeyID: "key-1",
			Publisher: pub, Site: site, Method: "GET", Path: fmt.Sprintf("/p/%d", n),
			Price: p, Currency: cur, ReplayIDs: []string{fmt.Sprintf("nonce-%d", n)}, ReplayUntil: at.Add(time.Hour),
		}
		if _, err := e.l.Append(e.ctx, c, ledger.Limits{}); err != nil {
			e.t.Fatalf("Append: %v", err)
		}
	}
}

// stripePayer registers account on the stripe rail with a customer whose
// default payment method is pm.
func (e *env) stripePayer(account, pm string) {
	cus := "cus_" + account
	e.proxy.SetDefaultPaymentMethod(cus, pm)
	e.payers.set(settle.Payer{Account: account, Rail: stripe.Name, StripeCustomerID: cus, Currency: "USD"})
}

// evmPayer registers account on the evm rail with a new funded wallet that
// holds minted and approved the settler for approved.
func (e *env) evmPayer(account string, minted, approved money.Micros) (*ecdsa.PrivateKey, common.Address) {
	e.t.Helper()
	k, a := newKey(e.t)
	// The wallet needs gas for its approval: the minter gives it some.
	if err := devchain.Fund(e.ctx, e.chain.Client(), e.minter, a, devchain.Ether); err != nil {
		e.t.Fatal(err)
	}
	if minted > 0 {
		if err := devchain.Mint(e.ctx, e.chain.Client(), e.minter, e.token, a, minted); err != nil {
			e.t.Fatal(err)
		}
	}
	if approved > 0 {
		if err := devchain.Approve(e.ctx, e.chain.Client(), k, e.token, e.settlerAddr, approved); err != nil {
			e.t.Fatal(err)
		}
	}
	e.payers.set(settle.Payer{Account: account, Rail: evm.Name, Wallet: a.Hex(), Currency: "USDC"})
	return k, a
}

// balance returns a token balance.
func (e *env) balance(a common.Address) money.Micros {
	e.t.Helper()
	b, err := devchain.Balance(e.ctx, e.chain.Client(), e.token, a)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// settlerNonce is how many transactions the settler's key has mined.
func (e *env) settlerNonce() uint64 {
	e.t.Helper()
	n, err := e.chain.Client().NonceAt(e.ctx, e.settlerAddr, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// invoice reads an invoice with history and attempts.
func (e *env) invoice(id string) *ledger.Invoice {
	e.t.Helper()
	inv, err := e.l.Invoice(e.ctx, id)
	if err != nil {
		e.t.Fatalf("Invoice(%s): %v", id, err)
	}
	return inv
}

// invoices lists a day's invoices with history and attempts.
func (e *env) invoices(day string) []*ledger.Invoice {
	e.t.Helper()
	list, err := e.l.Invoices(e.ctx, day)
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]*ledger.Invoice, len(list))
	for i, inv := range list {
		out[i] = e.invoice(inv.ID)
	}
	return out
}

// intents returns the PaymentIntents the proxy saw for an invoice.
func (e *env) intents(id string) []teststripe.Intent {
	var out []teststripe.Intent
	for _, in := range e.proxy.Intents() {
		if in.Metadata[stripe.MetadataInvoice] == id {
			out = append(out, in)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IdempotencyKey < out[j].IdempotencyKey })
	return out
}

// assertStripeOnce proves that a paid stripe invoice was charged exactly
// once: one succeeded PaymentIntent for it, for the charged cents, under the
// key of its last attempt; every other intent (one per earlier attempt, each
// under its own key) did not succeed.
func (e *env) assertStripeOnce(inv *ledger.Invoice) {
	e.t.Helper()
	if inv.Status != ledger.StatusPaid {
		e.t.Fatalf("%s is %s (%s), want paid", inv.ID, inv.Status, inv.Error)
	}
	var succeeded []teststripe.Intent
	keys := map[string]bool{}
	for _, in := range e.intents(inv.ID) {
		if keys[in.IdempotencyKey] {
			e.t.Errorf("%s: two intents under key %s", inv.ID, in.IdempotencyKey)
		}
		keys[in.IdempotencyKey] = true
		if in.Status == "succeeded" {
			succeeded = append(succeeded, in)
		}
	}
	if len(succeeded) != 1 {
		e.t.Fatalf("%s: %d succeeded PaymentIntents, want exactly 1: %+v", inv.ID, len(succeeded), e.intents(inv.ID))
	}
	in := succeeded[0]
	last := attemptsOf(inv)
	if in.ID != inv.PaymentIntent || money.FromCents(in.Amount) != inv.Charged || in.IdempotencyKey != stripe.IdempotencyKey(inv.ID, last) {
		e.t.Errorf("%s: intent %+v, invoice pi %s charged %s after %d attempts", inv.ID, in, inv.PaymentIntent, inv.Charged, last)
	}
	if inv.Charged+inv.CarriedOut != inv.Total {
		e.t.Errorf("%s: charged %s + carried %s != total %s", inv.ID, inv.Charged, inv.CarriedOut, inv.Total)
	}
}

// attemptsOf counts an invoice's moves to charging.
func attemptsOf(inv *ledger.Invoice) int64 {
	var n int64
	for _, h := range inv.History {
		if h.Kind == "transition" && h.To == ledger.StatusCharging {
			n++
		}
	}
	return n
}

// crashAt returns a hook that fails (a crash) the first time point is
// reached, and how often it fired.
func crashAt(point string) (func(string) error, *atomic.Int32) {
	var fired atomic.Int32
	return func(p string) error {
		if p == point && fired.Add(1) == 1 {
			return fmt.Errorf("%w at %s", settle.ErrInjected, p)
		}
		return nil
	}, &fired
}

// payers is an in-memory settle.Payers (the registry adapter has its own
// test against the real registry).
type payers struct {
	mu sync.Mutex
	m  map[string]settle.Payer
}

func (p *payers) set(py settle.Payer) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[py.Account] = py
}

func (p *payers) Payer(_ context.Context, account string) (settle.Payer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	py, ok := p.m[account]
	if !ok {
		return settle.Payer{}, fmt.Errorf("%w: %s", settle.ErrNoPayer, account)
	}
	return py, nil
}

// clock is the tests' settable clock.
type clock = testclock.Clock

// mustRun runs RunOnce and fails the test on error.
func mustRun(t *testing.T, s *settle.Settler, ctx context.Context) *settle.RunReport {
	t.Helper()
	rep, err := s.RunOnce(ctx)
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	return rep
}

// wantErr fails the test unless errors.Is(err, target).
func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}
