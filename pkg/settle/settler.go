package settle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"time"

	"github.com/paycrawl/paycrawl/pkg/archive"
	"github.com/paycrawl/paycrawl/pkg/earnings"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// Ledger is what the settler needs of the ledger (*ledger.Ledger).
type Ledger interface {
	AcquireLock(ctx context.Context, name string, ttl time.Duration) (int64, func(), error)
	ScanAccounts(ctx context.Context, day string) ([]string, error)
	Aggregate(ctx context.Context, account, day string) (*ledger.Aggregate, error)
	CreateInvoice(ctx context.Context, account, day, currency, actor string) (*ledger.Invoice, bool, error)
	CloseDay(ctx context.Context, account, day string) (*ledger.Aggregate, error)
	Commitments(ctx context.Context, account, day string, fn func(*ledger.Commitment) error) error
	CreateLinesInvoice(ctx context.Context, li ledger.LinesInvoice) (*ledger.Invoice, bool, error)
	CreditPrepaid(ctx context.Context, account, agreement, topUp string, amount money.Micros) (money.Micros, bool, error)
	PrepaidBalance(ctx context.Context, account, agreement string) (money.Micros, error)
	ReversePrepaid(ctx context.Context, r ledger.PrepaidReversal) (taken, balance money.Micros, applied bool, err error)
	PrepaidTopUp(ctx context.Context, account, agreement, topUp string) (ledger.PrepaidTopUpState, error)
	PrepaidStopped(ctx context.Context, account, agreement string) (*ledger.PrepaidStop, error)
	ResumePrepaid(ctx context.Context, account, agreement, topUp string) (bool, error)
	PrepaidTopUps(ctx context.Context, account, agreement string) (map[string]money.Micros, error)
	Verify(ctx context.Context, account, day string) error
	RecordCheck(ctx context.Context, id string, c ledger.Check) (bool, error)
	Invoice(ctx context.Context, id string) (*ledger.Invoice, error)
	Invoices(ctx context.Context, day string) ([]*ledger.Invoice, error)
	Transition(ctx context.Context, id string, tr ledger.Transition) error
	Record(ctx context.Context, id string, n ledger.Note) error
	CreditLine(ctx context.Context, id string, line int, amount money.Micros, actor, reason string) error
	BeginRefund(ctx context.Context, id string, r ledger.RefundRequest) (ledger.Refund, bool, error)
	NoteRefund(ctx context.Context, id string, seq int64, n ledger.RefundNote) error
	FinishRefund(ctx context.Context, id string, seq int64, r ledger.RefundResult) error
	Trim(ctx context.Context, day string) (*ledger.TrimReport, error)
}

var _ Ledger = (*ledger.Ledger)(nil)

// Options are a Settler's dependencies and configuration.
type Options struct {
	// Ledger is required.
	Ledger Ledger
	// Payers is required: who pays each account.
	Payers Payers
	// Rails are the configured rails; a payer whose rail is missing fails
	// its charge attempt with ErrNoRail.
	Rails []Rail
	// Config is validated by New.
	Config Config
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger; default discards.
	Logger *slog.Logger
	// Earnings, if set, records what final invoices earn their publishers
	// after each day of a run and after each refund (an *earnings.Book).
	Earnings Earnings
	// Archiver, if set, is the cold tier (an *archive.Archiver): after each
	// day of a run it archives the crawler-days whose invoices are final
	// and trims their streams, and for the days past RetentionDays it
	// takes Trim's place (what is final is archived before its stream goes).
	Archiver Archiver
	// Arrangements, if set, are the crawlers' agreements and settlement
	// periods (see period.go); nil invoices every crawler daily at list
	// price.
	Arrangements Arrangements
	// Hosts, if set, says which publisher holds each host now: the fees
	// and top-ups of an agreement whose host its publisher no longer holds
	// are held for finance and not bought (hosts.go). Nil checks nothing.
	Hosts HostClaims
	// Faults is a test hook called at the FaultAfterCharging and
	// FaultBeforeOutcome points; an error it returns crashes the run (wrap
	// ErrInjected). Nil in production.
	Faults func(point string) error
}

// Settler closes days, approves and charges invoices. It is safe for
// concurrent use, and so are several Settlers on one ledger: the ledger's
// lock lets one act at a time.
type Settler struct {
	l      Ledger
	payers Payers
	rails  map[string]Rail
	cfg    Config
	now    func() time.Time
	log    *slog.Logger
	faults func(point string) error
	earn   Earnings
	arch   Archiver
	arr    Arrangements
	hosts  HostClaims
}

// Archiver moves final crawler-days to the cold tier (*archive.Archiver).
type Archiver interface {
	ArchiveDay(ctx context.Context, day string) (*archive.DayReport, error)
}

var _ Archiver = (*archive.Archiver)(nil)

// Earnings records what invoices earn their publishers (*earnings.Book).
// Both calls are idempotent.
type Earnings interface {
	RecordDay(ctx context.Context, day string) (earnings.Report, error)
	RecordInvoice(ctx context.Context, id string) (earnings.Report, error)
}

var _ Earnings = (*earnings.Book)(nil)

// New returns a Settler.
func New(o Options) (*Settler, error) {
	var errs []error
	if o.Ledger == nil {
		errs = append(errs, errors.New("settle: a ledger is required"))
	}
	if o.Payers == nil {
		errs = append(errs, errors.New("settle: payers are required"))
	}
	if err := o.Config.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("settle: config: %w", err))
	}
	s := &Settler{l: o.Ledger, payers: o.Payers, rails: map[string]Rail{}, cfg: o.Config,
		now: o.Now, log: o.Logger, faults: o.Faults, earn: o.Earnings, arch: o.Archiver, arr: o.Arrangements,
		hosts: o.Hosts}
	for _, r := range o.Rails {
		if r == nil {
			errs = append(errs, errors.New("settle: nil rail"))
			continue
		}
		if _, dup := s.rails[r.Name()]; dup {
			errs = append(errs, fmt.Errorf("settle: rail %q configured twice", r.Name()))
		}
		s.rails[r.Name()] = r
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return s, nil
}

// Config returns the settler's configuration.
func (s *Settler) Config() Config { return s.cfg }

// Archive archives day's final crawler-days under the settler lock (see
// archive.Archiver.ArchiveDay); without Options.Archiver it gives
// ErrNoArchive.
func (s *Settler) Archive(ctx context.Context, day string) (*archive.DayReport, error) {
	if s.arch == nil {
		return nil, ErrNoArchive
	}
	if _, err := dayStart(day); err != nil {
		return nil, err
	}
	var rep *archive.DayReport
	err := s.locked(ctx, func(ctx context.Context, _ *session) error {
		var err error
		rep, err = s.arch.ArchiveDay(ctx, day)
		return err
	})
	return rep, err
}

// Rails lists the names of the configured rails, sorted.
func (s *Settler) Rails() []string {
	out := make([]string, 0, len(s.rails))
	for n := range s.rails {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// session is one run under the settler lock.
type session struct {
	token int64
	// deadline is when the run must stop, by the real clock (the lock
	// expires by Redis's): nine tenths of the lock's time to live.
	deadline time.Time
}

// alive reports ErrLockLost once the run is close to its lock's expiry.
func (ss *session) alive() error {
	if time.Now().After(ss.deadline) {
		return fmt.Errorf("%w (token %d): start a new run", ErrLockLost, ss.token)
	}
	return nil
}

// locked runs fn under the settler lock.
func (s *Settler) locked(ctx context.Context, fn func(ctx context.Context, ss *session) error) error {
	start := time.Now()
	token, release, err := s.l.AcquireLock(ctx, LockName, s.cfg.LockTTL)
	if err != nil {
		return err
	}
	defer release()
	ss := &session{token: token, deadline: start.Add(s.cfg.LockTTL * 9 / 10)}
	return fn(ctx, ss)
}

// dayStart parses a ledger day.
func dayStart(day string) (time.Time, error) {
	t, err := time.Parse("2006-01-02", day)
	if err != nil || t.Format("2006-01-02") != day {
		return time.Time{}, fmt.Errorf("%w: day %q, want YYYY-MM-DD", ledger.ErrInvalid, day)
	}
	return t, nil
}

// Totals maps a currency to an amount.
type Totals map[string]money.Micros

func (t Totals) add(cur string, m money.Micros) {
	if m != 0 {
		t[cur] += m
	}
}

// clip bounds a reason or error text to what the ledger accepts.
func clip(s string) string {
	const max = 1800
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// injected reports whether err comes from a Faults hook.
func injected(err error) bool { return errors.Is(err, ErrInjected) }
