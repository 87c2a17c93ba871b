package ledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Sentinel errors of the ledger; match them with errors.Is. Errors returned by
// the ledger wrap one of these (or a context error) with details.
var (
	// ErrReplay: one of the commitment's replay ids was already used by
	// another request. Nothing was recorded.
	ErrReplay = errors.New("ledger: replayed signature")
	// ErrOverCap: the commitment would take the crawler's total for the day
	// (in its currency) above the daily cap. Nothing was recorded.
	ErrOverCap = errors.New("ledger: daily spend cap reached")
	// ErrOverMaxPrice: the price is above the crawler's max price per request.
	ErrOverMaxPrice = errors.New("ledger: price above max price")
	// ErrQuotaExhausted: the commitment counts against a subscription
	// quota with a hard stop, and the period's quota is used up. Nothing
	// was recorded.
	ErrQuotaExhausted = errors.New("ledger: subscription quota exhausted")
	// ErrPrepaidExhausted: the prepaid balance is below what the
	// commitment draws. Nothing was recorded.
	ErrPrepaidExhausted = errors.New("ledger: prepaid balance exhausted")
	// ErrDayClosed: the crawler-day is closed for invoicing; a commitment
	// received that day can no longer be appended.
	ErrDayClosed = errors.New("ledger: day closed")
	// ErrUnavailable: Redis could not be reached or refused to serve (down,
	// loading, cluster down, out of memory, persistence failing). The
	// operation may or may not have been applied if it was a write whose
	// reply was lost; every write of the ledger is safe to resend.
	ErrUnavailable = errors.New("ledger: redis unavailable")
	// ErrUnreplicated: an append was recorded on its master but not
	// confirmed by Options.MinReplicas replicas within ReplicaTimeout, so a
	// failover now could lose it. Its durability is unknown, so it also
	// matches ErrUnavailable: the commitment exists on the master and may
	// survive. Resending the same commitment is safe (it is answered as a
	// duplicate and waited for again).
	ErrUnreplicated = errors.New("ledger: append not confirmed by enough replicas")
	// ErrCorrupt: a stored commitment cannot be decoded (a malformed
	// record, or the profile its compact record names is missing).
	ErrCorrupt = errors.New("ledger: stored record corrupt")
	// ErrNotFound: the invoice, key or record does not exist.
	ErrNotFound = errors.New("ledger: not found")
	// ErrTransition: the invoice's current status does not allow the
	// requested change. The error is a *TransitionError naming the status.
	ErrTransition = errors.New("ledger: transition not allowed")
	// ErrFenced: a fencing token lower than one the invoice has already seen;
	// the caller's lock has been taken over by someone else.
	ErrFenced = errors.New("ledger: stale fencing token")
	// ErrLocked: the lock is held by someone else.
	ErrLocked = errors.New("ledger: lock held")
	// ErrInvalid: an argument is malformed (account id, day, currency,
	// amount out of range, missing field).
	ErrInvalid = errors.New("ledger: invalid argument")
	// ErrAmounts: a final settlement whose amounts do not add up
	// (charged + carried out must equal the invoice total).
	ErrAmounts = errors.New("ledger: settlement amounts do not add up")
	// ErrMismatch: a crawler-day's aggregate differs from the sum of its
	// stream. The error is a *MismatchError listing the differences.
	ErrMismatch = errors.New("ledger: aggregate does not match stream")
	// ErrConflict: the charge attempt already has another write-ahead
	// record (see Record); nothing was changed.
	ErrConflict = errors.New("ledger: attempt already has a write-ahead record")
	// ErrPrepaidDisputed: a refund of a prepaid top-up whose credit a
	// card dispute's chargeback holds (see ReversePrepaid); nothing was
	// changed.
	ErrPrepaidDisputed = errors.New("ledger: top-up disputed")
	// ErrRetention: the day is not old enough to be trimmed.
	ErrRetention = errors.New("ledger: day within retention period")
)

// ErrPrepaidConflict: a top-up was credited another amount than the one a
// credit, a refund's reversal or a dispute names (CreditPrepaid,
// ReversePrepaid, ChargebackPrepaid, ReinstatePrepaid); nothing was
// changed, and retrying changes nothing either: a person must look. It is
// also ErrConflict (errors.Is).
var ErrPrepaidConflict error = conflictError("ledger: top-up credited another amount")

// conflictError is an error that is also ErrConflict.
type conflictError string

func (e conflictError) Error() string { return string(e) }

// Is makes a conflictError match ErrConflict.
func (e conflictError) Is(target error) bool { return target == ErrConflict }

// wrap maps errors that mean "Redis cannot serve" to ErrUnavailable, keeping
// the original in the chain. Context cancellation by the caller stays as is.
func wrap(err error) error {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return err
	}
	if unavailable(err) {
		return &unavailableError{err}
	}
	return err
}

// wrapf wraps a non-nil err with a prefix, after wrap.
func wrapf(prefix string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", prefix, wrap(err))
}

// unavailableError is an error of Redis's that matches ErrUnavailable.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string        { return "redis unavailable: " + e.err.Error() }
func (e *unavailableError) Unwrap() error        { return e.err }
func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }

func unavailable(err error) bool {
	var ne net.Error
	switch {
	case errors.As(err, &ne),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolTimeout),
		redis.IsLoadingError(err), redis.IsClusterDownError(err), redis.IsTryAgainError(err),
		redis.IsMasterDownError(err), redis.IsReadOnlyError(err), redis.IsMaxClientsError(err),
		redis.IsOOMError(err), redis.IsNoReplicasError(err):
		return true
	}
	// MISCONF: Redis refuses writes because it cannot persist them. MOVED
	// and ASK reach the ledger only from a node it addressed itself (see
	// batcher): the slot moved (failover, resharding) and the command did
	// not run there.
	return strings.HasPrefix(err.Error(), "MISCONF") ||
		redis.HasErrorPrefix(err, "MOVED") || redis.HasErrorPrefix(err, "ASK")
}

// unreplicatedError is an append that WAIT did not confirm on enough
// replicas; it matches ErrUnreplicated and ErrUnavailable.
type unreplicatedError struct {
	got, want int64
	err       error // WAIT's own error, if it failed
}

func (e *unreplicatedError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("not confirmed by %d replica(s): WAIT: %v", e.want, e.err)
	}
	return fmt.Sprintf("confirmed by %d of %d replica(s) in time", e.got, e.want)
}
func (e *unreplicatedError) Unwrap() error { return e.err }
func (e *unreplicatedError) Is(target error) bool {
	return target == ErrUnreplicated || target == ErrUnavailable
}

// reply reads a script's {"status", ...} array reply.
func reply(cmd *redis.Cmd) ([]string, error) {
	v, err := cmd.Result()
	if err != nil {
		return nil, wrap(err)
	}
	arr, ok := v.([]interface{})
	if !ok || len(arr) == 0 {
		return nil, fmt.Errorf("ledger: unexpected script reply %T %v", v, v)
	}
	out := make([]string, len(arr))
	for i, e := range arr {
		switch e := e.(type) {
		case string:
			out[i] = e
		case int64:
			out[i] = fmt.Sprint(e)
		default:
			return nil, fmt.Errorf("ledger: unexpected script reply element %T", e)
		}
	}
	return out, nil
}
