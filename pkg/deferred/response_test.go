package deferred

import (
	"net/http"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
)

func TestReceiptRoundTrip(t *testing.T) {
	rc := Receipt{Scheme: SchemeDeferred, Network: "paycrawl:402", OfferID: "1.2.x", CommitmentID: "1735689600000-0",
		Payer: testAgent, Charged: money.Amount{Currency: "USD", Value: 10_000}, Timestamp: time.Unix(1730872968, 0)}
	for _, d := range []Dialect{DialectDeferred, DialectX402, DialectCrawlerPrice} {
		t.Run(string(d), func(t *testing.T) {
			h := http.Header{}
			if err := rc.WriteHeaders(h, d); err != nil {
				t.Fatal(err)
			}
			if got := h.Get(HeaderCrawlerCharged); got != "USD 0.01" {
				t.Errorf("crawler-charged = %q", got)
			}
			got, err := ParseReceipt(h)
			if err != nil {
				t.Fatal(err)
			}
			if *got != rc {
				t.Fatalf("got %+v, want %+v", *got, rc)
			}
		})
	}
	// The seed's example form parses.
	h := http.Header{}
	h.Set("Payment-Response", `scheme="deferred", network="example-network-provider", id="abc123", timestamp=1730872968`)
	got, err := ParseReceipt(h)
	if err != nil || got.OfferID != "abc123" || got.Timestamp.Unix() != 1730872968 {
		t.Fatalf("seed form: %+v, %v", got, err)
	}
	if got, err := ParseReceipt(http.Header{}); got != nil || err != nil {
		t.Fatalf("no receipt: %+v, %v", got, err)
	}
}
