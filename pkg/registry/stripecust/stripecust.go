// Package stripecust creates and checks the Stripe customers of crawler
// operators on the stripe rail, with stripe-go against a configurable API
// base URL (Stripe itself, or stripe-mock in tests and demos). It implements
// registry.Customers.
package stripecust

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"time"

	"github.com/paycrawl/paycrawl/internal/stripeclient"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

// MetadataOperator is the customer metadata key that names the operator a
// Stripe customer belongs to.
const MetadataOperator = "paycrawl_operator"

// Config says how to reach Stripe.
type Config struct {
	// APIKey is the secret key (sk_…). Required.
	APIKey string
	// BaseURL is the API base URL; "" means Stripe's
	// (https://api.stripe.com). Tests point it at stripe-mock.
	BaseURL string
	// HTTPClient sends the requests; nil means a client with a 15 s timeout.
	HTTPClient *http.Client
	// MaxNetworkRetries is stripe-go's retry budget; 0 means 2, negative
	// none. Customer
	// creation carries an idempotency key, so a retry never creates two.
	MaxNetworkRetries int64
}

// Customers is a registry.Customers on the Stripe API.
type Customers struct {
	api *client.API
}

var _ registry.Customers = (*Customers)(nil)

// New returns Customers for cfg.
func New(cfg Config) (*Customers, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("stripecust: no API key")
	}
	api, err := stripeclient.New(stripeclient.Config{APIKey: cfg.APIKey, BaseURL: cfg.BaseURL,
		HTTPClient: cfg.HTTPClient, Timeout: 15 * time.Second, MaxNetworkRetries: cfg.MaxNetworkRetries})
	if err != nil {
		return nil, err
	}
	return &Customers{api: api}, nil
}

// CreateCustomer creates a customer named after the operator, with the
// contact as email when it is an address, and metadata paycrawl_operator =
// op.ID. The idempotency key is derived from the operator id, so a retried
// call (even from another process, within Stripe's 24 h idempotency window)
// returns the same customer.
func (c *Customers) CreateCustomer(ctx context.Context, op registry.Operator) (string, error) {
	p := &stripe.CustomerParams{
		Name:        stripe.String(op.Name),
		Description: stripe.String("paycrawl crawler operator " + op.ID),
	}
	if a, err := mail.ParseAddress(op.Contact); err == nil {
		p.Email = stripe.String(a.Address)
	}
	p.Context = ctx
	p.SetIdempotencyKey("paycrawl-customer-" + op.ID)
	p.AddMetadata(MetadataOperator, op.ID)
	cus, err := c.api.Customers.New(p)
	if err != nil {
		return "", providerError("creating the customer", err)
	}
	return cus.ID, nil
}

// CustomerOwner returns the operator id in a customer's metadata, "" when it
// has none. An unknown customer wraps registry.ErrNotFound.
func (c *Customers) CustomerOwner(ctx context.Context, customerID string) (string, error) {
	p := &stripe.CustomerParams{}
	p.Context = ctx
	cus, err := c.api.Customers.Get(customerID, p)
	if err != nil {
		var se *stripe.Error
		if errors.As(err, &se) && se.HTTPStatusCode == http.StatusNotFound {
			return "", fmt.Errorf("%w: Stripe customer %s", registry.ErrNotFound, customerID)
		}
		return "", providerError("reading the customer", err)
	}
	if cus.Deleted {
		return "", fmt.Errorf("%w: Stripe customer %s was deleted", registry.ErrNotFound, customerID)
	}
	return cus.Metadata[MetadataOperator], nil
}

func providerError(what string, err error) error {
	var se *stripe.Error
	if errors.As(err, &se) {
		return fmt.Errorf("%w: Stripe, %s: %s (%s, status %d)", registry.ErrBillingProvider, what, se.Msg, se.Type, se.HTTPStatusCode)
	}
	return fmt.Errorf("%w: Stripe, %s: %v", registry.ErrBillingProvider, what, err)
}
