package teststripe

import (
	"errors"
	"net/http"
	"testing"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

func apiFor(base string) *client.API {
	bc := &stripe.BackendConfig{URL: stripe.String(base), LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
		MaxNetworkRetries: stripe.Int64(0), HTTPClient: &http.Client{}}
	return client.New(APIKey, &stripe.Backends{API: stripe.GetBackendWithConfig(stripe.APIBackend, bc)})
}

func TestProxyTestModeSemantics(t *testing.T) {
	base, p := StartProxy(t)
	api := apiFor(base)
	newPI := func(pm, key string) (*stripe.PaymentIntent, error) {
		params := &stripe.PaymentIntentParams{Amount: stripe.Int64(1234), Currency: stripe.String("usd"),
			Customer: stripe.String("cus_1"), PaymentMethod: stripe.String(pm), Confirm: stripe.Bool(true), OffSession: stripe.Bool(true)}
		params.SetIdempotencyKey(key)
		return api.PaymentIntents.New(params)
	}
	pi, err := newPI("pm_card_visa", "k1")
	if err != nil || pi.Status != stripe.PaymentIntentStatusSucceeded || pi.AmountReceived != 1234 {
		t.Fatalf("visa: %+v, %v", pi, err)
	}
	again, err := newPI("pm_card_visa", "k1")
	if err != nil || again.ID != pi.ID || p.Requests("k1") != 2 || len(p.Intents()) != 1 {
		t.Fatalf("idempotent replay: %v, %v, requests %d, intents %d", again.ID, err, p.Requests("k1"), len(p.Intents()))
	}
	_, err = newPI("pm_card_chargeDeclinedInsufficientFunds", "k2")
	var se *stripe.Error
	if !errors.As(err, &se) || se.Type != stripe.ErrorTypeCard || se.DeclineCode != "insufficient_funds" || se.PaymentIntent == nil {
		t.Fatalf("decline: %v", err)
	}
	pi, err = newPI("pm_card_processing", "k3")
	if err != nil || pi.Status != stripe.PaymentIntentStatusProcessing {
		t.Fatalf("processing: %+v %v", pi, err)
	}
	p.SetIntentStatus(pi.ID, "succeeded")
	got, err := api.PaymentIntents.Get(pi.ID, nil)
	if err != nil || got.Status != stripe.PaymentIntentStatusSucceeded {
		t.Fatalf("later status: %+v %v", got, err)
	}
	p.SetDefaultPaymentMethod("cus_2", "pm_card_chargeDeclined")
	c, err := api.Customers.Get("cus_2", nil)
	if err != nil || c.InvoiceSettings.DefaultPaymentMethod == nil || c.InvoiceSettings.DefaultPaymentMethod.ID != "pm_card_chargeDeclined" {
		t.Fatalf("customer default pm: %+v %v", c, err)
	}
}
