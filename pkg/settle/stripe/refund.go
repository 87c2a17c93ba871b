package stripe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	stripeapi "github.com/stripe/stripe-go/v76"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

var _ settle.Refunder = (*Rail)(nil)

// RefundKey is the idempotency key of refund seq of an invoice: derived from
// the invoice and the refund's sequence, never chosen by a client, so a
// resent refund request is the same refund to Stripe.
func RefundKey(invoice string, seq int64) string {
	return "paycrawl-" + invoice + "-r" + strconv.FormatInt(seq, 10)
}

// MetadataRefund is the metadata key naming the refund's sequence.
const MetadataRefund = "refund"

// Refund refunds req.Refund.Amount (whole cents) of the invoice's
// PaymentIntent with the refund's idempotency key: succeeded → done;
// pending or requires_action → pending (the refund id is noted, and a
// resumed call looks it up); failed or canceled → failed; a request Stripe
// refuses (400, 402, 404: more than is left, no such intent) → failed.
// Network errors, 5xx and the rest return an error: the outcome is unknown
// and a resent request with the same key learns it.
func (r *Rail) Refund(ctx context.Context, req *settle.RefundRequest) (settle.RefundOutcome, error) {
	inv, ref := req.Invoice, req.Refund
	if inv.PaymentIntent == "" {
		return refundFailed(fmt.Sprintf("invoice %s has no PaymentIntent to refund", inv.ID), ""), nil
	}
	cents, rest := ref.Amount.Cents()
	if rest != 0 || cents <= 0 {
		return refundFailed(fmt.Sprintf("Stripe refunds whole cents, not %s %s", ref.Amount, inv.Currency), ""), nil
	}
	if strings.HasPrefix(ref.Reference, "re_") { // a pending refund already created: look it up
		p := &stripeapi.RefundParams{}
		p.Context = ctx
		rf, err := r.api.Refunds.Get(ref.Reference, p)
		if err != nil {
			return settle.RefundOutcome{}, fmt.Errorf("stripe: retrieving refund %s of invoice %s: %w", ref.Reference, inv.ID, err)
		}
		return r.mapRefund(inv, ref, rf)
	}
	params := &stripeapi.RefundParams{
		PaymentIntent: stripeapi.String(inv.PaymentIntent),
		Amount:        stripeapi.Int64(cents),
	}
	params.Context = ctx
	params.SetIdempotencyKey(RefundKey(inv.ID, ref.Seq))
	params.AddMetadata(MetadataInvoice, inv.ID)
	params.AddMetadata(MetadataRefund, strconv.FormatInt(ref.Seq, 10))
	if err := settle.Fault(r.faults, settle.FaultBeforeStripeCall); err != nil {
		return settle.RefundOutcome{}, err
	}
	rf, err := r.api.Refunds.New(params)
	if ferr := settle.Fault(r.faults, settle.FaultAfterStripeCall); ferr != nil {
		return settle.RefundOutcome{}, ferr
	}
	if err != nil {
		var se *stripeapi.Error
		if errors.As(err, &se) && se.Type == stripeapi.ErrorTypeInvalidRequest &&
			(se.HTTPStatusCode == http.StatusBadRequest || se.HTTPStatusCode == http.StatusPaymentRequired || se.HTTPStatusCode == http.StatusNotFound) {
			return refundFailed(fmt.Sprintf("Stripe refused the refund: %s (%s)", se.Msg, orWord(string(se.Code), "invalid_request")), ""), nil
		}
		return settle.RefundOutcome{}, fmt.Errorf("stripe: refunding invoice %s (refund %d, key %s): %w", inv.ID, ref.Seq, RefundKey(inv.ID, ref.Seq), err)
	}
	return r.mapRefund(inv, ref, rf)
}

// mapRefund maps a Refund's status to an outcome.
func (r *Rail) mapRefund(inv *ledger.Invoice, ref ledger.Refund, rf *stripeapi.Refund) (settle.RefundOutcome, error) {
	cents, _ := ref.Amount.Cents()
	switch rf.Status {
	case stripeapi.RefundStatusSucceeded:
		if rf.Amount != cents {
			return settle.RefundOutcome{}, fmt.Errorf("%w: refund %s of invoice %s is for %d cents, the ledger's refund %d for %d",
				settle.ErrStuck, rf.ID, inv.ID, rf.Amount, ref.Seq, cents)
		}
		return settle.RefundOutcome{Status: ledger.RefundDone, Reference: rf.ID,
			Reason: fmt.Sprintf("refunded %s %s by Stripe refund %s", money.FromCents(cents), inv.Currency, rf.ID)}, nil
	case stripeapi.RefundStatusPending, stripeapi.RefundStatusRequiresAction:
		return settle.RefundOutcome{Status: ledger.RefundPending, Reference: rf.ID}, nil
	case stripeapi.RefundStatusFailed, stripeapi.RefundStatusCanceled:
		o := refundFailed(fmt.Sprintf("Stripe refund %s is %s", rf.ID, rf.Status), rf.ID)
		if rf.FailureReason != "" {
			o.Error += ": " + string(rf.FailureReason)
			o.Reason = o.Error
		}
		return o, nil
	}
	return settle.RefundOutcome{}, fmt.Errorf("stripe: refund %s of invoice %s has unexpected status %q", rf.ID, inv.ID, rf.Status)
}

func refundFailed(msg, ref string) settle.RefundOutcome {
	return settle.RefundOutcome{Status: ledger.RefundFailed, Reference: ref, Error: msg, Reason: msg}
}
