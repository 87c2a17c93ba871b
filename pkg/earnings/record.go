package earnings

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// Report says what a recording did.
type Report struct {
	// Invoices is how many invoices were read in full; Entries how many
	// entries were new.
	Invoices, Entries int
}

func (r *Report) add(o Report) { r.Invoices += o.Invoices; r.Entries += o.Entries }

// RecordDay records the entries of every final invoice of a day (see
// RecordInvoice), skipping those already recorded in their current state.
// It is idempotent and safe to run again after a crash at any point.
func (b *Book) RecordDay(ctx context.Context, day string) (Report, error) {
	var rep Report
	invs, err := b.l.Invoices(ctx, day)
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, inv := range invs {
		fp := fingerprint(inv)
		if fp == "" {
			continue
		}
		done, err := b.rdb.HGet(ctx, b.idxKey("inv"), inv.ID).Result()
		if err == nil && done == fp {
			continue
		}
		r, err := b.RecordInvoice(ctx, inv.ID)
		rep.add(r)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return rep, errors.Join(errs...)
}

// fingerprint is the state of an invoice as far as earnings go, "" when it
// earns nothing yet (not final).
func fingerprint(inv *ledger.Invoice) string {
	switch inv.Status {
	case ledger.StatusPaid:
		return "paid|" + strconv.FormatInt(int64(inv.Refunded), 10)
	case ledger.StatusVoid, ledger.StatusCarried:
		return string(inv.Status)
	}
	return ""
}

// srcLine is an invoice line a paid invoice's charge collected.
type srcLine struct {
	inv         *ledger.Invoice
	line        int
	collectedBy string
}

// RecordInvoice records what invoice id earns its publishers, once per
// invoice line (entries are idempotent by key, so a rerun adds nothing):
//
//   - paid: each line earns its amount minus its credit minus the fee. If
//     the invoice's total included a carried-over amount (CarriedIn), the
//     carried invoices it collected earn now too, line by line, marked
//     CollectedBy this invoice. Every done refund is reversed over the lines
//     the charge collected, in proportion to what each earned (allocate).
//   - void: each line is recorded as voided, net 0.
//   - carried: nothing yet; the invoice that collects it records it.
//   - anything else: nothing (not final).
func (b *Book) RecordInvoice(ctx context.Context, id string) (Report, error) {
	rep := Report{Invoices: 1}
	inv, err := b.l.Invoice(ctx, id)
	if err != nil {
		return rep, err
	}
	fees := map[string]int64{}
	var lines []srcLine
	switch inv.Status {
	case ledger.StatusPaid:
		lines, err = b.collected(ctx, inv, inv.ID, map[string]bool{inv.ID: true})
		if err != nil {
			return rep, err
		}
		at := statusAt(inv, ledger.StatusPaid)
		stored := make([]Entry, len(lines))
		for i, sl := range lines {
			e, err := b.lineEntry(ctx, fees, sl, KindEarning, at)
			if err != nil {
				return rep, err
			}
			if stored[i], err = b.put(ctx, &rep, e); err != nil {
				return rep, err
			}
		}
		for _, r := range inv.Refunds {
			if r.Status != ledger.RefundDone {
				continue
			}
			if err := b.reverse(ctx, &rep, inv, stored, Reversal{Kind: KindRefund, Seq: r.Seq, Amount: r.Amount,
				Reference: r.Reference, At: refundAt(inv, r)}); err != nil {
				return rep, err
			}
		}
	case ledger.StatusVoid:
		at := statusAt(inv, ledger.StatusVoid)
		for i := range inv.Lines {
			e, err := b.lineEntry(ctx, fees, srcLine{inv: inv, line: i}, KindVoid, at)
			if err != nil {
				return rep, err
			}
			if _, err := b.put(ctx, &rep, e); err != nil {
				return rep, err
			}
		}
	case ledger.StatusCarried:
	default:
		return rep, nil
	}
	if err := b.rdb.HSet(ctx, b.idxKey("inv"), inv.ID, fingerprint(inv)).Err(); err != nil {
		return rep, fmt.Errorf("earnings: %w", err)
	}
	return rep, nil
}

func (b *Book) put(ctx context.Context, rep *Report, e Entry) (Entry, error) {
	stored, isNew, err := b.record(ctx, e)
	if isNew {
		rep.Entries++
	}
	return stored, err
}

// lineEntry builds the entry of one invoice line.
func (b *Book) lineEntry(ctx context.Context, fees map[string]int64, sl srcLine, kind string, at time.Time) (Entry, error) {
	l := sl.inv.Lines[sl.line]
	e := Entry{Key: sl.inv.ID + "/" + strconv.Itoa(sl.line), Kind: kind, Publisher: l.Publisher, Invoice: sl.inv.ID, Line: sl.line,
		Account: sl.inv.Account, Day: sl.inv.Day, Site: l.Site, Currency: sl.inv.Currency, Requests: l.Count,
		Gross: l.Amount, Credit: l.Credit, At: at, CollectedBy: sl.collectedBy}
	if kind == KindVoid {
		e.Voided = l.Amount - l.Credit
		return e, nil
	}
	bps, ok := fees[l.Publisher]
	if !ok {
		var err error
		if bps, err = b.fees.FeeBPS(ctx, l.Publisher); err != nil {
			return Entry{}, fmt.Errorf("earnings: fee of %s: %w", l.Publisher, err)
		}
		if bps < 0 || bps > 10_000 {
			return Entry{}, fmt.Errorf("earnings: fee of %s is %d basis points, not in [0, 10000]", l.Publisher, bps)
		}
		fees[l.Publisher] = bps
	}
	e.FeeBPS = bps
	e.Fee = Fee(l.Amount-l.Credit, bps)
	e.Net = l.Amount - l.Credit - e.Fee
	return e, nil
}

// collected lists the lines a paid invoice's charge collected: its own,
// then those of the carried invoices whose carried-over amounts its total
// took in (and, recursively, what those had taken in).
func (b *Book) collected(ctx context.Context, inv *ledger.Invoice, by string, seen map[string]bool) ([]srcLine, error) {
	var out []srcLine
	for i := range inv.Lines {
		cb := ""
		if inv.ID != by {
			cb = by
		}
		out = append(out, srcLine{inv: inv, line: i, collectedBy: cb})
	}
	if inv.CarriedIn <= 0 {
		return out, nil
	}
	sources, err := b.carrySources(ctx, inv.Account, inv.Currency)
	if err != nil {
		return nil, err
	}
	for _, id := range sources[inv.ID] {
		if seen[id] {
			continue
		}
		seen[id] = true
		src, err := b.l.Invoice(ctx, id)
		if err != nil {
			return nil, err
		}
		if src.Status != ledger.StatusCarried {
			continue // a paid invoice's sub-cent remainder: its lines earned when it was paid
		}
		more, err := b.collected(ctx, src, by, seen)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}

// carrySources replays the carry-over log of (account, currency) and
// returns, for each invoice that consumed the balance, the invoices whose
// carried amounts made it up. A voided invoice's carried-in amount returns
// to the balance and goes to the next consumer.
func (b *Book) carrySources(ctx context.Context, account, currency string) (map[string][]string, error) {
	log, err := b.l.CarryLog(ctx, account, currency)
	if err != nil {
		return nil, err
	}
	var pending []string
	out := map[string][]string{}
	for _, e := range log {
		switch e.Kind {
		case "carried":
			pending = append(pending, e.Invoice)
		case "consumed":
			out[e.Invoice] = append(out[e.Invoice], pending...)
			pending = nil
		case "returned":
			pending = append(append([]string(nil), out[e.Invoice]...), pending...)
			delete(out, e.Invoice)
		}
	}
	return out, nil
}

// Reversal is money taken back from a paid invoice after the fact: a
// refund or a chargeback.
type Reversal struct {
	// Kind is KindRefund or KindChargeback.
	Kind string
	// Seq numbers the reversal on its invoice (a refund's sequence).
	Seq    int64
	Amount money.Micros
	// Reference is the rail's id of the reversal.
	Reference string
	At        time.Time
}

// reverse records a reversal of a paid invoice as negative entries over the
// earnings its charge made (earned), in proportion to each one's amount
// after credits, to the micro-unit; each share gives back the fee at the
// rate its earning was charged. A reversal above what the lines earned
// (possible only when the charge included sub-cent remainders carried from
// earlier invoices) puts the excess on the last line.
func (b *Book) reverse(ctx context.Context, rep *Report, inv *ledger.Invoice, earned []Entry, r Reversal) error {
	if len(earned) == 0 || r.Amount <= 0 {
		return nil
	}
	weights := make([]money.Micros, len(earned))
	var sum money.Micros
	for i, e := range earned {
		weights[i] = e.Gross - e.Credit
		sum += weights[i]
	}
	base := min(r.Amount, sum)
	shares := allocate(base, weights)
	shares[len(shares)-1] += r.Amount - base
	for i, e := range earned {
		share := shares[i]
		if share == 0 {
			continue
		}
		fee := Fee(share, e.FeeBPS)
		rev := Entry{Key: e.Key + "/" + r.Kind + "/" + inv.ID + "/" + strconv.FormatInt(r.Seq, 10), Kind: r.Kind,
			Publisher: e.Publisher, Invoice: e.Invoice, Line: e.Line, Account: e.Account, Day: e.Day, Site: e.Site,
			Currency: e.Currency, Gross: -share, FeeBPS: e.FeeBPS, Fee: -fee, Net: -share + fee, At: r.At,
			CollectedBy: e.CollectedBy, Reference: r.Reference}
		if _, err := b.put(ctx, rep, rev); err != nil {
			return err
		}
	}
	return nil
}

// Chargeback records a chargeback of amount on paid invoice id (its seq-th,
// numbered by the caller's source) as negative entries, like a refund.
func (b *Book) Chargeback(ctx context.Context, id string, seq int64, amount money.Micros, reference string, at time.Time) (Report, error) {
	rep := Report{Invoices: 1}
	inv, err := b.l.Invoice(ctx, id)
	if err != nil {
		return rep, err
	}
	if inv.Status != ledger.StatusPaid {
		return rep, fmt.Errorf("%w: invoice %s is %s; only a paid invoice can be charged back", ledger.ErrInvalid, id, inv.Status)
	}
	if amount <= 0 || amount > inv.Charged {
		return rep, fmt.Errorf("%w: chargeback %s is not in (0, charged %s]", ledger.ErrInvalid, amount, inv.Charged)
	}
	if _, err := b.RecordInvoice(ctx, id); err != nil {
		return rep, err
	}
	lines, err := b.collected(ctx, inv, inv.ID, map[string]bool{inv.ID: true})
	if err != nil {
		return rep, err
	}
	earned := make([]Entry, 0, len(lines))
	for _, sl := range lines {
		e, err := b.lineEntry(ctx, map[string]int64{}, sl, KindEarning, at)
		if err != nil {
			return rep, err
		}
		stored, _, err := b.record(ctx, e) // already recorded: returns the stored earning
		if err != nil {
			return rep, err
		}
		earned = append(earned, stored)
	}
	return rep, b.reverse(ctx, &rep, inv, earned, Reversal{Kind: KindChargeback, Seq: seq, Amount: amount, Reference: reference, At: at})
}

// statusAt is when inv moved to status, by its history; its last update
// when the history does not say.
func statusAt(inv *ledger.Invoice, status ledger.Status) time.Time {
	for _, ev := range inv.History {
		if ev.Kind == "transition" && ev.To == status {
			return ev.At
		}
	}
	return inv.Updated
}

// refundAt is when refund r was done, by the invoice's history; when it was
// asked for when the history does not say.
func refundAt(inv *ledger.Invoice, r ledger.Refund) time.Time {
	for _, ev := range inv.History {
		if ev.Kind == "refund" && ev.Refund == r.Seq && ev.RefundStatus == ledger.RefundDone {
			return ev.At
		}
	}
	return r.At
}
