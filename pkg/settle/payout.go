package settle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"time"

	"github.com/paycrawl/paycrawl/pkg/earnings"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

// PayoutRail sends publishers' payouts: Stripe Connect transfers, ERC-20
// transfers from the treasury. Rails guard it with var _ settle.PayoutRail.
type PayoutRail interface {
	// Name is the rail's name, as in a payout method: "stripe", "evm".
	Name() string
	// Payout sends req.Payout.Amount to req.Payout.Destination for the
	// payout's current attempt. It returns an outcome when the result is
	// known (paid; failed: nothing moved) or the transfer is still in
	// flight (sending, with a Reference to look at again). An error means
	// the outcome is unknown: the payout stays sending and Payout is called
	// again for the same attempt, and must then find, not repeat, what the
	// first call did (an idempotency key derived from the payout and the
	// attempt; a transaction written ahead).
	Payout(ctx context.Context, req *PayoutRequest) (PayoutOutcome, error)
}

// PayoutRequest is one call of PayoutRail.Payout.
type PayoutRequest struct {
	// Payout is the sending payout; Attempt is its current attempt.
	Payout *earnings.Payout
	// Record writes on the attempt its write-ahead record (a signed
	// transaction and its nonce, before broadcast) or its reference.
	Record func(ctx context.Context, rawTx string, nonce int64, reference string) error
}

// PayoutOutcome is what a rail knows of a payout.
type PayoutOutcome struct {
	// Status is paid, failed or sending (still in flight).
	Status earnings.PayoutStatus
	// Reference is the rail's id: a transfer id, a transaction hash.
	Reference string
	// Error says why a failed payout failed; Reason is a sentence for
	// the history.
	Error, Reason string
}

// Fault points of payouts (see Fault): the rails' own points apply too.
const (
	// FaultPayoutCreated: the payouts of the period exist, none is sent.
	FaultPayoutCreated = "payout/created"
	// FaultPayoutSending: the payout moved to sending, no rail called.
	FaultPayoutSending = "payout/sending"
	// FaultPayoutBeforeOutcome: the rail answered, the outcome is not
	// recorded.
	FaultPayoutBeforeOutcome = "payout/before-outcome"
)

// Periods of payouts.
const (
	PeriodDay   = "day"
	PeriodWeek  = "week"
	PeriodMonth = "month"
)

// PeriodOf returns the payout period of kind (day, week, month) that holds
// t, in UTC: its name ("2026-11-30", ISO week "2026-W48", "2026-11") and
// its bounds [start, end).
func PeriodOf(kind string, t time.Time) (name string, start, end time.Time, err error) {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch kind {
	case PeriodDay:
		return day.Format(time.DateOnly), day, day.AddDate(0, 0, 1), nil
	case PeriodWeek, "":
		start = day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7)) // Monday
		y, w := start.ISOWeek()
		return fmt.Sprintf("%04d-W%02d", y, w), start, start.AddDate(0, 0, 7), nil
	case PeriodMonth:
		start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start.Format("2006-01"), start, start.AddDate(0, 1, 0), nil
	}
	return "", time.Time{}, time.Time{}, fmt.Errorf("settle: payout period %q is not day, week or month", kind)
}

// PayoutsOptions configure Payouts. Ledger, Book and Publishers are
// required.
type PayoutsOptions struct {
	// Ledger gives the lock (payouts take LockPayouts).
	Ledger interface {
		AcquireLock(ctx context.Context, name string, ttl time.Duration) (int64, func(), error)
	}
	Book       *earnings.Book
	Publishers Publishers
	Rails      []PayoutRail
	// EVM is the chain and settler address wallet proofs must name; an
	// evm payout method whose proof does not verify for it is not paid.
	EVM registry.WalletDomain
	// Period is day, week (default) or month.
	Period string
	// MaxAttempts bounds automatic retries of a failed payout; default 5.
	// Finance releases a payout to try again past it.
	MaxAttempts int64
	// LockTTL is the lock's time to live; default 10 minutes.
	LockTTL time.Duration
	Now     func() time.Time
	Logger  *slog.Logger
	// Faults is a test hook (see Fault); nil in production.
	Faults func(point string) error
}

// LockPayouts is the name of the ledger lock payout runs and finance
// actions on payouts hold.
const LockPayouts = "payouts"

// Payouts pays publishers their balances, once per period and currency.
type Payouts struct {
	o     PayoutsOptions
	rails map[string]PayoutRail
}

// NewPayouts returns Payouts.
func NewPayouts(o PayoutsOptions) (*Payouts, error) {
	var errs []error
	if o.Ledger == nil || o.Book == nil || o.Publishers == nil {
		errs = append(errs, errors.New("settle: payouts need a ledger, an earnings book and the publishers"))
	}
	if _, _, _, err := PeriodOf(o.Period, time.Now()); err != nil {
		errs = append(errs, err)
	}
	p := &Payouts{o: o, rails: map[string]PayoutRail{}}
	for _, r := range o.Rails {
		if r == nil {
			errs = append(errs, errors.New("settle: nil payout rail"))
			continue
		}
		p.rails[r.Name()] = r
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if p.o.MaxAttempts <= 0 {
		p.o.MaxAttempts = 5
	}
	if p.o.LockTTL <= 0 {
		p.o.LockTTL = 10 * time.Minute
	}
	if p.o.Now == nil {
		p.o.Now = time.Now
	}
	if p.o.Logger == nil {
		p.o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return p, nil
}

// PayoutReport says what a run did.
type PayoutReport struct {
	// Period is the period paid: the last one that ended before the run.
	Period string
	// Created, Paid, Failed and Carried count payouts; Waiting lists the
	// publishers with earnings that could not be paid (no account, no
	// payout method, an unproven wallet, no rail), with why.
	Created, Paid, Failed, Carried int
	Waiting                        map[string]string
}

// Run pays the last closed period under the payouts lock: for each
// publisher with earnings and a payout method, the payout of (period,
// publisher, currency) is created once for each currency its rail pays
// (PayoutCurrencies) with the balance earned before the period's end (in
// whole cents on Stripe; below the minimum it is carried, and a balance at
// or below 0, after a chargeback, is never paid), then every payout not
// final is driven: pending and failed ones (up to MaxAttempts) are sent as
// a new attempt, sending ones resumed. Errors of one payout do not stop the
// others; they are returned joined.
func (p *Payouts) Run(ctx context.Context) (*PayoutReport, error) {
	now := p.o.Now()
	_, start, _, err := PeriodOf(p.o.Period, now)
	if err != nil {
		return nil, err
	}
	period, _, end, _ := PeriodOf(p.o.Period, start.Add(-time.Nanosecond))
	return p.run(ctx, period, end, now)
}

// RunEarly pays the period in progress before it ends (demos, tests, a
// publisher that leaves), as Run pays a closed one: its payouts take the
// balance earned until now. What is earned later in the period waits for
// the next period's payout (the period's payout exists, so the run after
// the period's end adds nothing to it); nothing is lost or paid twice.
func (p *Payouts) RunEarly(ctx context.Context) (*PayoutReport, error) {
	now := p.o.Now()
	period, _, _, err := PeriodOf(p.o.Period, now)
	if err != nil {
		return nil, err
	}
	return p.run(ctx, period, now, now)
}

// run creates the payouts of period with what was earned before end, then
// drives every payout not final.
func (p *Payouts) run(ctx context.Context, period string, end, now time.Time) (*PayoutReport, error) {
	rep := &PayoutReport{Period: period, Waiting: map[string]string{}}
	err := p.locked(ctx, func(ctx context.Context) error {
		pubs, err := p.o.Book.Publishers(ctx)
		if err != nil {
			return err
		}
		var errs []error
		for _, pub := range pubs {
			if err := p.create(ctx, rep, pub, period, end, now); err != nil {
				errs = append(errs, err)
			}
		}
		if err := Fault(p.o.Faults, FaultPayoutCreated); err != nil {
			return err
		}
		for _, pub := range pubs {
			pos, err := p.o.Book.Payouts(ctx, pub)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, po := range pos {
				if err := p.drive(ctx, rep, po); err != nil {
					errs = append(errs, err)
					if injected(err) {
						return errors.Join(errs...)
					}
				}
			}
		}
		return errors.Join(errs...)
	})
	return rep, err
}

// PayoutCurrencies lists the balances a publisher's payout method pays, its
// own currency first: Stripe Connect pays USD balances; the evm rail pays
// USDC balances and USD ones too, in USDC one for one, as it charges USD
// invoices in USDC (most sites are priced in USD, so a publisher paid on
// chain earns mostly USD). Each currency has its own payout per period.
func PayoutCurrencies(m *registry.Payout) []string {
	if m == nil {
		return nil
	}
	if m.Rail == registry.RailEVM && m.Currency == registry.CurrencyUSDC {
		return []string{registry.CurrencyUSDC, registry.CurrencyUSD}
	}
	return []string{m.Currency}
}

func (p *Payouts) locked(ctx context.Context, fn func(ctx context.Context) error) error {
	_, release, err := p.o.Ledger.AcquireLock(ctx, LockPayouts, p.o.LockTTL)
	if err != nil {
		return err
	}
	defer release()
	return fn(ctx)
}

// method returns the rail and destination of a publisher's payout method,
// or why it cannot be paid.
func (p *Payouts) method(acct *registry.Publisher) (rail, dest, why string) {
	m := acct.Payout
	if m == nil {
		return "", "", "no payout method"
	}
	if _, ok := p.rails[string(m.Rail)]; !ok {
		return "", "", fmt.Sprintf("the %s payout rail is not configured", m.Rail)
	}
	switch m.Rail {
	case registry.RailStripe:
		return string(m.Rail), m.StripeAccount, ""
	case registry.RailEVM:
		if m.WalletProof == nil {
			return "", "", "the payout wallet has no proof"
		}
		if err := m.WalletProof.Verify(registry.WalletExpect{Purpose: registry.WalletReceives, Account: acct.ID, Wallet: m.Wallet, Domain: p.o.EVM}); err != nil {
			return "", "", fmt.Sprintf("the payout wallet's proof does not verify here: %v", err)
		}
		return string(m.Rail), m.Wallet, ""
	}
	return "", "", fmt.Sprintf("payout rail %q is unknown", m.Rail)
}

// create makes the period's payout of pub, if it has none.
func (p *Payouts) create(ctx context.Context, rep *PayoutReport, pub, period string, end, now time.Time) error {
	acct, err := p.o.Publishers.Publisher(ctx, pub)
	if errors.Is(err, registry.ErrNotFound) {
		rep.Waiting[pub] = "no publisher account in the registry"
		return nil
	}
	if err != nil {
		return err
	}
	rail, dest, why := p.method(acct)
	if why != "" {
		rep.Waiting[pub] = why
		return nil
	}
	var errs []error
	for _, cur := range PayoutCurrencies(acct.Payout) {
		errs = append(errs, p.createIn(ctx, rep, payoutTarget{acct: acct, rail: rail, dest: dest, period: period, end: end, now: now}, cur))
	}
	return errors.Join(errs...)
}

// payoutTarget is whom a period's payouts pay, how, and with what was
// earned before end.
type payoutTarget struct {
	acct               *registry.Publisher
	rail, dest, period string
	end, now           time.Time
}

// createIn makes the period's payout of t.acct in cur, if it has none.
func (p *Payouts) createIn(ctx context.Context, rep *PayoutReport, t payoutTarget, cur string) error {
	acct, rail, dest, period := t.acct, t.rail, t.dest, t.period
	pub := acct.ID
	if _, err := p.o.Book.Payout(ctx, earnings.PayoutID(period, pub, cur)); err == nil {
		return nil
	} else if !errors.Is(err, earnings.ErrNotFound) {
		return err
	}
	amount, bal, err := p.available(ctx, pub, cur, t.end)
	if err != nil {
		return err
	}
	if amount == 0 && bal == 0 {
		return nil // nothing earned, nothing owed: no payout record
	}
	reason := fmt.Sprintf("balance earned before %s: %s %s", t.end.Format(time.RFC3339), amount, cur)
	if rail == string(registry.RailStripe) {
		cents, rest := amount.Cents()
		if rest != 0 {
			reason += fmt.Sprintf("; the sub-cent %s stays in the balance (Stripe transfers whole cents)", rest)
		}
		amount = money.FromCents(cents)
	}
	switch {
	case bal < 0:
		reason = fmt.Sprintf("balance %s %s is negative (refunds or chargebacks took back more than was earned since): "+
			"nothing is paid; later earnings net it first", bal, cur)
	case amount < acct.MinimumPayout || amount <= 0:
		reason = fmt.Sprintf("balance %s %s is below the minimum payout %s: carried over to the next period", amount, cur, acct.MinimumPayout)
	}
	po, created, err := p.o.Book.CreatePayout(ctx, earnings.PayoutSpec{Period: period, Publisher: pub, Currency: cur, Amount: amount,
		Minimum: acct.MinimumPayout, Rail: rail, Destination: dest, Reason: reason}, t.now)
	if err != nil {
		return err
	}
	if created {
		rep.Created++
		if po.Status == earnings.PayoutCarried {
			rep.Carried++
		}
		p.o.Logger.Info("settle: payout created", "payout", po.ID, "status", po.Status, "amount", po.Amount.String(), "rail", rail)
	}
	return nil
}

// available is pub's balance in cur earned before end: the balance less
// what was earned since (never more than the balance, never below 0, so a
// negative balance pays nothing and carries over), and the balance.
func (p *Payouts) available(ctx context.Context, pub, cur string, end time.Time) (amount, bal money.Micros, err error) {
	bal, err = p.o.Book.Balance(ctx, pub, cur)
	if err != nil {
		return 0, 0, err
	}
	since, err := p.o.Book.Entries(ctx, pub, end, end.AddDate(100, 0, 0))
	if err != nil {
		return 0, 0, err
	}
	amount = bal
	for _, e := range since {
		if e.Currency == cur {
			amount -= e.Net
		}
	}
	return max(0, min(amount, bal)), bal, nil
}

// drive sends or resumes one payout.
func (p *Payouts) drive(ctx context.Context, rep *PayoutReport, po *earnings.Payout) error {
	switch po.Status {
	case earnings.PayoutPending:
	case earnings.PayoutFailed:
		if po.Attempt >= p.o.MaxAttempts {
			return nil
		}
	case earnings.PayoutSending:
	default:
		return nil
	}
	rail, ok := p.rails[po.Rail]
	if !ok {
		return fmt.Errorf("settle: payout %s is on rail %q, which is not configured here", po.ID, po.Rail)
	}
	now := p.o.Now()
	if po.Status != earnings.PayoutSending {
		if _, err := p.o.Book.MovePayout(ctx, po.ID, earnings.PayoutMove{To: earnings.PayoutSending,
			From: []earnings.PayoutStatus{po.Status}, Attempt: po.Attempt, NewAttempt: true, Actor: "settler",
			Reason: "sending " + po.Amount.String() + " " + po.Currency + " to " + po.Destination}, now); err != nil {
			return err
		}
		if err := Fault(p.o.Faults, FaultPayoutSending); err != nil {
			return err
		}
	}
	po, err := p.o.Book.Payout(ctx, po.ID)
	if err != nil {
		return err
	}
	attempt := po.Attempt
	out, err := rail.Payout(ctx, &PayoutRequest{Payout: po, Record: func(ctx context.Context, rawTx string, nonce int64, ref string) error {
		return p.o.Book.NotePayout(ctx, po.ID, attempt, rawTx, nonce, ref, p.o.Now())
	}})
	if err != nil {
		return fmt.Errorf("settle: payout %s (attempt %d) outcome unknown; the next run resumes it: %w", po.ID, attempt, err)
	}
	if err := Fault(p.o.Faults, FaultPayoutBeforeOutcome); err != nil {
		return err
	}
	switch out.Status {
	case earnings.PayoutPaid:
		_, err = p.o.Book.MovePayout(ctx, po.ID, earnings.PayoutMove{To: earnings.PayoutPaid, From: []earnings.PayoutStatus{earnings.PayoutSending},
			Attempt: attempt, Actor: "settler", Reason: out.Reason, Reference: out.Reference}, p.o.Now())
		if err == nil {
			rep.Paid++
			p.o.Logger.Info("settle: payout paid", "payout", po.ID, "amount", po.Amount.String(), "reference", out.Reference)
		}
	case earnings.PayoutFailed:
		_, err = p.o.Book.MovePayout(ctx, po.ID, earnings.PayoutMove{To: earnings.PayoutFailed, From: []earnings.PayoutStatus{earnings.PayoutSending},
			Attempt: attempt, Actor: "settler", Reason: out.Reason, Error: out.Error, Reference: out.Reference}, p.o.Now())
		if err == nil {
			rep.Failed++
			p.o.Logger.Warn("settle: payout failed", "payout", po.ID, "error", out.Error)
		}
	default:
		if out.Reference != "" && out.Reference != po.Reference {
			err = p.o.Book.NotePayout(ctx, po.ID, attempt, "", 0, out.Reference, p.o.Now())
		}
	}
	return err
}

// PayoutAction is a finance action on a payout.
type PayoutAction string

// The finance actions.
const (
	// PayoutHold stops a pending or failed payout.
	PayoutHold PayoutAction = "hold"
	// PayoutRelease lets a held payout (or a failed one past its
	// attempts) be sent by the next run.
	PayoutRelease PayoutAction = "release"
	// PayoutCancel cancels a pending, held or failed payout and gives its
	// amount back to the balance.
	PayoutCancel PayoutAction = "cancel"
)

// Act applies a finance action to payout id, under the payouts lock, with
// the actor and reason in its history. A status that does not allow it
// wraps earnings.ErrStatus.
func (p *Payouts) Act(ctx context.Context, id string, a PayoutAction, actor, reason string) (*earnings.Payout, error) {
	if actor == "" || reason == "" {
		return nil, fmt.Errorf("%w: a payout %s needs an actor and a reason", earnings.ErrInvalid, a)
	}
	to, from, ok := ActionTarget(a)
	if !ok {
		return nil, fmt.Errorf("%w: payout action %q is not hold, release or cancel", earnings.ErrInvalid, a)
	}
	m := earnings.PayoutMove{To: to, From: from}
	m.Actor, m.Reason = actor, reason
	var out *earnings.Payout
	err := p.locked(ctx, func(ctx context.Context) error {
		if _, err := p.o.Book.MovePayout(ctx, id, m, p.o.Now()); err != nil {
			return err
		}
		var err error
		out, err = p.o.Book.Payout(ctx, id)
		return err
	})
	return out, err
}

// Payout reads payout id with its history; an unknown id wraps
// earnings.ErrNotFound, a malformed one earnings.ErrInvalid.
func (p *Payouts) Payout(ctx context.Context, id string) (*earnings.Payout, error) {
	return p.o.Book.Payout(ctx, id)
}

// ActionTarget returns the status finance action a leads to and the
// statuses it may come from; ok is false for an unknown action.
func ActionTarget(a PayoutAction) (to earnings.PayoutStatus, from []earnings.PayoutStatus, ok bool) {
	switch a {
	case PayoutHold:
		return earnings.PayoutHeld, []earnings.PayoutStatus{earnings.PayoutPending, earnings.PayoutFailed}, true
	case PayoutRelease:
		return earnings.PayoutPending, []earnings.PayoutStatus{earnings.PayoutHeld, earnings.PayoutFailed}, true
	case PayoutCancel:
		return earnings.PayoutCanceled, []earnings.PayoutStatus{earnings.PayoutPending, earnings.PayoutHeld, earnings.PayoutFailed}, true
	}
	return "", nil, false
}

// List returns every payout of every publisher with earnings, newest
// first.
func (p *Payouts) List(ctx context.Context) ([]*earnings.Payout, error) {
	pubs, err := p.o.Book.Publishers(ctx)
	if err != nil {
		return nil, err
	}
	var out []*earnings.Payout
	for _, pub := range pubs {
		pos, err := p.o.Book.Payouts(ctx, pub)
		if err != nil {
			return nil, err
		}
		out = append(out, pos...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}
