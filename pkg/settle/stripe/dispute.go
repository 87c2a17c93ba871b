package stripe

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	stripeapi "github.com/stripe/stripe-go/v76"

	"github.com/paycrawl/paycrawl/pkg/settle"
)

var _ settle.IntentInvoices = (*Rail)(nil)

// InvoiceOfIntent returns the invoice whose charge PaymentIntent id is, by
// the metadata the rail set on it (MetadataInvoice), read back from Stripe:
// a dispute names a PaymentIntent, not an invoice. A PaymentIntent Stripe
// does not know, or one paycrawl did not create, wraps settle.ErrNotOurs.
func (r *Rail) InvoiceOfIntent(ctx context.Context, id string) (string, error) {
	p := &stripeapi.PaymentIntentParams{}
	p.Context = ctx
	pi, err := r.api.PaymentIntents.Get(id, p)
	var se *stripeapi.Error
	if errors.As(err, &se) && se.HTTPStatusCode == http.StatusNotFound {
		return "", fmt.Errorf("%w: Stripe has no PaymentIntent %s", settle.ErrNotOurs, id)
	}
	if err != nil {
		return "", fmt.Errorf("stripe: retrieving PaymentIntent %s: %w", id, err)
	}
	inv := pi.Metadata[MetadataInvoice]
	if inv == "" {
		return "", fmt.Errorf("%w: PaymentIntent %s has no %s metadata", settle.ErrNotOurs, id, MetadataInvoice)
	}
	return inv, nil
}
