package finance

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"strconv"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// csvFlushRows is how many rows a CSV export writes between flushes.
const csvFlushRows = 1000

// invoiceColumns are the columns of a day's invoices CSV.
var invoiceColumns = []string{
	"invoice", "day", "account", "currency", "status", "lines", "requests", "amount", "credits", "carried_in",
	"total", "charged", "carried_out", "rail", "payment_intent", "tx_hash", "block", "error", "check",
	"created", "updated", "operator_name", "operator_contact",
}

// accountsOf lists the accounts of invs.
func accountsOf(invs []*ledger.Invoice) []string {
	out := make([]string, len(invs))
	for i, inv := range invs {
		out[i] = inv.Account
	}
	return out
}

// writeInvoicesCSV writes invoices as CSV, one row each, with the
// operator's name and contact from names (empty when unknown). Amounts are
// decimal strings of the invoice's currency; times are RFC 3339 UTC.
func writeInvoicesCSV(st *stream, invs []*ledger.Invoice, names map[string]operatorInfo) error {
	cw := csv.NewWriter(st)
	if err := cw.Write(invoiceColumns); err != nil {
		return err
	}
	for i, inv := range invs {
		f := figures(inv)
		row := []string{
			inv.ID, inv.Day, inv.Account, inv.Currency, string(inv.Status), strconv.Itoa(len(inv.Lines)),
			strconv.FormatInt(f.Requests, 10), f.Amount.String(), f.Credits.String(), inv.CarriedIn.String(),
			inv.Total.String(), inv.Charged.String(), inv.CarriedOut.String(), inv.Rail, inv.PaymentIntent,
			inv.TxHash, blockText(inv.Block), cell(inv.Error), inv.Check, stamp(inv.Created), stamp(inv.Updated),
			cell(names[inv.Account].Name), cell(names[inv.Account].Contact),
		}
		if err := cw.Write(row); err != nil {
			return err
		}
		if (i+1)%csvFlushRows == 0 {
			cw.Flush()
			if err := st.Flush(); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return st.Flush()
}

// commitmentColumns are the columns of an invoice's commitments CSV: what
// re-verifies each one offline, and the invoice line it counts on.
var commitmentColumns = []string{
	"commitment", "received", "account", "currency", "publisher", "site", "line", "price", "method", "scheme",
	"authority", "path", "key_id", "agent", "dialect", "offer", "request_id", "label", "signature_input",
	"signature", "covered",
}

// writeCommitmentsCSV streams the commitments of inv's crawler-day in its
// currency as CSV (every day a weekly or monthly invoice covers), in append
// order, flushing every csvFlushRows rows.
func writeCommitmentsCSV(ctx context.Context, st *stream, l Ledger, inv *ledger.Invoice) error {
	lines := lineIndex(inv)
	cw := csv.NewWriter(st)
	if err := cw.Write(commitmentColumns); err != nil {
		return err
	}
	n := 0
	var err error
	for _, day := range invoiceDays(inv) {
		if err != nil {
			break
		}
		err = l.Commitments(ctx, inv.Account, day, func(c *ledger.Commitment) error {
			if c.Currency != inv.Currency {
				return nil
			}
			line := ""
			if i, ok := lines[commitmentKey(c)]; ok {
				line = strconv.Itoa(i + 1)
			}
			covered := ""
			if len(c.Covered) > 0 {
				b, _ := json.Marshal(c.Covered)
				covered = string(b)
			}
			row := []string{
				c.ID, stamp(c.Received), c.Account, c.Currency, cell(c.Publisher), cell(c.Site), line, c.Price.String(),
				cell(c.Method), cell(c.Scheme), cell(c.Authority), cell(c.Path), cell(c.KeyID), cell(c.Agent),
				cell(c.Dialect), cell(c.OfferID), cell(c.RequestID), cell(c.Label), cell(c.SignatureInput),
				cell(c.Signature), cell(covered),
			}
			if err := cw.Write(row); err != nil {
				return err
			}
			if n++; n%csvFlushRows == 0 {
				cw.Flush()
				return st.Flush()
			}
			return nil
		})
	}
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	if ferr := st.Flush(); err == nil {
		err = ferr
	}
	return err
}

// cell defuses a text value that a spreadsheet would run as a formula
// (CSV injection: a crawler controls paths and headers): a leading = + - @
// tab or carriage return gets a leading apostrophe.
func cell(s string) string {
	if s != "" {
		switch s[0] {
		case '=', '+', '-', '@', '\t', '\r':
			return "'" + s
		}
	}
	return s
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func blockText(b int64) string {
	if b == 0 {
		return ""
	}
	return strconv.FormatInt(b, 10)
}

// siteKey names an invoice usage line: publisher site, agreement and the
// kind of charge ("" and list are one kind).
type siteKey struct {
	publisher, site, agreement, kind string
	version                          int64
}

// lineKey is the key of an invoice line.
func lineKey(l ledger.Line) siteKey {
	kind := l.Kind
	if kind == "" {
		kind = ledger.LineList
	}
	return siteKey{publisher: l.Publisher, site: l.Site, agreement: l.AgreementID, version: l.AgreementVersion, kind: kind}
}

// commitmentKey is the key of the line that bills c.
func commitmentKey(c *ledger.Commitment) siteKey {
	id, v, kind := settle.ChargeOf(c)
	return lineKey(ledger.Line{Publisher: c.Publisher, Site: c.Site, AgreementID: id, AgreementVersion: v, Kind: kind})
}

// usageLine reports whether a line bills commitments (a fee or a top-up
// does not).
func usageLine(l ledger.Line) bool { return l.Kind != ledger.LineFee && l.Kind != ledger.LineTopUp }

// lineIndex maps each usage line's key to its index.
func lineIndex(inv *ledger.Invoice) map[siteKey]int {
	m := make(map[siteKey]int, len(inv.Lines))
	for i, l := range inv.Lines {
		if usageLine(l) {
			m[lineKey(l)] = i
		}
	}
	return m
}

// invoiceDays are the days whose commitments an invoice bills.
func invoiceDays(inv *ledger.Invoice) []string {
	if len(inv.Covered) > 0 {
		return inv.Covered
	}
	return []string{inv.Day}
}
