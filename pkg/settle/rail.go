package settle

import (
	"context"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// Rail is a way to collect an invoice: Stripe, an ERC-20 stablecoin. Rails
// live in subpackages and are guarded with var _ settle.Rail = (*T)(nil).
type Rail interface {
	// Name is the rail's name, as in a billing profile: "stripe", "evm".
	Name() string
	// Charge collects req.Invoice, which is charging. It returns an Outcome
	// when the result is known: paid, pending (the rail is still at it),
	// failed (definitively: nothing was collected) or carried (nothing to
	// collect on this rail now; the amount moves to the carry-over). An
	// error means the outcome is unknown (network, 5xx, RPC down): the
	// invoice stays charging and Charge is called again later with the same
	// attempt, and must then find, not repeat, what the first call did.
	Charge(ctx context.Context, req *ChargeRequest) (Outcome, error)
	// Status reconciles a pending invoice: paid, failed, or still pending.
	// An error means the status could not be learned.
	Status(ctx context.Context, inv *ledger.Invoice, payer Payer) (Outcome, error)
}

// ChargeRequest is one call of Rail.Charge.
type ChargeRequest struct {
	// Invoice is the charging invoice, with its history and attempts.
	Invoice *ledger.Invoice
	// Attempt is the charge attempt number (1, 2, …): the number of moves
	// of the invoice to charging. A resumed attempt keeps its number.
	Attempt int64
	// Started is when this attempt moved the invoice to charging.
	Started time.Time
	// Payer is who pays, as recorded when the attempt started.
	Payer Payer
	// Record writes a note on the invoice while it stays charging (see
	// ledger.Record), fenced by the settler's token; the settler fills the
	// note's attempt number and rail. A Settlement with RawTx is the
	// write-ahead record of a transaction, which must be recorded before
	// the transaction is broadcast; ledger.ErrConflict means this attempt
	// already has another one.
	Record func(ctx context.Context, set ledger.Settlement, note ledger.Attempt) error
}

// Outcome is what a rail knows about a charge.
type Outcome struct {
	// Status is paid, pending, failed or carried.
	Status ledger.Status
	// Settlement holds the settlement fields to record: PaymentIntent or
	// TxHash and Block, Charged and CarriedOut (which add up to the total
	// for paid and carried), Error for a failure. The settler sets Rail.
	Settlement ledger.Settlement
	// Detail is the rail's word for the result (succeeded, processing,
	// requires_action, a decline code, reverted, dropped, below_minimum…).
	Detail string
	// Reason is a sentence for the invoice's history.
	Reason string
}

// Payer is who pays an account's invoices, and how.
type Payer struct {
	// Account is the crawler's billing account (its operator id).
	Account string
	// Rail is the billing profile's rail: "stripe" or "evm".
	Rail string
	// StripeCustomerID is the customer charged on the stripe rail.
	StripeCustomerID string
	// Wallet is the paying address on the evm rail (EIP-55).
	Wallet string
	// Currency is the billing profile's currency.
	Currency string
}

// Payers finds who pays an account's invoices.
type Payers interface {
	// Payer returns account's payer. An account without a billing profile
	// gives an error wrapping ErrNoPayer, a wallet without a valid proof
	// ErrWalletUnproven (either fails the attempt, charging nothing); other
	// errors mean the payer could not be learned now.
	Payer(ctx context.Context, account string) (Payer, error)
}

// Fault points: where the settler and the rails call their Faults hook, so
// that tests can crash a run at every step of charging.
const (
	// FaultAfterCharging: the invoice moved to charging, no rail called.
	FaultAfterCharging = "settle/after-charging"
	// FaultBeforeOutcome: the rail answered, the outcome is not recorded.
	FaultBeforeOutcome = "settle/before-outcome"
	// FaultBeforeStripeCall: the PaymentIntent request is about to be sent.
	FaultBeforeStripeCall = "stripe/before-call"
	// FaultAfterStripeCall: Stripe answered; nothing recorded yet.
	FaultAfterStripeCall = "stripe/after-call"
	// FaultBeforeWriteAhead: the transaction is signed, not recorded.
	FaultBeforeWriteAhead = "evm/before-write-ahead"
	// FaultBeforeBroadcast: the write-ahead record is stored, the
	// transaction not sent.
	FaultBeforeBroadcast = "evm/before-broadcast"
	// FaultAfterBroadcast: the transaction is sent, nothing recorded since.
	FaultAfterBroadcast = "evm/after-broadcast"
	// FaultConfirming: waiting for confirmations.
	FaultConfirming = "evm/confirming"
)

// Fault calls hook at point, if hook is set: the test hook of the settler and
// the rails. A nil hook (production) does nothing.
func Fault(hook func(point string) error, point string) error {
	if hook == nil {
		return nil
	}
	return hook(point)
}
