package settle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// ChargeResult is what Charge did with one invoice.
type ChargeResult struct {
	Invoice           string
	Account, Currency string
	Rail              string
	// Attempt is the charge attempt number.
	Attempt int64
	// Action is "charge" (a first attempt), "retry" (an attempt after a
	// failure), "resume" (an attempt a crash interrupted, with the same
	// number) or "reconcile" (a pending charge asked about).
	Action string
	// Status is the invoice's status afterwards: paid, pending, failed,
	// carried, or charging when the outcome is unknown (Error says why; the
	// next run resumes it).
	Status ledger.Status
	// Reference is the PaymentIntent id or the transaction hash.
	Reference           string
	Block               int64
	Total               money.Micros
	Charged, CarriedOut money.Micros
	Error               string
	// Stuck reports an invoice that needs a person (ErrStuck).
	Stuck bool
}

// ChargeReport says what Charge did with a day's invoices.
type ChargeReport struct {
	Day string
	// Results lists every invoice acted on, sorted by invoice id.
	Results []ChargeResult
	// Waiting counts failed invoices waiting for their next retry;
	// Exhausted failed invoices without attempts left (they stay failed,
	// for finance).
	Waiting, Exhausted int
}

// Count returns how many results ended in status st.
func (r *ChargeReport) Count(st ledger.Status) int {
	n := 0
	for _, res := range r.Results {
		if res.Status == st {
			n++
		}
	}
	return n
}

// Totals sums, by currency, what was charged and what was carried over.
func (r *ChargeReport) Totals() (charged, carried Totals) {
	charged, carried = Totals{}, Totals{}
	for _, res := range r.Results {
		charged.add(res.Currency, res.Charged)
		carried.add(res.Currency, res.CarriedOut)
	}
	return charged, carried
}

// Charge charges the invoices of day that are due, in this order:
//
//  1. invoices a crash left charging are resumed with the same attempt
//     number, so the rail finds what the interrupted call did (the same
//     Stripe idempotency key, the same signed transaction) instead of
//     charging again;
//  2. pending invoices are reconciled through the rail's Status;
//  3. approved invoices get their first attempt on their payer's rail;
//  4. failed invoices whose wait (Config.RetrySchedule) has passed get
//     another attempt, until Config.MaxAttempts; then they stay failed;
//  5. paid prepaid top-ups are credited to their balance (once: the
//     ledger's credit is idempotent by the top-up's id).
//
// Each attempt moves the invoice to charging (recording an attempt
// "started" with the payer's customer or wallet), calls the rail and records
// the outcome with its settlement fields and attempt. An unknown outcome
// (the rail's error) leaves the invoice charging; Charge returns such errors
// joined, with the report. Then the day's final invoices' earnings are
// recorded (Options.Earnings), as RunOnce does.
func (s *Settler) Charge(ctx context.Context, day string) (*ChargeReport, error) {
	var rep *ChargeReport
	err := s.locked(ctx, func(ctx context.Context, ss *session) error {
		var err error
		rep, err = s.charge(ctx, ss, day)
		if s.earn != nil && !fatal(err) {
			if _, eerr := s.earn.RecordDay(ctx, day); eerr != nil {
				err = errors.Join(err, fmt.Errorf("settle: earnings of %s: %w", day, eerr))
			}
		}
		return err
	})
	return rep, err
}

func (s *Settler) charge(ctx context.Context, ss *session, day string) (*ChargeReport, error) {
	if _, err := dayStart(day); err != nil {
		return nil, err
	}
	invs, err := s.l.Invoices(ctx, day)
	if err != nil {
		return nil, err
	}
	phases := map[ledger.Status][]string{}
	for _, inv := range invs {
		phases[inv.Status] = append(phases[inv.Status], inv.ID)
	}
	rep := &ChargeReport{Day: day}
	var (
		mu   sync.Mutex
		errs []error
	)
	for _, st := range []ledger.Status{ledger.StatusCharging, ledger.StatusPending, ledger.StatusApproved, ledger.StatusFailed} {
		perrs := each(ctx, s.cfg.Workers, phases[st], func(ctx context.Context, id string) error {
			if err := ss.alive(); err != nil {
				return err
			}
			res, skip, err := s.chargeOne(ctx, ss, id)
			mu.Lock()
			defer mu.Unlock()
			switch skip {
			case skipWaiting:
				rep.Waiting++
			case skipExhausted:
				rep.Exhausted++
			}
			if res != nil {
				rep.Results = append(rep.Results, *res)
			}
			return err
		})
		errs = append(errs, perrs...)
		for _, err := range perrs {
			if fatal(err) {
				sortResults(rep)
				return rep, err
			}
		}
	}
	for _, inv := range invs {
		if isTopUp(inv.ID) {
			if err := s.creditTopUp(ctx, inv.ID); err != nil {
				errs = append(errs, err)
			}
		}
	}
	sortResults(rep)
	if len(rep.Results) > 0 || len(errs) > 0 {
		charged, carried := rep.Totals()
		s.log.Info("settle: day charged", "day", day, "paid", rep.Count(ledger.StatusPaid),
			"pending", rep.Count(ledger.StatusPending), "failed", rep.Count(ledger.StatusFailed),
			"carried", rep.Count(ledger.StatusCarried), "unknown", rep.Count(ledger.StatusCharging),
			"charged", fmt.Sprint(charged), "carried_out", fmt.Sprint(carried), "errors", len(errs))
	}
	return rep, errors.Join(errs...)
}

func sortResults(rep *ChargeReport) {
	sort.Slice(rep.Results, func(i, j int) bool { return rep.Results[i].Invoice < rep.Results[j].Invoice })
}

// skip says why chargeOne left a failed invoice alone.
type skip int

const (
	skipNone skip = iota
	skipWaiting
	skipExhausted
)

// chargeOne acts on one invoice according to its current status.
func (s *Settler) chargeOne(ctx context.Context, ss *session, id string) (*ChargeResult, skip, error) {
	inv, err := s.l.Invoice(ctx, id)
	if err != nil {
		return nil, skipNone, err
	}
	switch inv.Status {
	case ledger.StatusCharging:
		res, err := s.resume(ctx, ss, inv)
		return res, skipNone, err
	case ledger.StatusPending:
		res, err := s.reconcile(ctx, ss, inv)
		return res, skipNone, err
	case ledger.StatusApproved:
		res, err := s.attempt(ctx, ss, inv, "charge")
		return res, skipNone, err
	case ledger.StatusFailed:
		n := attempts(inv)
		if n >= int64(s.cfg.MaxAttempts) {
			return nil, skipExhausted, nil
		}
		if failedAt := lastMove(inv, ledger.StatusFailed); s.now().Before(failedAt.Add(s.cfg.retryWait(n))) {
			return nil, skipWaiting, nil
		}
		res, err := s.attempt(ctx, ss, inv, "retry")
		return res, skipNone, err
	}
	return nil, skipNone, nil // moved on meanwhile
}

// attempt starts a new charge attempt of an approved or failed invoice.
func (s *Settler) attempt(ctx context.Context, ss *session, inv *ledger.Invoice, action string) (*ChargeResult, error) {
	n := attempts(inv) + 1
	res := s.result(inv, n, action, "")
	if inv.Total == 0 {
		return s.settleZero(ctx, ss, inv, res)
	}
	payer, perr := s.payers.Payer(ctx, inv.Account)
	if perr != nil && !errors.Is(perr, ErrNoPayer) && !errors.Is(perr, ErrWalletUnproven) {
		res.Status, res.Error = inv.Status, perr.Error()
		return res, fmt.Errorf("settle: %s: payer of %s: %w", inv.ID, inv.Account, perr)
	}
	railName := payer.Rail
	res.Rail = railName
	tr := ledger.Transition{To: ledger.StatusCharging, Token: ss.token, Actor: s.cfg.Actor,
		Reason: fmt.Sprintf("attempt %d on rail %s", n, orNone(railName)),
		Set:    ledger.Settlement{Rail: railName},
		Attempt: &ledger.Attempt{Number: n, Rail: railName, Reference: payerRef(payer), Amount: inv.Total,
			Outcome: "started"}}
	if stop, out, err := s.toCharging(ctx, ss, inv, res, tr); stop {
		return out, err
	}
	var o Outcome
	rail, ok := s.rails[railName]
	switch {
	case errors.Is(perr, ErrWalletUnproven):
		o = failure(perr.Error(), "wallet_unproven")
	case perr != nil:
		o = failure(perr.Error(), "no_payer")
	case !ok:
		o = failure(fmt.Sprintf("%v: %q", ErrNoRail, railName), "no_rail")
	default:
		// The rail gets the invoice as it is now: charging, with this
		// attempt in its history.
		charging, err := s.l.Invoice(ctx, inv.ID)
		if err != nil {
			return s.unknown(res, err)
		}
		inv = charging
		o, err = rail.Charge(ctx, s.request(ss, inv, n, lastMove(inv, ledger.StatusCharging), railName, payer))
		if err != nil {
			return s.unknown(res, err)
		}
	}
	return s.finish(ctx, ss, inv, res, o)
}

// settleZero settles an invoice whose total is 0 without calling a rail
// (Stripe refuses a 0 PaymentIntent, a 0 transfer would only cost gas):
// usage inside a subscription's quota or drawn from a prepaid balance, a
// fee on another invoice, or lines finance credited in full. It moves to
// charging (an attempt with no rail) and then to paid with nothing
// charged, its history saying why; it needs no billing profile.
func (s *Settler) settleZero(ctx context.Context, ss *session, inv *ledger.Invoice, res *ChargeResult) (*ChargeResult, error) {
	tr := ledger.Transition{To: ledger.StatusCharging, Token: ss.token, Actor: s.cfg.Actor,
		Reason:  fmt.Sprintf("attempt %d: the total is 0, no rail is called", res.Attempt),
		Attempt: &ledger.Attempt{Number: res.Attempt, Outcome: "started"}}
	if stop, out, err := s.toCharging(ctx, ss, inv, res, tr); stop {
		return out, err
	}
	return s.finish(ctx, ss, inv, res, zeroOutcome(inv))
}

// toCharging moves inv to charging by tr; stop says the attempt ends here
// with (out, err): finance or another settler acted meanwhile (nil, nil),
// the ledger failed, or an injected fault.
func (s *Settler) toCharging(ctx context.Context, ss *session, inv *ledger.Invoice, res *ChargeResult, tr ledger.Transition) (stop bool, out *ChargeResult, err error) {
	if err := s.l.Transition(ctx, inv.ID, tr); err != nil {
		var te *ledger.TransitionError
		if errors.As(err, &te) {
			return true, nil, nil
		}
		res.Status, res.Error = inv.Status, err.Error()
		return true, res, err
	}
	if err := Fault(s.faults, FaultAfterCharging); err != nil {
		return true, res, err
	}
	return false, nil, nil
}

// ZeroDetail is the attempt outcome of an invoice settled with a total of
// 0 (settleZero): paid, nothing charged, no rail called.
const ZeroDetail = "nothing_to_charge"

// zeroOutcome is the paid outcome of a 0 invoice, its reason naming what
// the lines were.
func zeroOutcome(inv *ledger.Invoice) Outcome {
	kinds := map[string]int64{}
	var order []string
	for _, l := range inv.Lines {
		k := l.Kind
		if k == "" {
			k = ledger.LineList
		}
		if l.Credit > 0 {
			k = "credited"
		}
		if _, ok := kinds[k]; !ok {
			order = append(order, k)
		}
		kinds[k] += l.Count
	}
	sort.Strings(order)
	what := ""
	for i, k := range order {
		if i > 0 {
			what += ", "
		}
		what += fmt.Sprintf("%s %d", k, kinds[k])
	}
	return Outcome{Status: ledger.StatusPaid, Detail: ZeroDetail,
		Reason: clip(fmt.Sprintf("settled with nothing to charge: the total is 0 %s (lines: %s); no rail was called", inv.Currency, what))}
}

// resume calls the rail again for an invoice a crash (or an unknown
// outcome) left charging: same attempt number, same payer.
func (s *Settler) resume(ctx context.Context, ss *session, inv *ledger.Invoice) (*ChargeResult, error) {
	n := attempts(inv)
	res := s.result(inv, n, "resume", inv.Rail)
	if inv.Total == 0 { // settleZero was interrupted: no rail was called
		return s.finish(ctx, ss, inv, res, zeroOutcome(inv))
	}
	payer, noted, err := s.startedPayer(ctx, inv, n)
	if err != nil {
		return s.unknown(res, err)
	}
	if noted {
		res.Rail = payer.Rail
	}
	if res.Rail == "" { // the attempt started without a billing profile: no rail was called
		return s.finish(ctx, ss, inv, res, failure(fmt.Sprintf("%v: attempt %d started without one", ErrNoPayer, n), "no_payer"))
	}
	rail, ok := s.rails[res.Rail]
	if !ok {
		return s.unknown(res, fmt.Errorf("%w: %q (invoice %s is charging on it)", ErrNoRail, res.Rail, inv.ID))
	}
	o, err := rail.Charge(ctx, s.request(ss, inv, n, lastMove(inv, ledger.StatusCharging), res.Rail, payer))
	if err != nil {
		return s.unknown(res, err)
	}
	return s.finish(ctx, ss, inv, res, o)
}

// reconcile asks the rail about a pending charge.
func (s *Settler) reconcile(ctx context.Context, ss *session, inv *ledger.Invoice) (*ChargeResult, error) {
	n := attempts(inv)
	res := s.result(inv, n, "reconcile", inv.Rail)
	res.Status = ledger.StatusPending
	rail, ok := s.rails[inv.Rail]
	if !ok {
		res.Error = fmt.Sprintf("%v: %q", ErrNoRail, inv.Rail)
		return res, fmt.Errorf("settle: %s: %w: %q", inv.ID, ErrNoRail, inv.Rail)
	}
	payer, _, err := s.startedPayer(ctx, inv, n)
	if err != nil {
		res.Error = err.Error()
		return res, err
	}
	o, err := rail.Status(ctx, inv, payer)
	if err != nil {
		res.Error = err.Error()
		return res, fmt.Errorf("settle: status of %s: %w", inv.ID, err)
	}
	if o.Status == ledger.StatusPending {
		res.Reference = reference(o.Settlement, inv)
		return res, nil
	}
	return s.finish(ctx, ss, inv, res, o)
}

// request builds a rail's ChargeRequest.
func (s *Settler) request(ss *session, inv *ledger.Invoice, n int64, started time.Time, rail string, payer Payer) *ChargeRequest {
	return &ChargeRequest{Invoice: inv, Attempt: n, Started: started, Payer: payer,
		Record: func(ctx context.Context, set ledger.Settlement, note ledger.Attempt) error {
			set.Rail = rail
			note.Number, note.Rail = n, rail
			return s.l.Record(ctx, inv.ID, ledger.Note{Token: ss.token, Set: set, Attempt: &note})
		}}
}

// finish records a rail's outcome.
func (s *Settler) finish(ctx context.Context, ss *session, inv *ledger.Invoice, res *ChargeResult, o Outcome) (*ChargeResult, error) {
	switch o.Status {
	case ledger.StatusPaid, ledger.StatusPending, ledger.StatusFailed, ledger.StatusCarried:
	default:
		return s.unknown(res, fmt.Errorf("settle: rail %s answered status %q for %s", res.Rail, o.Status, inv.ID))
	}
	if err := Fault(s.faults, FaultBeforeOutcome); err != nil {
		return res, err
	}
	o.Settlement.Rail = res.Rail
	var ref string
	if res.Action == "reconcile" { // the pending charge's own reference
		ref = reference(o.Settlement, inv)
	} else {
		ref = reference(o.Settlement, nil)
	}
	amount := inv.Total
	if o.Status == ledger.StatusPaid {
		amount = o.Settlement.Charged
	}
	reason := o.Reason
	if reason == "" {
		reason = o.Detail
	}
	err := s.l.Transition(ctx, inv.ID, ledger.Transition{To: o.Status, Token: ss.token, Actor: s.cfg.Actor,
		Reason: clip(reason), Set: clipped(o.Settlement),
		Attempt: &ledger.Attempt{Number: res.Attempt, Rail: res.Rail, Reference: ref, Amount: amount,
			Outcome: clip(o.Detail), Error: clip(o.Settlement.Error)}})
	if err != nil {
		res.Status, res.Error = inv.Status, err.Error()
		s.log.Error("settle: outcome not recorded; the next run finds it again", "invoice", inv.ID,
			"status", o.Status, "reference", ref, "err", err)
		return res, fmt.Errorf("settle: record %s of %s: %w", o.Status, inv.ID, err)
	}
	res.Status, res.Reference, res.Block = o.Status, ref, o.Settlement.Block
	res.Charged, res.CarriedOut, res.Error = o.Settlement.Charged, o.Settlement.CarriedOut, o.Settlement.Error
	lvl := slog.LevelInfo
	if o.Status == ledger.StatusFailed {
		lvl = slog.LevelWarn
	}
	s.log.Log(ctx, lvl, "settle: charge outcome", "invoice", inv.ID, "rail", res.Rail, "attempt", res.Attempt,
		"status", o.Status, "reference", ref, "charged", o.Settlement.Charged.String(),
		"carried_out", o.Settlement.CarriedOut.String(), "detail", o.Detail, "error", o.Settlement.Error)
	return res, nil
}

// unknown reports an attempt whose outcome is unknown: the invoice stays
// charging for the next run.
func (s *Settler) unknown(res *ChargeResult, err error) (*ChargeResult, error) {
	res.Status, res.Error = ledger.StatusCharging, err.Error()
	if injected(err) {
		return res, err
	}
	if errors.Is(err, ErrStuck) {
		res.Stuck = true
		s.log.Error("settle: INVOICE NEEDS MANUAL RECONCILIATION; it stays charging and is not charged again",
			"invoice", res.Invoice, "rail", res.Rail, "attempt", res.Attempt, "err", err)
	} else {
		s.log.Warn("settle: charge outcome unknown; the invoice stays charging and the next run resumes it",
			"invoice", res.Invoice, "rail", res.Rail, "attempt", res.Attempt, "err", err)
	}
	return res, fmt.Errorf("settle: %s attempt %d: %w", res.Invoice, res.Attempt, err)
}

func (s *Settler) result(inv *ledger.Invoice, n int64, action, rail string) *ChargeResult {
	return &ChargeResult{Invoice: inv.ID, Account: inv.Account, Currency: inv.Currency, Rail: rail,
		Attempt: n, Action: action, Total: inv.Total}
}

// startedPayer returns the payer noted when attempt n started (noted true),
// so that a resumed attempt charges the same customer or wallet on the same
// rail even if the billing profile changed since; the registry's if there is
// no such note.
func (s *Settler) startedPayer(ctx context.Context, inv *ledger.Invoice, n int64) (p Payer, noted bool, err error) {
	for i := len(inv.Attempts) - 1; i >= 0; i-- {
		a := inv.Attempts[i]
		if a.Number == n && a.Outcome == "started" {
			p := Payer{Account: inv.Account, Rail: a.Rail, Currency: inv.Currency}
			if a.Rail == "stripe" {
				p.StripeCustomerID = a.Reference
			} else {
				p.Wallet = a.Reference
			}
			return p, true, nil
		}
	}
	p, err = s.payers.Payer(ctx, inv.Account)
	if err != nil {
		return Payer{}, false, fmt.Errorf("settle: payer of %s: %w", inv.Account, err)
	}
	return p, false, nil
}

// attempts is the number of moves of inv to charging: the number of the
// current (or last) charge attempt.
func attempts(inv *ledger.Invoice) int64 {
	var n int64
	for _, e := range inv.History {
		if e.Kind == "transition" && e.To == ledger.StatusCharging {
			n++
		}
	}
	return n
}

// lastMove is when inv last moved to status st.
func lastMove(inv *ledger.Invoice, st ledger.Status) time.Time {
	for i := len(inv.History) - 1; i >= 0; i-- {
		if e := inv.History[i]; e.Kind == "transition" && e.To == st {
			return e.At
		}
	}
	return inv.Updated
}

func payerRef(p Payer) string {
	if p.Rail == "stripe" {
		return p.StripeCustomerID
	}
	return p.Wallet
}

// reference is the rail's id of a charge: the outcome's PaymentIntent or
// transaction hash, else (for an attempt already under way) the stored one.
func reference(set ledger.Settlement, stored *ledger.Invoice) string {
	refs := []string{set.PaymentIntent, set.TxHash}
	if stored != nil {
		refs = append(refs, stored.PaymentIntent, stored.TxHash)
	}
	for _, r := range refs {
		if r != "" {
			return r
		}
	}
	return ""
}

func failure(msg, detail string) Outcome {
	return Outcome{Status: ledger.StatusFailed, Settlement: ledger.Settlement{Error: msg}, Detail: detail, Reason: msg}
}

func clipped(set ledger.Settlement) ledger.Settlement {
	set.Error = clip(set.Error)
	return set
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
