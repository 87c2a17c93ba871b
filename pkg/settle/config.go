package settle

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of Config, as DefaultConfig returns them.
const (
	DefaultGrace        = 10 * time.Minute
	DefaultReviewWindow = 24 * time.Hour
	DefaultMaxAttempts  = 4
	DefaultLockTTL      = 30 * time.Minute
	DefaultLookback     = 7
	DefaultWorkers      = 8
	// DefaultRetentionDays is how long commitment streams are kept.
	DefaultRetentionDays = 90
	DefaultLockWait      = 2 * time.Second
	// LockName is the ledger lock every settler takes.
	LockName = "settler"
)

// DefaultRetrySchedule is the wait after each failed attempt: 1 h after the
// first, 6 h after the second, 24 h after each later one.
var DefaultRetrySchedule = []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour}

// Config is the settler's behaviour. Start from DefaultConfig: the zero
// value does not validate (a zero lock TTL or attempt limit means nothing
// safe), so a forgotten field fails loudly instead of meaning "none".
type Config struct {
	// Grace is how long after a day's end (midnight UTC) the day may be
	// closed, so that late commitments of gateways land first. Default 10m.
	Grace time.Duration
	// ReviewWindow is how long a draft waits for finance (hold, void,
	// credit a line) before it is approved. Default 24h; 0 approves at once.
	ReviewWindow time.Duration
	// RetrySchedule is the wait after the n-th failed attempt
	// (RetrySchedule[n-1], the last entry for later ones), counted from the
	// failure. Default 1h, 6h, 24h.
	RetrySchedule []time.Duration
	// MaxAttempts bounds charge attempts per invoice; after the last one
	// fails the invoice stays failed, visible, for finance. Default 4.
	MaxAttempts int
	// LockTTL is the time to live of the settler lock, held for one run. A
	// run stops (ErrLockLost) before it outlives it. Default 30m.
	LockTTL time.Duration
	// Lookback is how many days before today RunOnce closes, approves and
	// charges. Default 7.
	Lookback int
	// Workers bounds how many crawlers (Close) or invoices (Charge) are
	// handled at once. Default 8.
	Workers int
	// Actor names the settler in invoice histories. Default "settler".
	Actor string
	// RetentionDays: RunOnce deletes the commitment streams of days this
	// old or older whose invoices are all final (paid, void, carried);
	// aggregates, invoices and archived keys stay. It must equal the
	// ledger's Options.RetentionDays. 0 keeps every stream. Default 90.
	RetentionDays int
	// LockWait bounds how long a finance action (Hold, Void, Credit…)
	// waits for the settler lock while someone else holds it. Finance
	// actions hold it for milliseconds, so a short wait lets two of them
	// queue; a settlement run holds it for minutes, and the action then
	// fails with ErrBusy instead of hanging. Default 2s; 0 does not wait.
	LockWait time.Duration
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Grace:         DefaultGrace,
		ReviewWindow:  DefaultReviewWindow,
		RetrySchedule: append([]time.Duration(nil), DefaultRetrySchedule...),
		MaxAttempts:   DefaultMaxAttempts,
		LockTTL:       DefaultLockTTL,
		Lookback:      DefaultLookback,
		Workers:       DefaultWorkers,
		Actor:         "settler",
		LockWait:      DefaultLockWait,
		RetentionDays: DefaultRetentionDays,
	}
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Grace < 0 {
		bad("grace %s: want 0 or more", c.Grace)
	}
	if c.ReviewWindow < 0 {
		bad("review window %s: want 0 or more", c.ReviewWindow)
	}
	if c.MaxAttempts < 1 {
		bad("max attempts %d: want 1 or more", c.MaxAttempts)
	}
	if c.MaxAttempts > 1 && len(c.RetrySchedule) == 0 {
		bad("retry schedule: required when max attempts is %d", c.MaxAttempts)
	}
	for i, d := range c.RetrySchedule {
		if d <= 0 {
			bad("retry schedule[%d] %s: want a positive duration", i, d)
		}
	}
	if c.LockTTL < time.Second {
		bad("lock ttl %s: want 1s or more", c.LockTTL)
	}
	if c.Lookback < 1 {
		bad("lookback %d days: want 1 or more", c.Lookback)
	}
	if c.Workers < 1 {
		bad("workers %d: want 1 or more", c.Workers)
	}
	if c.RetentionDays < 0 {
		bad("retention days %d: want 0 (keep everything) or more", c.RetentionDays)
	} else if c.RetentionDays > 0 && c.RetentionDays <= c.Lookback {
		bad("retention days %d: want more than the lookback (%d days), so that nothing is trimmed before it is settled", c.RetentionDays, c.Lookback)
	}
	if c.Actor == "" {
		bad("actor: required")
	}
	if c.LockWait < 0 {
		bad("lock wait %s: want 0 or more", c.LockWait)
	}
	return errors.Join(errs...)
}

// retryWait is how long to wait after the n-th failed attempt (n >= 1).
func (c Config) retryWait(n int64) time.Duration {
	i := int(n) - 1
	if i >= len(c.RetrySchedule) {
		i = len(c.RetrySchedule) - 1
	}
	if i < 0 {
		i = 0
	}
	return c.RetrySchedule[i]
}
