package settle

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// CloseReport says what Close did with a day.
type CloseReport struct {
	Day string
	// Accounts is the number of crawlers with usage on the day.
	Accounts int
	// Created and Existing count the day's invoices made by this call and
	// found from an earlier one.
	Created, Existing int
	// Held counts invoices this call held because their day's aggregate
	// does not match its stream; Mismatches says why, one per crawler.
	Held       int
	Mismatches []string
	// Totals sums the day's invoice totals by currency; Commitments their
	// commitment counts.
	Totals      Totals
	Commitments int64
}

// Close builds the invoices of day (YYYY-MM-DD, UTC), which must have ended
// at least Config.Grace ago (else ErrTooEarly): for every crawler with
// usage, one invoice per currency with one line per publisher site, with the
// crawler's carry-over consumed into it (ledger.CreateInvoice, which also
// closes the day to late commitments). It then checks each crawler-day's
// aggregate against the stream of its commitments and records the result on
// its invoices; an invoice whose day does not add up is held, its history
// listing the differences.
//
// Close is idempotent: invoice ids are deterministic, an existing invoice is
// left alone, and a check that a crash interrupted is done on the next call.
// Errors of single crawlers do not stop the others; they are returned
// joined, with the report of what was done.
func (s *Settler) Close(ctx context.Context, day string) (*CloseReport, error) {
	return s.closeDay(ctx, day, false)
}

// CloseEarly is Close without the end-of-day check: it closes day even
// while it lasts. The ledger then refuses every later commitment of that
// day (gateways answer 503), so it is for demos and tests, or for stopping
// a day's billing on purpose.
func (s *Settler) CloseEarly(ctx context.Context, day string) (*CloseReport, error) {
	return s.closeDay(ctx, day, true)
}

func (s *Settler) closeDay(ctx context.Context, day string, early bool) (*CloseReport, error) {
	var rep *CloseReport
	err := s.locked(ctx, func(ctx context.Context, ss *session) error {
		var err error
		rep, err = s.close(ctx, ss, day, early)
		return err
	})
	return rep, err
}

// Closable reports whether day has ended at least Config.Grace ago.
func (s *Settler) Closable(day string) (bool, error) {
	start, err := dayStart(day)
	if err != nil {
		return false, err
	}
	return !s.now().Before(start.Add(24*time.Hour + s.cfg.Grace)), nil
}

func (s *Settler) close(ctx context.Context, ss *session, day string, early bool) (*CloseReport, error) {
	ok, err := s.Closable(day)
	if err != nil {
		return nil, err
	}
	if !ok && early {
		s.log.Warn("closing a day before its end: its later commitments will be refused", "day", day)
	} else if !ok {
		return nil, fmt.Errorf("%w: %s can be closed from %s UTC (end of day + grace %s)",
			ErrTooEarly, day, mustDay(day).Add(24*time.Hour+s.cfg.Grace).Format("2006-01-02 15:04:05"), s.cfg.Grace)
	}
	// The day's index repaired by a scan of the aggregates: a failover can
	// lose an index entry, never a crawler's invoice.
	accounts, err := s.l.ScanAccounts(ctx, day)
	if err != nil {
		return nil, err
	}
	if s.arr != nil {
		if accounts, err = s.candidates(ctx, day, accounts); err != nil {
			return nil, err
		}
	}
	rep := &CloseReport{Day: day, Totals: Totals{}}
	var mu sync.Mutex
	errs := each(ctx, s.cfg.Workers, accounts, func(ctx context.Context, account string) error {
		if err := ss.alive(); err != nil {
			return err
		}
		r, err := s.closeOne(ctx, ss, account, day)
		mu.Lock()
		defer mu.Unlock()
		if r.invoices > 0 {
			rep.Accounts++
		}
		rep.Created += r.created
		rep.Existing += r.invoices - r.created
		rep.Held += r.held
		rep.Commitments += r.count
		for cur, m := range r.totals {
			rep.Totals.add(cur, m)
		}
		if r.mismatch != "" {
			rep.Mismatches = append(rep.Mismatches, r.mismatch)
		}
		if err != nil {
			return fmt.Errorf("settle: close %s %s: %w", account, day, err)
		}
		return nil
	})
	sort.Strings(rep.Mismatches)
	s.log.Info("settle: day closed", "day", day, "accounts", rep.Accounts, "created", rep.Created,
		"existing", rep.Existing, "held", rep.Held, "errors", len(errs))
	return rep, errors.Join(errs...)
}

// accountClose is what closing one crawler-day did.
type accountClose struct {
	invoices, created, held int
	count                   int64
	totals                  map[string]money.Micros
	mismatch                string
}

// closeOne closes one crawler-day: by its arrangements if it has any
// (closeArranged), else from its aggregate.
func (s *Settler) closeOne(ctx context.Context, ss *session, account, day string) (accountClose, error) {
	if s.arr != nil {
		r, handled, err := s.closeArranged(ctx, ss, account, day)
		if handled || err != nil {
			return r, err
		}
	}
	return s.closeAccount(ctx, ss, account, day)
}

// closeAccount creates, checks and if need be holds one crawler-day's
// invoices.
func (s *Settler) closeAccount(ctx context.Context, ss *session, account, day string) (accountClose, error) {
	r := accountClose{totals: map[string]money.Micros{}}
	agg, err := s.l.Aggregate(ctx, account, day)
	if err != nil {
		return r, err
	}
	curs := make([]string, 0, len(agg.Currencies))
	for cur, t := range agg.Currencies {
		if t.Count > 0 {
			curs = append(curs, cur)
		}
	}
	sort.Strings(curs)
	var invs []*ledger.Invoice
	for _, cur := range curs {
		inv, created, err := s.l.CreateInvoice(ctx, account, day, cur, s.cfg.Actor)
		if err != nil {
			return r, err
		}
		r.invoices++
		if created {
			r.created++
		}
		r.count += agg.Currencies[cur].Count
		r.totals[cur] += inv.Total
		invs = append(invs, inv)
	}
	return r, s.checkInvoices(ctx, ss, &r, account, []string{day}, invs)
}

// checkInvoices checks the crawler-days an account's new invoices cover,
// each day's aggregate against its stream, records the result on those not
// checked yet and holds those that do not add up.
func (s *Settler) checkInvoices(ctx context.Context, ss *session, r *accountClose, account string, days []string, invs []*ledger.Invoice) error {
	var unchecked, mismatched []*ledger.Invoice
	for _, inv := range invs {
		switch {
		case inv.Check == "" && (inv.Status == ledger.StatusDraft || inv.Status == ledger.StatusHeld):
			unchecked = append(unchecked, inv)
		case inv.Check == ledger.CheckMismatch && inv.Status == ledger.StatusDraft && !everHeld(inv):
			mismatched = append(mismatched, inv) // checked, then a crash before the hold
		}
	}
	if len(unchecked) > 0 {
		var diffs []string
		for _, day := range days {
			verr := s.l.Verify(ctx, account, day)
			var mm *ledger.MismatchError
			switch {
			case verr == nil:
			case errors.As(verr, &mm):
				diffs = append(diffs, mm.Error())
			default:
				return verr
			}
		}
		r.mismatch = strings.Join(diffs, "; ")
		noun := "commitments"
		if r.count == 1 {
			noun = "commitment"
		}
		reason := fmt.Sprintf("aggregate matches the stream of %d %s", r.count, noun)
		if len(days) > 1 {
			reason = fmt.Sprintf("aggregates of %d days match their streams of %d %s", len(days), r.count, noun)
		}
		if r.mismatch != "" {
			reason = clip(r.mismatch)
		}
		for _, inv := range unchecked {
			ok, err := s.l.RecordCheck(ctx, inv.ID, ledger.Check{Token: ss.token, OK: r.mismatch == "", Actor: s.cfg.Actor, Reason: reason})
			if err != nil {
				return err
			}
			if !ok && inv.Status == ledger.StatusDraft {
				mismatched = append(mismatched, inv)
			}
		}
	}
	for _, inv := range mismatched {
		err := s.l.Transition(ctx, inv.ID, ledger.Transition{To: ledger.StatusHeld, Token: ss.token, Actor: s.cfg.Actor,
			Reason: clip("held: the day's aggregate does not match its commitments; " + mismatchReason(inv, r.mismatch))})
		if err != nil {
			return err
		}
		r.held++
		s.log.Warn("settle: invoice held, aggregate does not match stream", "invoice", inv.ID, "differences", r.mismatch)
	}
	return nil
}

// mismatchReason is the check's own account of the differences.
func mismatchReason(inv *ledger.Invoice, fresh string) string {
	if fresh != "" {
		return fresh
	}
	for i := len(inv.History) - 1; i >= 0; i-- {
		if inv.History[i].Kind == "check" {
			return inv.History[i].Reason
		}
	}
	return "see the check in the history"
}

// everHeld reports whether the invoice was ever held: a mismatched invoice
// that finance released (held → draft) is not held again.
func everHeld(inv *ledger.Invoice) bool {
	for _, e := range inv.History {
		if e.Kind == "transition" && e.To == ledger.StatusHeld {
			return true
		}
	}
	return false
}

func mustDay(day string) time.Time {
	t, _ := dayStart(day)
	return t
}
