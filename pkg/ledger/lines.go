package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// maxLines bounds the lines of one invoice.
const maxLines = 4096

// LinesInvoice is an invoice whose lines its caller computed: the settler's
// invoice of a crawler on an agreement or on a weekly or monthly settlement
// period, with usage lines by agreement and kind and subscription fee lines.
type LinesInvoice struct {
	// Account, Day and Currency make the id (InvoiceID): Day is the last
	// day covered.
	Account, Day, Currency string
	// Tag, if set, makes this a prepaid top-up's invoice (TopUpInvoiceID):
	// it covers no days and takes in no carry-over.
	Tag string
	// From is the first day covered (<= Day); "" or Day for Day alone.
	From string
	// Covered are the crawler-days the invoice covers, each closed to new
	// commitments and marked as invoiced by it (Aggregate.InvoicedOn), so
	// that retention and the cold tier wait for this invoice. Each must lie
	// in [From, Day].
	Covered []string
	// Lines are stored in this order; zero-amount lines are kept (requests
	// inside a quota, drawn from a prepaid balance).
	Lines []Line
	// Actor is recorded on the creation; Reason in its history entry.
	Actor, Reason string
}

// CreateLinesInvoice creates the draft invoice li describes, closes its
// covered days and consumes the crawler's carry-over balance into it, all
// atomically. It is idempotent: an existing invoice is returned unchanged
// with created=false (the first lines win). No lines give ErrNotFound.
func (l *Ledger) CreateLinesInvoice(ctx context.Context, li LinesInvoice) (inv *Invoice, created bool, err error) {
	if err := li.validate(); err != nil {
		return nil, false, err
	}
	id, slot, carry := InvoiceID(li.Account, li.Day, li.Currency), li.Day, "1"
	if li.Tag != "" {
		id, slot, carry = TopUpInvoiceID(li.Account, li.Day, li.Tag, li.Currency), li.Day+"+"+li.Tag, "0"
	}
	if err := l.index(ctx, l.dayInvoicesKey(li.Day), id); err != nil {
		return nil, false, err
	}
	keys := []string{
		l.invKey(li.Account, slot, li.Currency), l.histKey(li.Account, slot, li.Currency),
		l.carryKey(li.Account, li.Currency), l.carryLogKey(li.Account, li.Currency),
	}
	for _, d := range li.Covered {
		keys = append(keys, l.aggKey(li.Account, d))
	}
	from := li.From
	if from == li.Day {
		from = ""
	}
	reason := li.Reason
	if reason == "" {
		reason = "created from the period's usage and agreements"
	}
	args := []interface{}{id, li.Account, li.Day, li.Currency, l.now().UnixMilli(), li.Actor, from, reason, len(li.Lines)}
	for _, ln := range li.Lines {
		args = append(args, ln.Publisher, ln.Site, ln.Count, int64(ln.Amount), ln.Kind, ln.AgreementID, ln.AgreementVersion)
	}
	args = append(args, carry, strings.Join(li.Covered, ","))
	r, err := reply(l.runDurable(ctx, createLinesScript, keys, args...))
	if err != nil {
		return nil, false, fmt.Errorf("ledger: create invoice %s: %w", id, err)
	}
	switch r[0] {
	case "created", "exists":
	case "empty":
		return nil, false, fmt.Errorf("%w: no lines for invoice %s", ErrNotFound, id)
	case "range":
		return nil, false, fmt.Errorf("%w: invoice %s total exceeds %d micro-units", ErrInvalid, id, int64(MaxAmount))
	default:
		return nil, false, fmt.Errorf("ledger: create invoice: unexpected script reply %q", r)
	}
	inv, err = l.Invoice(ctx, id)
	return inv, r[0] == "created", err
}

func (li *LinesInvoice) validate() error {
	if err := validateKey(li.Account, li.Day, li.Currency); err != nil {
		return err
	}
	if err := validText("actor", li.Actor, maxShort, true); err != nil {
		return err
	}
	if li.Tag != "" && (!validTag(li.Tag) || li.From != "" || len(li.Covered) > 0) {
		return fmt.Errorf("%w: a top-up invoice (tag %q) covers no days", ErrInvalid, clip(li.Tag))
	}
	if err := validText("reason", li.Reason, maxURL, false); err != nil {
		return err
	}
	from := li.Day
	if li.From != "" {
		if err := validateDay(li.From); err != nil {
			return err
		}
		if li.From > li.Day {
			return fmt.Errorf("%w: invoice covers from %s, after its day %s", ErrInvalid, li.From, li.Day)
		}
		if span, _ := daySpan(li.From, li.Day); span > 31 {
			return fmt.Errorf("%w: invoice covers %d days, more than a month", ErrInvalid, span)
		}
		from = li.From
	}
	seen := map[string]bool{}
	for _, d := range li.Covered {
		if err := validateDay(d); err != nil {
			return err
		}
		if d < from || d > li.Day || seen[d] {
			return fmt.Errorf("%w: covered day %s outside %s..%s or listed twice", ErrInvalid, d, from, li.Day)
		}
		seen[d] = true
	}
	if len(li.Lines) > maxLines {
		return fmt.Errorf("%w: %d lines, limit %d", ErrInvalid, len(li.Lines), maxLines)
	}
	var sum money.Micros
	for i, ln := range li.Lines {
		if err := validFieldPart("publisher", ln.Publisher); err != nil {
			return fmt.Errorf("line %d: %w", i, err)
		}
		if err := validText("site", ln.Site, maxShort, false); err != nil {
			return fmt.Errorf("line %d: %w", i, err)
		}
		if err := validateAmount("line amount", ln.Amount); err != nil {
			return fmt.Errorf("line %d: %w", i, err)
		}
		if ln.Count < 0 || ln.Credit != 0 || ln.AgreementVersion < 0 {
			return fmt.Errorf("%w: line %d: count %d, credit %s, agreement version %d", ErrInvalid, i, ln.Count, ln.Credit, ln.AgreementVersion)
		}
		if err := validText("line kind", ln.Kind, 16, true); err != nil {
			return fmt.Errorf("line %d: %w", i, err)
		}
		if err := validText("agreement id", ln.AgreementID, maxShort, false); err != nil {
			return fmt.Errorf("line %d: %w", i, err)
		}
		if (ln.AgreementID == "") != (ln.AgreementVersion == 0) {
			return fmt.Errorf("%w: line %d: agreement %q version %d", ErrInvalid, i, clip(ln.AgreementID), ln.AgreementVersion)
		}
		if sum += ln.Amount; sum > MaxAmount {
			return fmt.Errorf("%w: lines add up to more than %d micro-units", ErrInvalid, int64(MaxAmount))
		}
	}
	return nil
}

// daySpan counts the days from a to b inclusive (both valid days).
func daySpan(a, b string) (int, error) {
	ta, err := time.Parse(dayLayout, a)
	if err != nil {
		return 0, err
	}
	tb, err := time.Parse(dayLayout, b)
	if err != nil {
		return 0, err
	}
	return int(tb.Sub(ta)/(24*time.Hour)) + 1, nil
}
