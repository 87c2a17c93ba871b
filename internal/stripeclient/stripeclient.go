// Package stripeclient builds stripe-go API clients for paycrawl: against a
// configurable base URL (Stripe, or stripe-mock in tests and demos), with a
// bounded HTTP timeout, a bounded retry budget and stripe-go's own logging
// off (callers log with slog).
package stripeclient

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

// Config says how to reach Stripe.
type Config struct {
	// APIKey is the secret key (sk_…). Required.
	APIKey string
	// BaseURL is the API base URL; "" means Stripe's.
	BaseURL string
	// HTTPClient sends the requests; nil means one with Timeout.
	HTTPClient *http.Client
	// Timeout bounds one request when HTTPClient is nil; 0 means 30 s.
	Timeout time.Duration
	// MaxNetworkRetries is stripe-go's retry budget for one call (a retry
	// carries the same idempotency key); 0 means 2, negative none.
	MaxNetworkRetries int64
}

// New returns an API client for cfg. It does not contact Stripe.
func New(cfg Config) (*client.API, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("stripe: an API key is required")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		timeout := cfg.Timeout
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		hc = &http.Client{Timeout: timeout}
	}
	retries := cfg.MaxNetworkRetries
	switch {
	case retries == 0:
		retries = 2
	case retries < 0:
		retries = 0
	}
	bc := &stripe.BackendConfig{
		HTTPClient:        hc,
		MaxNetworkRetries: stripe.Int64(retries),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if cfg.BaseURL != "" {
		bc.URL = stripe.String(strings.TrimRight(cfg.BaseURL, "/"))
	}
	return client.New(cfg.APIKey, &stripe.Backends{
		API:     stripe.GetBackendWithConfig(stripe.APIBackend, bc),
		Connect: stripe.GetBackendWithConfig(stripe.ConnectBackend, bc),
		Uploads: stripe.GetBackendWithConfig(stripe.UploadsBackend, bc),
	}), nil
}
