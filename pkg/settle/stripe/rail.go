package stripe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	stripeapi "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/paycrawl/paycrawl/internal/stripeclient"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// Name is the rail's name, as in billing profiles.
const Name = "stripe"

// Defaults of Config.
const (
	DefaultMinimumCents = 50
	DefaultKeyWindow    = 23 * time.Hour
	DefaultTimeout      = 30 * time.Second
)

// Config says how to reach Stripe and how to charge.
type Config struct {
	// APIKey is the secret key (sk_…). Required.
	APIKey string
	// BaseURL is the API base URL; "" means Stripe's. Tests and the demo
	// point it at stripe-mock.
	BaseURL string
	// MinimumCents is the smallest charge; smaller totals are carried
	// over. 0 means 50 (Stripe's minimum for USD cards).
	MinimumCents int64
	// KeyWindow is how long after an attempt started its idempotency key
	// may still be sent. 0 means 23h, safely inside Stripe's 24 h.
	KeyWindow time.Duration
	// HTTPClient sends the requests; nil means one with a 30 s timeout.
	HTTPClient *http.Client
	// MaxNetworkRetries is stripe-go's retry budget for one call (each
	// retry carries the same idempotency key). 0 means 2; negative none.
	MaxNetworkRetries int64
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger; default discards.
	Logger *slog.Logger
	// Faults is a test hook called at settle.FaultBeforeStripeCall and
	// settle.FaultAfterStripeCall; nil in production.
	Faults func(point string) error
}

// Rail charges invoices through Stripe PaymentIntents.
type Rail struct {
	api    *client.API
	min    int64
	window time.Duration
	now    func() time.Time
	log    *slog.Logger
	faults func(point string) error
}

var _ settle.Rail = (*Rail)(nil)

// New returns the rail for cfg. It does not contact Stripe.
func New(cfg Config) (*Rail, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("stripe: an API key is required")
	}
	if cfg.MinimumCents < 0 || cfg.KeyWindow < 0 {
		return nil, errors.New("stripe: minimum and key window must not be negative")
	}
	api, err := stripeclient.New(stripeclient.Config{APIKey: cfg.APIKey, BaseURL: cfg.BaseURL,
		HTTPClient: cfg.HTTPClient, Timeout: DefaultTimeout, MaxNetworkRetries: cfg.MaxNetworkRetries})
	if err != nil {
		return nil, err
	}
	r := &Rail{
		api:    api,
		min:    cfg.MinimumCents,
		window: cfg.KeyWindow,
		now:    cfg.Now,
		log:    cfg.Logger,
		faults: cfg.Faults,
	}
	if r.min == 0 {
		r.min = DefaultMinimumCents
	}
	if r.window == 0 {
		r.window = DefaultKeyWindow
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return r, nil
}

// Name returns "stripe".
func (r *Rail) Name() string { return Name }

// IdempotencyKey is the key of one charge attempt of an invoice.
func IdempotencyKey(invoice string, attempt int64) string {
	return "paycrawl-" + invoice + "-a" + strconv.FormatInt(attempt, 10)
}

// OutcomeRequested is the attempt note recorded before the PaymentIntent
// request, its Reference the payment method charged.
const OutcomeRequested = "requested"

// requested returns the payment method noted for attempt n, "" if none.
func requested(inv *ledger.Invoice, n int64) string {
	for i := len(inv.Attempts) - 1; i >= 0; i-- {
		if a := inv.Attempts[i]; a.Number == n && a.Outcome == OutcomeRequested {
			return a.Reference
		}
	}
	return ""
}

// Metadata keys set on every PaymentIntent.
const (
	MetadataInvoice = "invoice"
	MetadataAttempt = "attempt"
)

// Charge collects req.Invoice: below the minimum it is carried over without
// a call; otherwise the customer's default payment method (noted on the
// invoice before the call, and reused when the attempt is resumed) is
// charged with an off-session PaymentIntent, confirmed at once, amount in
// cents, with the attempt's idempotency key. succeeded → paid (the sub-cent remainder carried
// over); processing or requires_action → pending; a card error →
// failed with Stripe's decline code; requires_payment_method or canceled →
// failed. Network errors, 5xx, rate limits and anything unexpected return an
// error: the outcome is unknown and the next call, with the same key, learns
// it.
func (r *Rail) Charge(ctx context.Context, req *settle.ChargeRequest) (settle.Outcome, error) {
	inv := req.Invoice
	if len(inv.Currency) != 3 {
		return failed(fmt.Sprintf("the stripe rail charges ISO currencies; invoice %s is in %s", inv.ID, inv.Currency), "currency", ""), nil
	}
	cents, _ := inv.Total.Cents()
	if cents < r.min {
		msg := fmt.Sprintf("%s %s is below the minimum charge of %s %s: carried over to the next invoice",
			inv.Total, inv.Currency, money.FromCents(r.min), inv.Currency)
		return settle.Outcome{Status: ledger.StatusCarried, Settlement: ledger.Settlement{CarriedOut: inv.Total},
			Detail: "below_minimum", Reason: msg}, nil
	}
	if age := r.now().Sub(req.Started); age > r.window {
		return settle.Outcome{}, fmt.Errorf("%w: invoice %s attempt %d has been charging since %s (%s), beyond the %s in which "+
			"its idempotency key %s may be resent: look up the PaymentIntents with metadata invoice=%s in Stripe and settle it by hand",
			settle.ErrStuck, inv.ID, req.Attempt, req.Started.UTC().Format(time.RFC3339), age.Round(time.Minute), r.window,
			IdempotencyKey(inv.ID, req.Attempt), inv.ID)
	}
	if req.Payer.StripeCustomerID == "" {
		return failed(fmt.Sprintf("account %s has no Stripe customer", inv.Account), "no_customer", ""), nil
	}
	// A resumed attempt sends the very request the first call sent (Stripe
	// refuses a key reused with other parameters): the payment method is
	// the one noted then, not the customer's default now.
	pm := requested(inv, req.Attempt)
	if pm == "" {
		var o *settle.Outcome
		var err error
		if pm, o, err = r.defaultPaymentMethod(ctx, req.Payer.StripeCustomerID); err != nil || o != nil {
			return deref(o), err
		}
		err = req.Record(ctx, ledger.Settlement{}, ledger.Attempt{Outcome: OutcomeRequested, Reference: pm, Amount: money.FromCents(cents)})
		if err != nil {
			return settle.Outcome{}, fmt.Errorf("stripe: noting the request of %s: %w", inv.ID, err)
		}
	}
	params := &stripeapi.PaymentIntentParams{
		Amount:        stripeapi.Int64(cents),
		Currency:      stripeapi.String(strings.ToLower(inv.Currency)),
		Customer:      stripeapi.String(req.Payer.StripeCustomerID),
		PaymentMethod: stripeapi.String(pm),
		OffSession:    stripeapi.Bool(true),
		Confirm:       stripeapi.Bool(true),
		Description:   stripeapi.String(fmt.Sprintf("paycrawl %s usage of %s (invoice %s)", inv.Day, inv.Account, inv.ID)),
	}
	params.Context = ctx
	params.SetIdempotencyKey(IdempotencyKey(inv.ID, req.Attempt))
	params.AddMetadata(MetadataInvoice, inv.ID)
	params.AddMetadata(MetadataAttempt, strconv.FormatInt(req.Attempt, 10))
	if err := settle.Fault(r.faults, settle.FaultBeforeStripeCall); err != nil {
		return settle.Outcome{}, err
	}
	pi, err := r.api.PaymentIntents.New(params)
	if ferr := settle.Fault(r.faults, settle.FaultAfterStripeCall); ferr != nil {
		return settle.Outcome{}, ferr
	}
	if err != nil {
		return r.mapError(inv, req.Attempt, err)
	}
	return r.mapIntent(inv, pi)
}

// Status retrieves the invoice's PaymentIntent and maps it like Charge.
func (r *Rail) Status(ctx context.Context, inv *ledger.Invoice, _ settle.Payer) (settle.Outcome, error) {
	if inv.PaymentIntent == "" {
		return settle.Outcome{}, fmt.Errorf("stripe: invoice %s has no PaymentIntent to look up", inv.ID)
	}
	p := &stripeapi.PaymentIntentParams{}
	p.Context = ctx
	pi, err := r.api.PaymentIntents.Get(inv.PaymentIntent, p)
	if err != nil {
		return settle.Outcome{}, fmt.Errorf("stripe: retrieving %s of invoice %s: %w", inv.PaymentIntent, inv.ID, err)
	}
	return r.mapIntent(inv, pi)
}

// defaultPaymentMethod returns the customer's invoice_settings
// default_payment_method, or a failed outcome if there is none.
func (r *Rail) defaultPaymentMethod(ctx context.Context, customer string) (string, *settle.Outcome, error) {
	p := &stripeapi.CustomerParams{}
	p.Context = ctx
	cus, err := r.api.Customers.Get(customer, p)
	if err != nil {
		var se *stripeapi.Error
		if errors.As(err, &se) && se.HTTPStatusCode == http.StatusNotFound {
			o := failed(fmt.Sprintf("Stripe has no customer %s", customer), "no_customer", "")
			return "", &o, nil
		}
		return "", nil, fmt.Errorf("stripe: retrieving customer %s: %w", customer, err)
	}
	if cus.Deleted {
		o := failed(fmt.Sprintf("Stripe customer %s was deleted", customer), "no_customer", "")
		return "", &o, nil
	}
	if cus.InvoiceSettings == nil || cus.InvoiceSettings.DefaultPaymentMethod == nil || cus.InvoiceSettings.DefaultPaymentMethod.ID == "" {
		o := failed(fmt.Sprintf("Stripe customer %s has no default payment method", customer), "no_payment_method", "")
		return "", &o, nil
	}
	return cus.InvoiceSettings.DefaultPaymentMethod.ID, nil, nil
}

// mapIntent maps a PaymentIntent's status to an outcome.
func (r *Rail) mapIntent(inv *ledger.Invoice, pi *stripeapi.PaymentIntent) (settle.Outcome, error) {
	cents, rest := inv.Total.Cents()
	switch pi.Status {
	case stripeapi.PaymentIntentStatusSucceeded:
		if pi.Amount != cents {
			return settle.Outcome{}, fmt.Errorf("%w: PaymentIntent %s of invoice %s is for %d cents, the invoice for %d",
				settle.ErrStuck, pi.ID, inv.ID, pi.Amount, cents)
		}
		return settle.Outcome{Status: ledger.StatusPaid, Detail: string(pi.Status),
			Settlement: ledger.Settlement{PaymentIntent: pi.ID, Charged: money.FromCents(cents), CarriedOut: rest},
			Reason:     fmt.Sprintf("paid %s %s by PaymentIntent %s%s", money.FromCents(cents), inv.Currency, pi.ID, carriedNote(rest, inv.Currency))}, nil
	case stripeapi.PaymentIntentStatusProcessing, stripeapi.PaymentIntentStatusRequiresAction:
		return settle.Outcome{Status: ledger.StatusPending, Detail: string(pi.Status),
			Settlement: ledger.Settlement{PaymentIntent: pi.ID},
			Reason:     fmt.Sprintf("PaymentIntent %s is %s", pi.ID, pi.Status)}, nil
	case stripeapi.PaymentIntentStatusRequiresPaymentMethod, stripeapi.PaymentIntentStatusCanceled:
		msg := fmt.Sprintf("PaymentIntent %s is %s", pi.ID, pi.Status)
		detail := string(pi.Status)
		if e := pi.LastPaymentError; e != nil {
			msg += ": " + e.Msg
			if e.DeclineCode != "" {
				detail = string(e.DeclineCode)
			}
		}
		return failed(msg, detail, pi.ID), nil
	}
	return settle.Outcome{}, fmt.Errorf("stripe: PaymentIntent %s of invoice %s has unexpected status %q", pi.ID, inv.ID, pi.Status)
}

// mapError maps an error of the PaymentIntent creation: card errors and
// requests Stripe refused are definitive failures (no money moved); the
// rest leaves the outcome unknown.
func (r *Rail) mapError(inv *ledger.Invoice, attempt int64, err error) (settle.Outcome, error) {
	var se *stripeapi.Error
	if !errors.As(err, &se) {
		return settle.Outcome{}, fmt.Errorf("stripe: charging invoice %s: %w", inv.ID, err)
	}
	piID := ""
	if se.PaymentIntent != nil {
		piID = se.PaymentIntent.ID
	}
	switch {
	case se.Type == stripeapi.ErrorTypeCard:
		detail := string(se.DeclineCode)
		if detail == "" {
			detail = string(se.Code)
		}
		msg := fmt.Sprintf("card declined: %s", detail)
		if se.Code != "" && string(se.Code) != detail {
			msg += " (" + string(se.Code) + ")"
		}
		if se.Msg != "" {
			msg += ": " + se.Msg
		}
		return failed(msg, detail, piID), nil
	case se.Type == stripeapi.ErrorTypeIdempotency:
		return settle.Outcome{}, fmt.Errorf("%w: Stripe refused idempotency key %s of invoice %s: %s", settle.ErrStuck,
			IdempotencyKey(inv.ID, attempt), inv.ID, se.Msg)
	case se.Type == stripeapi.ErrorTypeInvalidRequest &&
		(se.HTTPStatusCode == http.StatusBadRequest || se.HTTPStatusCode == http.StatusPaymentRequired || se.HTTPStatusCode == http.StatusNotFound):
		return failed(fmt.Sprintf("Stripe refused the charge: %s (%s)", se.Msg, orWord(string(se.Code), "invalid_request")), orWord(string(se.Code), "invalid_request"), piID), nil
	}
	return settle.Outcome{}, fmt.Errorf("stripe: charging invoice %s: %s error, status %d: %s: %w", inv.ID, se.Type, se.HTTPStatusCode, se.Msg, err)
}

func failed(msg, detail, pi string) settle.Outcome {
	return settle.Outcome{Status: ledger.StatusFailed, Detail: detail, Reason: msg,
		Settlement: ledger.Settlement{PaymentIntent: pi, Error: msg}}
}

func carriedNote(rest money.Micros, cur string) string {
	if rest == 0 {
		return ""
	}
	return fmt.Sprintf("; the sub-cent remainder %s %s is carried over", rest, cur)
}

func orWord(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func deref(o *settle.Outcome) settle.Outcome {
	if o == nil {
		return settle.Outcome{}
	}
	return *o
}
