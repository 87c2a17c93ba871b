package settle

import (
	"errors"

	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// Sentinel errors of the settler; match them with errors.Is.
var (
	// ErrTooEarly: the day is not over, or its grace period has not passed.
	ErrTooEarly = errors.New("settle: day not closable yet")
	// ErrNoPayer: the account has no usable billing profile.
	ErrNoPayer = errors.New("settle: no billing profile")
	// ErrWalletUnproven: an evm billing profile has no valid proof that its
	// wallet is the operator's. Like ErrNoPayer, the invoice fails its
	// attempt (outcome "wallet_unproven") and nothing is charged.
	ErrWalletUnproven = errors.New("settle: wallet not proven the operator's")
	// ErrNoRail: no rail of that name is configured.
	ErrNoRail = errors.New("settle: rail not configured")
	// ErrNoArchive: Archive was called on a settler without a cold tier.
	ErrNoArchive = errors.New("settle: no archive configured")
	// ErrStuck: a charge whose outcome cannot be learned safely any more
	// (such as a Stripe idempotency key about to expire): the invoice stays
	// charging, and a person must reconcile it with the rail.
	ErrStuck = errors.New("settle: invoice needs manual reconciliation")
	// ErrLockLost: the run outlived its lock's time to live and stopped.
	ErrLockLost = errors.New("settle: lock expired during the run")
	// ErrBusy: a finance action found the settler lock held by a
	// settlement run (or by other finance actions for longer than
	// Config.LockWait). Nothing was changed; try again in a minute.
	ErrBusy = errors.New("settle: the settler is charging right now, try again in a minute")
	// ErrNotChecked: ApproveEarly refused a draft whose day has not been
	// checked against its commitments, or whose check found a mismatch
	// that finance has not reviewed (held, then released).
	ErrNotChecked = errors.New("settle: invoice not checked")
	// ErrInjected marks errors returned by Faults hooks in tests: a run that
	// meets one stops at once, as a crashed process would.
	ErrInjected = errors.New("settle: injected fault")
)

func isLockLost(err error) bool { return errors.Is(err, ErrLockLost) }

func isFenced(err error) bool { return errors.Is(err, ledger.ErrFenced) }
