package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// Ledger is what the Archiver needs of the ledger (*ledger.Ledger).
type Ledger interface {
	Accounts(ctx context.Context, day string) ([]string, error)
	Aggregate(ctx context.Context, account, day string) (*ledger.Aggregate, error)
	Invoice(ctx context.Context, id string) (*ledger.Invoice, error)
	Commitments(ctx context.Context, account, day string, fn func(*ledger.Commitment) error) error
	PublicKey(ctx context.Context, account, keyid string) (string, error)
	TrimArchived(ctx context.Context, account, day string, count int64) (string, error)
}

var _ Ledger = (*ledger.Ledger)(nil)

// Fault points: Options.Faults is called after each step of a crawler-day
// (and after the manifest, once per run).
const (
	// FaultWritten: the segment is durable in the store, not yet verified.
	FaultWritten = "archive:written"
	// FaultVerified: the segment was read back and matched the stream and
	// the invoices; no manifest lists it yet.
	FaultVerified = "archive:verified"
	// FaultManifest: the run's manifest is durable; no stream trimmed yet.
	FaultManifest = "archive:manifest"
	// FaultTrimmed: one crawler-day's stream was trimmed.
	FaultTrimmed = "archive:trimmed"
)

// Options are an Archiver's dependencies.
type Options struct {
	// Ledger and Store are required.
	Ledger Ledger
	Store  Store
	// TempDir holds a segment while it is written, before it goes to the
	// store; "" is os.TempDir().
	TempDir string
	// Now is the clock (the manifest's archived times); default time.Now.
	Now func() time.Time
	// Logger; default discards.
	Logger *slog.Logger
	// Faults is a test hook called at each Fault* point; an error it
	// returns stops the run there, as a crash would. Nil in production.
	Faults func(point string) error
	// Invoices re-derives the invoices made from computed lines
	// (ledger.CreateLinesInvoice: a weekly or monthly invoice, an invoice
	// of a crawler on agreements) from the commitments of the days they
	// cover (settle.LinesCheck). Without it such an invoice does not
	// verify, and its days stay in Redis.
	Invoices InvoiceCheck
}

// InvoiceCheck re-derives a lines invoice: what its usage lines (by
// publisher site, agreement, version and charge kind) and its fee lines
// should hold, from the commitments of the days it covers (and of the days
// before them that share a subscription period) and from the crawler's
// agreements. Read reads any crawler-day, from Redis or from the archive.
type InvoiceCheck interface {
	CheckInvoice(ctx context.Context, inv *ledger.Invoice, read DayReader) (problems []string, err error)
}

// DayReader calls fn for each commitment of a crawler-day in append order,
// wherever the day is (Redis or the archive); a day in neither has none.
type DayReader func(ctx context.Context, account, day string, fn func(*ledger.Commitment) error) error

// Archiver moves final crawler-days from the ledger to a Store. It is not
// safe for two Archivers to archive into one store at once: the settler
// runs it under its lock.
type Archiver struct {
	l      Ledger
	st     Store
	tmp    string
	now    func() time.Time
	log    *slog.Logger
	faults func(string) error
	invs   InvoiceCheck
}

// New returns an Archiver.
func New(o Options) (*Archiver, error) {
	if o.Ledger == nil || o.Store == nil {
		return nil, errors.New("archive: a ledger and a store are required")
	}
	a := &Archiver{l: o.Ledger, st: o.Store, tmp: o.TempDir, now: o.Now, log: o.Logger, faults: o.Faults, invs: o.Invoices}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return a, nil
}

// Store returns the archiver's store.
func (a *Archiver) Store() Store { return a.st }

// DayReport says what ArchiveDay did.
type DayReport struct {
	Day string
	// Manifest is the manifest this run wrote, "" if it archived nothing
	// new.
	Manifest string
	// Archived lists the crawler-days this run archived; Trimmed the
	// accounts whose stream is now gone from Redis (this run's and those
	// an earlier run archived without trimming).
	Archived []Entry
	Trimmed  []string
	// Kept maps each account not archived (or not trimmed) to the reason.
	Kept map[string]string
}

// ArchiveDay archives every crawler-day of day whose invoices are all
// final (paid, void or carried) and trims their streams (a currency of a
// day that a weekly or monthly invoice covers waits for that invoice, see
// ledger.Aggregate.InvoicedOn); see the package
// documentation for the steps. It resumes what an interrupted run left.
// Crawler-days not yet final are kept, with the reason, in the report; a
// segment that does not verify keeps its stream and is returned as a
// *VerifyError (joined), after the other crawler-days were archived.
func (a *Archiver) ArchiveDay(ctx context.Context, day string) (*DayReport, error) {
	rep := &DayReport{Day: day, Kept: map[string]string{}}
	ch, err := loadChain(ctx, a.st, day)
	if err != nil {
		return rep, err
	}
	accounts, err := a.l.Accounts(ctx, day)
	if err != nil {
		return rep, err
	}
	var toTrim []Entry
	var fresh []Entry
	var failed []error
	for _, acct := range accounts {
		if e, ok := ch.day[acct]; ok {
			toTrim = append(toTrim, e)
			continue
		}
		if ledger.ValidateAccount(acct) != nil {
			rep.Kept[acct] = "invalid account id in the day's index"
			continue
		}
		invs, why, err := a.final(ctx, acct, day)
		if err != nil {
			return rep, err
		}
		if why != "" {
			rep.Kept[acct] = why
			continue
		}
		e, err := a.write(ctx, acct, day, invs)
		if err != nil {
			return rep, err
		}
		if err := a.fault(FaultWritten); err != nil {
			return rep, err
		}
		if err := a.verify(ctx, e, invs); err != nil {
			var ve *VerifyError
			if !errors.As(err, &ve) {
				return rep, err
			}
			a.log.Error("archive: segment does not verify; the stream stays", "account", acct, "day", day, "err", err)
			rep.Kept[acct] = "segment does not verify"
			failed = append(failed, err)
			continue
		}
		if err := a.fault(FaultVerified); err != nil {
			return rep, err
		}
		fresh = append(fresh, *e)
	}
	if len(fresh) > 0 {
		m := &Manifest{Version: ManifestVersion, Seq: ch.manifestSeq + 1, Day: day}
		prev, seq := ch.headHash, ch.headSeq
		for _, e := range fresh {
			seq++
			e.Seq, e.Prev = seq, prev
			e.Hash = e.ComputeHash()
			prev = e.Hash
			m.Entries = append(m.Entries, e)
		}
		if err := writeManifest(ctx, a.st, m); err != nil {
			return rep, fmt.Errorf("archive: manifest of %s: %w", day, err)
		}
		rep.Manifest, rep.Archived = manifestName(m.Seq, day), m.Entries
		a.log.Info("archive: day archived", "day", day, "manifest", rep.Manifest, "crawlers", len(m.Entries))
		if err := a.fault(FaultManifest); err != nil {
			return rep, err
		}
		toTrim = append(toTrim, m.Entries...)
	}
	sort.Slice(toTrim, func(i, j int) bool { return toTrim[i].Account < toTrim[j].Account })
	for _, e := range toTrim {
		why, err := a.l.TrimArchived(ctx, e.Account, e.Day, e.Count)
		if err != nil {
			return rep, err
		}
		if why != "" {
			rep.Kept[e.Account] = "archived, stream kept: " + why
			continue
		}
		rep.Trimmed = append(rep.Trimmed, e.Account)
		if err := a.fault(FaultTrimmed); err != nil {
			return rep, err
		}
	}
	return rep, errors.Join(failed...)
}

func (a *Archiver) fault(point string) error {
	if a.faults == nil {
		return nil
	}
	return a.faults(point)
}

// final returns the crawler-day's invoices if the day is closed and every
// one of them is final, or why not: for each currency the day's own
// invoice, or the period's that covers it.
func (a *Archiver) final(ctx context.Context, account, day string) ([]*ledger.Invoice, string, error) {
	agg, err := a.l.Aggregate(ctx, account, day)
	if err != nil {
		return nil, "", err
	}
	if len(agg.Currencies) == 0 {
		return nil, "no usage", nil
	}
	if !agg.Closed {
		return nil, "day not closed", nil
	}
	curs := make([]string, 0, len(agg.Currencies))
	for cur := range agg.Currencies {
		curs = append(curs, cur)
	}
	sort.Strings(curs)
	var invs []*ledger.Invoice
	for _, cur := range curs {
		on := day
		if d := agg.InvoicedOn[cur]; d != "" {
			on = d
		}
		inv, err := a.l.Invoice(ctx, ledger.InvoiceID(account, on, cur))
		switch {
		case errors.Is(err, ledger.ErrNotFound) && on != day:
			return nil, "no " + cur + " invoice " + ledger.InvoiceID(account, on, cur) + " (the period's, which covers the day)", nil
		case errors.Is(err, ledger.ErrNotFound):
			return nil, "no " + cur + " invoice", nil
		case err != nil:
			return nil, "", err
		}
		switch inv.Status {
		case ledger.StatusPaid, ledger.StatusVoid, ledger.StatusCarried:
		default:
			return nil, fmt.Sprintf("invoice %s is %s", inv.ID, inv.Status), nil
		}
		invs = append(invs, inv)
	}
	return invs, "", nil
}
