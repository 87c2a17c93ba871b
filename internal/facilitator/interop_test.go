package facilitator_test

import (
	"testing"

	"github.com/paycrawl/paycrawl/internal/facilitator"
	"github.com/paycrawl/paycrawl/internal/interop"
	"github.com/paycrawl/paycrawl/internal/testcrawler"
)

// A resource server that only knows x402's facilitator protocol, the
// x402 Foundation's own client (@x402/core HTTPFacilitatorClient), reads
// paycrawl's supported kinds, verifies and settles a crawler's payment,
// and a resent settle answers the same transaction.
func TestX402CoreFacilitatorClient(t *testing.T) {
	interop.Setup(t)
	e := newEnv(t, facilitator.Options{})
	c := e.reg.NewCrawler(t, "op_x402core", testcrawler.DefaultTerms)
	body := e.paidRequest(c, "https://api.example/v1/data", e.requirements("2000"), "2000")
	var got struct {
		Supported struct {
			Kinds []struct {
				X402Version     int
				Scheme, Network string
			}
			Error string
		}
		Verify struct {
			IsValid bool
			Payer   string
			Error   string
		}
		Settle, SettleAgain struct {
			Success                      bool
			Transaction, Network, Amount string
			Payer, Error                 string
		}
	}
	interop.RunJSON(t, map[string]any{"url": e.srv.URL, "token": e.token,
		"paymentPayload": body["paymentPayload"], "paymentRequirements": body["paymentRequirements"]}, &got, "facilitator.mjs")
	if k := got.Supported.Kinds; len(k) == 0 || k[0].X402Version != 2 || k[0].Scheme != "batch-settlement" || k[0].Network != "paycrawl:402" {
		t.Errorf("getSupported: %+v", got.Supported)
	}
	if !got.Verify.IsValid || got.Verify.Payer != c.Agent {
		t.Errorf("verify: %+v", got.Verify)
	}
	s := got.Settle
	if !s.Success || s.Transaction == "" || s.Network != "paycrawl:402" || s.Amount != "2000" || s.Payer != c.Agent {
		t.Errorf("settle: %+v", s)
	}
	if a := got.SettleAgain; !a.Success || a.Transaction != s.Transaction {
		t.Errorf("settle again: %+v, want transaction %s", a, s.Transaction)
	}
	if n := len(e.commitments(c.Operator)); n != 1 {
		t.Errorf("%d commitments, want 1", n)
	}
}
