package earnings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

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
			if err := b.reverse(ctx, &rep, inv, stored, Reversal{Kind: KindRefund, ID: strconv.FormatInt(r.Seq, 10), Amount: r.Amount,
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
	// ID names the reversal on its invoice and makes it idempotent: a
	// refund's sequence, a dispute's id.
	ID     string
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
		rev := Entry{Key: e.Key + "/" + r.Kind + "/" + inv.ID + "/" + r.ID, Kind: r.Kind,
			Publisher: e.Publisher, Invoice: e.Invoice, Line: e.Line, Account: e.Account, Day: e.Day, Site: e.Site,
			Currency: e.Currency, Gross: -share, FeeBPS: e.FeeBPS, Fee: -fee, Net: -share + fee, At: r.At,
			CollectedBy: e.CollectedBy, Reference: r.Reference}
		if _, err := b.put(ctx, rep, rev); err != nil {
			return err
		}
	}
	return nil
}

// Chargeback is money a card network took back from a paid invoice's
// charge: a dispute the platform lost, or whose funds were withdrawn while
// it is decided.
type Chargeback struct {
	// ID is the rail's id of the dispute (Stripe's dp_…); one dispute is
	// recorded once, however often it is reported.
	ID     string
	Amount money.Micros
	At     time.Time
}

// Chargeback records chargeback c of paid invoice id as negative entries
// over the lines its charge collected, in proportion to what each earned
// (allocate), each giving back its fee: the publishers' balances drop by
// what they had earned of the amount taken back, and the next payout nets
// it (a balance may go negative; it is never paid out). It is idempotent
// by (invoice, c.ID): a replayed or retried report adds nothing. If the
// dispute was reported won before (a reinstatement that arrived first,
// see Reinstatement), the chargeback is matched at once by its
// reinstatement: net zero. An amount above what was charged, or an
// invoice that is not paid, wraps ledger.ErrInvalid.
func (b *Book) Chargeback(ctx context.Context, id string, c Chargeback) (Report, error) {
	rep := Report{Invoices: 1}
	if err := ValidChargebackID(c.ID); err != nil {
		return rep, err
	}
	inv, err := b.l.Invoice(ctx, id)
	if err != nil {
		return rep, err
	}
	if inv.Status != ledger.StatusPaid {
		return rep, fmt.Errorf("%w: invoice %s is %s; only a paid invoice can be charged back", ledger.ErrInvalid, id, inv.Status)
	}
	if c.Amount <= 0 || c.Amount > inv.Charged {
		return rep, fmt.Errorf("%w: chargeback %s is not in (0, charged %s]", ledger.ErrInvalid, c.Amount, inv.Charged)
	}
	earned, err := b.earned(ctx, inv)
	if err != nil {
		return rep, err
	}
	if err := b.reverse(ctx, &rep, inv, earned, Reversal{Kind: KindChargeback, ID: c.ID, Amount: c.Amount, Reference: c.ID, At: c.At}); err != nil {
		return rep, err
	}
	// Written, then looked for: a reinstatement recorded at the same time
	// finds these entries, or this finds its record (see Reinstatement).
	won, ok, err := b.wonDispute(ctx, id, c.ID)
	if err != nil || !ok {
		return rep, err
	}
	b.log.Info("earnings: a chargeback whose dispute was reported won before: matched at once", "invoice", id, "dispute", c.ID)
	return rep, b.reinstate(ctx, &rep, inv, earned, Chargeback{ID: c.ID, At: won})
}

// Reinstatement returns a chargeback: the dispute was won and its funds
// came back. Each entry of chargeback c of invoice id is matched by its
// exact opposite (kind KindReinstated), once. The reinstatement is
// recorded first (keyed by invoice and dispute), so that one reported
// before its chargeback (webhooks arrive in any order) is not lost: that
// chargeback, when it comes, is matched at once (see Chargeback), and this
// call records no entry (Report.Entries 0).
func (b *Book) Reinstatement(ctx context.Context, id string, c Chargeback) (Report, error) {
	rep := Report{Invoices: 1}
	if err := ValidChargebackID(c.ID); err != nil {
		return rep, err
	}
	inv, err := b.l.Invoice(ctx, id)
	if err != nil {
		return rep, err
	}
	at := strconv.FormatInt(c.At.UnixMilli(), 10)
	if err := b.rdb.HSetNX(ctx, b.idxKey("won"), id+"/"+c.ID, at).Err(); err != nil {
		return rep, fmt.Errorf("earnings: %w", err)
	}
	earned, err := b.earned(ctx, inv)
	if err != nil {
		return rep, err
	}
	return rep, b.reinstate(ctx, &rep, inv, earned, c)
}

// wonDispute returns when dispute of invoice id was reported won, if it
// was (Reinstatement's record).
func (b *Book) wonDispute(ctx context.Context, id, dispute string) (time.Time, bool, error) {
	s, err := b.rdb.HGet(ctx, b.idxKey("won"), id+"/"+dispute).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("earnings: %w", err)
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("earnings: reinstatement of %s/%s at %q: %w", id, dispute, clip(s), err)
	}
	return time.UnixMilli(ms).UTC(), true, nil
}

// reinstate matches each chargeback entry of dispute c of inv, over the
// earnings earned, with its exact opposite, once; lines not charged back
// (yet) are skipped.
func (b *Book) reinstate(ctx context.Context, rep *Report, inv *ledger.Invoice, earned []Entry, c Chargeback) error {
	for _, e := range earned {
		key := e.Key + "/" + KindChargeback + "/" + inv.ID + "/" + c.ID
		raw, err := b.rdb.HGet(ctx, b.pubKey(e.Publisher, "e"), key).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return fmt.Errorf("earnings: %w", err)
		}
		var cb Entry
		if err := json.Unmarshal([]byte(raw), &cb); err != nil {
			return fmt.Errorf("earnings: entry %s: %w", key, err)
		}
		back := cb
		back.Key = e.Key + "/" + KindReinstated + "/" + inv.ID + "/" + c.ID
		back.Kind, back.Gross, back.Fee, back.Net, back.At = KindReinstated, -cb.Gross, -cb.Fee, -cb.Net, c.At
		if _, err := b.put(ctx, rep, back); err != nil {
			return err
		}
	}
	return nil
}

// ValidChargebackID checks a dispute's id, which names entries: 1 to 100
// characters, no '/' nor space. Chargeback and Reinstatement refuse any
// other with ledger.ErrInvalid; a caller that moves money before them
// checks it first.
func ValidChargebackID(id string) error {
	if id == "" || len(id) > 100 || strings.ContainsAny(id, "/ ") {
		return fmt.Errorf("%w: chargeback id %q", ledger.ErrInvalid, clip(id))
	}
	return nil
}

// earned returns the earnings a paid invoice's charge made, as stored
// (recording them first if they are not yet).
func (b *Book) earned(ctx context.Context, inv *ledger.Invoice) ([]Entry, error) {
	if inv.Status == ledger.StatusPaid {
		if _, err := b.RecordInvoice(ctx, inv.ID); err != nil {
			return nil, err
		}
	}
	lines, err := b.collected(ctx, inv, inv.ID, map[string]bool{inv.ID: true})
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(lines))
	fees := map[string]int64{}
	for _, sl := range lines {
		e, err := b.lineEntry(ctx, fees, sl, KindEarning, inv.Updated)
		if err != nil {
			return nil, err
		}
		stored, _, err := b.record(ctx, e) // already recorded: returns the stored earning
		if err != nil {
			return nil, err
		}
		out = append(out, stored)
	}
	return out, nil
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
