package deferred

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
)

func TestReceiptRoundTrip(t *testing.T) {
	plain := Receipt{Scheme: SchemeDeferred, Network: "paycrawl:402", OfferID: "1.2.x", CommitmentID: "1735689600000-0",
		Payer: testAgent, Charged: money.Amount{Currency: "USD", Value: 10_000}, Timestamp: time.Unix(1730872968, 0)}
	quota := plain
	quota.Charged.Value, quota.Agreement, quota.AgreementVersion, quota.Charge = 0, "agr_abcdefghijklmnop", 2, "quota"
	prepaid := quota
	prepaid.Charge, prepaid.Drawn = "prepaid", 9_000
	for _, rc := range []Receipt{plain, quota, prepaid} {
		for _, d := range []Dialect{DialectDeferred, DialectX402, DialectCrawlerPrice} {
			t.Run(string(d)+"/"+rc.Charge, func(t *testing.T) {
				h := http.Header{}
				if err := rc.WriteHeaders(h, d); err != nil {
					t.Fatal(err)
				}
				if got, want := h.Get(HeaderCrawlerCharged), rc.Charged.String(); got != want {
					t.Errorf("crawler-charged = %q, want %q", got, want)
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
	}
	// The seed's example form parses.
	h := http.Header{}
	h.Set("Payment-Response", `scheme="deferred", network="example-network-provider", id="abc123", timestamp=1730872968`)
	got, err := ParseReceipt(h)
	if err != nil || got.OfferID != "abc123" || got.Timestamp.Unix() != 1730872968 {
		t.Fatalf("seed form: %+v, %v", got, err)
	}
	if got, err := ParseReceipt(http.Header{}); got != nil || !errors.Is(err, ErrNoReceipt) {
		t.Fatalf("no receipt: %+v, %v; want nil, ErrNoReceipt", got, err)
	}
}

// TestReceiptDictIsHTTPSFV compares the direct Payment-Response dictionary
// with httpsfv's serialization (receiptDict).
func TestReceiptDictIsHTTPSFV(t *testing.T) {
	base := Receipt{Network: "paycrawl:402", OfferID: "1.2.x", CommitmentID: "1735689600000-0",
		Payer: testAgent, Charged: money.Amount{Currency: "USD", Value: 10_000}, Timestamp: time.Unix(1730872968, 0)}
	cases := []Receipt{base}
	for _, edit := range []func(*Receipt){
		func(r *Receipt) { r.OfferID, r.Payer = "", "" },
		func(r *Receipt) { r.Payer = `https://a.example/"quoted"\back` },
		func(r *Receipt) { r.Network = "é" },
		func(r *Receipt) { r.CommitmentID = "tab\there" },
		func(r *Receipt) { r.Timestamp = time.Unix(-5, 0) },
		func(r *Receipt) { r.Agreement, r.AgreementVersion, r.Charge, r.Drawn = "agr_x", 3, "prepaid", 900 },
		func(r *Receipt) { r.Agreement, r.AgreementVersion, r.Charge = "agr_\u00e9", 1, "rate" },
	} {
		r := base
		edit(&r)
		cases = append(cases, r)
	}
	for _, r := range cases {
		want, wantErr := receiptDict(SchemeDeferred, r)
		got, ok := appendReceiptDict(nil, SchemeDeferred, r)
		if ok != (wantErr == nil) || ok && string(got) != want {
			t.Errorf("%+v: direct %q (%v), httpsfv %q (%v)", r, got, ok, want, wantErr)
		}
	}
}
