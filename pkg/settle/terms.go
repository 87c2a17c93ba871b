package settle

import "github.com/paycrawl/paycrawl/pkg/ledger"

// ChargeOf is how a commitment was charged: the agreement behind it (id and
// version, "" and 0 for none) and the kind of its charge, which names its
// invoice line's kind (ledger.LineList for a commitment without an
// agreement).
func ChargeOf(c *ledger.Commitment) (agreementID string, version int64, kind string) {
	return c.AgreementID, c.AgreementVersion, string(c.Kind())
}
