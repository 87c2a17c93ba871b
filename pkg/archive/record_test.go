package archive

import (
	"reflect"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// An archived record gives back every field the ledger stores, the
// agreement behind the charge included.
func TestRecordKeepsTheAgreement(t *testing.T) {
	for _, c := range []*ledger.Commitment{
		{ID: "1-1", RequestID: "r1", Received: time.Unix(0, 1764590000123456789).UTC(), Day: "2025-12-01",
			Account: "acme", KeyID: "k", Publisher: "pub", Site: "example.com", Price: 1_000, Currency: "USD",
			ReplayIDs: []string{"n:1"}},
		{ID: "1-2", RequestID: "r2", Received: time.Unix(0, 1764590000123456789).UTC(), Day: "2025-12-01",
			Account: "acme", KeyID: "k", Publisher: "pub", Site: "example.com", Currency: "USD",
			AgreementID: "agr_1", AgreementVersion: 2, ListPrice: 1_000, Charge: ledger.ChargePrepaid, Drawn: 900,
			ReplayIDs: []string{"n:2"}},
	} {
		r := recordOf(c, "")
		if got := r.Commitment(); !reflect.DeepEqual(got, c) {
			t.Errorf("archived and read back\n%+v\nwant\n%+v", got, c)
		}
	}
}
