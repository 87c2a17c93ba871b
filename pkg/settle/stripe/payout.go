package stripe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	stripeapi "github.com/stripe/stripe-go/v76"

	"github.com/paycrawl/paycrawl/pkg/earnings"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

var _ settle.PayoutRail = (*Rail)(nil)

// PayoutKey is the idempotency key of an attempt of a payout: derived from
// the payout's id (itself derived from period, publisher and currency) and
// the attempt, never chosen by a client, so a resent transfer request is
// the same transfer to Stripe.
func PayoutKey(payout string, attempt int64) string {
	return "paycrawl-" + payout + "-a" + strconv.FormatInt(attempt, 10)
}

// Metadata keys of a payout's transfer.
const (
	MetadataPayout    = "paycrawl_payout"
	MetadataPublisher = "paycrawl_publisher"
)

// Payout sends a payout as a Stripe Connect transfer to the publisher's
// connected account (POST /v1/transfers, whole cents, transfer_group the
// payout id) under the attempt's idempotency key. A created transfer is
// paid; a request Stripe refuses (400, 402, 404: an unknown or restricted
// account, a platform balance too low) fails, moving nothing. Network
// errors, 5xx and the rest return an error: the outcome is unknown, and the
// resumed attempt sends the same key, which Stripe answers with the first
// transfer.
func (r *Rail) Payout(ctx context.Context, req *settle.PayoutRequest) (settle.PayoutOutcome, error) {
	po := req.Payout
	if strings.HasPrefix(po.Reference, "tr_") {
		return settle.PayoutOutcome{Status: earnings.PayoutPaid, Reference: po.Reference,
			Reason: "transfer " + po.Reference + " was created before"}, nil
	}
	cents, rest := po.Amount.Cents()
	if rest != 0 || cents <= 0 || po.Currency != "USD" {
		msg := fmt.Sprintf("Stripe transfers whole cents of USD, not %s %s", po.Amount, po.Currency)
		return settle.PayoutOutcome{Status: earnings.PayoutFailed, Error: msg, Reason: msg}, nil
	}
	params := &stripeapi.TransferParams{
		Amount:        stripeapi.Int64(cents),
		Currency:      stripeapi.String(string(stripeapi.CurrencyUSD)),
		Destination:   stripeapi.String(po.Destination),
		TransferGroup: stripeapi.String(po.ID),
		Description:   stripeapi.String("paycrawl payout " + po.Period),
	}
	params.Context = ctx
	params.SetIdempotencyKey(PayoutKey(po.ID, po.Attempt))
	params.AddMetadata(MetadataPayout, po.ID)
	params.AddMetadata(MetadataPublisher, po.Publisher)
	if err := settle.Fault(r.faults, settle.FaultBeforeStripeCall); err != nil {
		return settle.PayoutOutcome{}, err
	}
	tr, err := r.api.Transfers.New(params)
	if ferr := settle.Fault(r.faults, settle.FaultAfterStripeCall); ferr != nil {
		return settle.PayoutOutcome{}, ferr
	}
	if err != nil {
		var se *stripeapi.Error
		if errors.As(err, &se) && (se.HTTPStatusCode == http.StatusBadRequest || se.HTTPStatusCode == http.StatusPaymentRequired ||
			se.HTTPStatusCode == http.StatusNotFound) {
			msg := fmt.Sprintf("Stripe refused the transfer: %s (%s)", se.Msg, orWord(string(se.Code), "invalid_request"))
			return settle.PayoutOutcome{Status: earnings.PayoutFailed, Error: msg, Reason: msg}, nil
		}
		return settle.PayoutOutcome{}, fmt.Errorf("stripe: payout %s (attempt %d, key %s): %w", po.ID, po.Attempt, PayoutKey(po.ID, po.Attempt), err)
	}
	if tr.Amount != cents {
		return settle.PayoutOutcome{}, fmt.Errorf("%w: transfer %s of payout %s is for %d cents, not %d", settle.ErrStuck, tr.ID, po.ID, tr.Amount, cents)
	}
	return settle.PayoutOutcome{Status: earnings.PayoutPaid, Reference: tr.ID,
		Reason: fmt.Sprintf("paid %s USD to %s by Stripe transfer %s", money.FromCents(cents), po.Destination, tr.ID)}, nil
}
