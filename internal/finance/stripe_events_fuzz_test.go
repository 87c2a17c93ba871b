package finance

import (
	"encoding/json"
	"testing"

	stripeapi "github.com/stripe/stripe-go/v76"

	"github.com/paycrawl/paycrawl/pkg/settle"
)

// FuzzDisputeOf feeds hostile event bodies (already verified, so only
// their shape is hostile) to the dispute reader: it never panics, and a
// dispute it returns has an id, a PaymentIntent, a positive amount below
// the bound and a known action.
func FuzzDisputeOf(f *testing.F) {
	f.Add([]byte(`{"id":"evt_1","type":"charge.dispute.funds_withdrawn","created":1,"data":{"object":{"id":"dp_1","amount":60,"currency":"usd","payment_intent":"pi_1","status":"needs_response"}}}`))
	f.Add([]byte(`{"id":"evt_2","type":"charge.dispute.closed","data":{"object":{"id":"dp_1","amount":-5,"payment_intent":{"id":"pi_1"},"status":"won"}}}`))
	f.Add([]byte(`{"id":"evt_3","type":"charge.dispute.created","data":{"object":{"id":"dp_1","status":"warning_needs_response"}}}`))
	f.Add([]byte(`{"type":"charge.dispute.created","data":{"object":[]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var ev stripeapi.Event
		if json.Unmarshal(body, &ev) != nil {
			return
		}
		d, why, err := disputeOf(ev)
		if err != nil || why != "" {
			return
		}
		if d.ID == "" || d.PaymentIntent == "" || d.Amount <= 0 || d.Amount > maxDisputeCents*10_000 ||
			(d.Action != settle.DisputeChargeback && d.Action != settle.DisputeReinstated) {
			t.Fatalf("dispute %+v from %s", d, body)
		}
	})
}
