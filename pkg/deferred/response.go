package deferred

import (
	"errors"
	"net/http"
	"time"

	"github.com/dunglas/httpsfv"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/x402"
)

// Response headers of a paid request.
const (
	// HeaderPaymentResponse is the seed's structured payment response.
	HeaderPaymentResponse = "Payment-Response"
	// HeaderCrawlerCharged states what will be billed for this response.
	HeaderCrawlerCharged = "crawler-charged"
	// HeaderCrawlerError carries the machine-readable reason of a refusal.
	HeaderCrawlerError = "crawler-error"
)

// Receipt is what a paid response tells the crawler: the charge and the
// ledger's commitment id it can reconcile against its invoice.
type Receipt struct {
	Scheme  string
	Network string
	// OfferID is the offer the crawler accepted, if any.
	OfferID string
	// CommitmentID is the ledger's id of the recorded commitment.
	CommitmentID string
	// Payer is the Signature-Agent URL of the crawler.
	Payer string
	// Charged is the amount that will be billed.
	Charged   money.Amount
	Timestamp time.Time
	// Agreement and AgreementVersion name the agreement between the
	// publisher and the crawler that priced the request ("" and 0: the
	// site's list price). Charge says how ("rate", "quota" inside a
	// subscription's quota, "overage", "prepaid"), and Drawn is what a
	// prepaid request took from the balance (Charged is then 0), in
	// Charged's currency.
	Agreement        string
	AgreementVersion int64
	Charge           string
	Drawn            money.Micros
}

// WriteHeaders sets the payment response on h in the dialect of the
// request, and crawler-charged always. HTTP header names are
// case-insensitive, so the seed's Payment-Response and x402's
// PAYMENT-RESPONSE are one header: an x402 request gets the base64
// SettleResponse (success, the commitment id in transaction, network,
// payer, the amount charged in the network's unit, asset, and extra
// timestamp, scheme and id), any other the structured dictionary
// (scheme, network, id, commitment, payer, timestamp). A receipt with an
// agreement adds it: extra agreement, agreementVersion, charge and drawn
// (in the network's unit) to the SettleResponse, members agreement,
// agreement-version, charge and drawn ("USD 0.0009") to the dictionary.
func (r Receipt) WriteHeaders(h http.Header, dialect Dialect) error {
	scheme := r.Scheme
	if scheme == "" {
		scheme = SchemeDeferred
	}
	var value string
	var buf [256]byte
	if dialect == DialectX402 {
		amount, err := FormatNetworkAmount(r.Network, r.Charged.Value)
		if err != nil {
			return err
		}
		extra := map[string]any{"timestamp": r.Timestamp.Unix(), "scheme": scheme}
		if r.OfferID != "" {
			extra["id"] = r.OfferID
		}
		if r.Agreement != "" {
			drawn, err := FormatNetworkAmount(r.Network, r.Drawn)
			if err != nil {
				return err
			}
			extra["agreement"], extra["agreementVersion"], extra["charge"], extra["drawn"] = r.Agreement, r.AgreementVersion, r.Charge, drawn
		}
		v, err := x402.Encode(x402.SettleResponse{
			Success:     true,
			Transaction: r.CommitmentID,
			Network:     r.Network,
			Payer:       r.Payer,
			Amount:      amount,
			Asset:       r.Charged.Currency,
			Extra:       extra,
		})
		if err != nil {
			return err
		}
		value = v
	} else if v, ok := appendReceiptDict(buf[:0], scheme, r); ok {
		value = string(v)
	} else {
		v, err := receiptDict(scheme, r)
		if err != nil {
			return err
		}
		value = v
	}
	// As h.Set would, with both values in one allocation.
	vals := []string{value, r.Charged.String()}
	h[paymentResponseKey], h[crawlerChargedKey] = vals[0:1:1], vals[1:2:2]
	return nil
}

// The canonical keys of the receipt's headers.
var (
	paymentResponseKey = http.CanonicalHeaderKey(HeaderPaymentResponse)
	crawlerChargedKey  = http.CanonicalHeaderKey(HeaderCrawlerCharged)
)

// settleResponse is a SettleResponse as a crawler reads it: the
// Cloudflare binding's example leaves out success and transaction and puts
// timestamp at the top, so an absent success is not a failure.
type settleResponse struct {
	x402.SettleResponse
	Success   *bool `json:"success"`
	Timestamp int64 `json:"timestamp"`
}

// ParseReceipt reads the payment response of a crawler's response: the
// Payment-Response header in either form (base64 SettleResponse, its amount
// in its network's unit, or structured dictionary) and crawler-charged,
// which wins when both state the charge. A response that states no charge
// is ErrNoReceipt; the receipt is never nil without an error.
func ParseReceipt(h http.Header) (*Receipt, error) {
	var r Receipt
	found := false
	if v := h.Values(HeaderPaymentResponse); len(v) > 0 {
		var sr settleResponse
		if len(v) == 1 && x402.Decode(v[0], &sr) == nil {
			if sr.Success != nil && !*sr.Success {
				return nil, Errorf(CodePaymentMalformed, "PAYMENT-RESPONSE reports no success: %s", clip(sr.ErrorReason))
			}
			found = true
			r.Network, r.CommitmentID, r.Payer = sr.Network, sr.Transaction, sr.Payer
			if sr.Amount != "" {
				amt, err := ParseNetworkAmount(sr.Network, sr.Amount)
				if err != nil {
					return nil, Errorf(CodePriceInvalid, "PAYMENT-RESPONSE amount: %v", err)
				}
				r.Charged = money.Amount{Currency: sr.Asset, Value: amt}
			}
			if ts, ok := sr.Extra["timestamp"].(float64); ok {
				r.Timestamp = time.Unix(int64(ts), 0)
			} else if sr.Timestamp != 0 {
				r.Timestamp = time.Unix(sr.Timestamp, 0)
			}
			r.Scheme, _ = sr.Extra["scheme"].(string)
			r.OfferID, _ = sr.Extra["id"].(string)
			r.Agreement, _ = sr.Extra["agreement"].(string)
			r.Charge, _ = sr.Extra["charge"].(string)
			if v, ok := sr.Extra["agreementVersion"].(float64); ok && v >= 0 && v <= 1<<53 {
				r.AgreementVersion = int64(v)
			}
			if v, ok := sr.Extra["drawn"].(string); ok {
				amt, err := ParseNetworkAmount(sr.Network, v)
				if err != nil {
					return nil, Errorf(CodePriceInvalid, "PAYMENT-RESPONSE drawn amount: %v", err)
				}
				r.Drawn = amt
			}
		} else {
			d, err := httpsfv.UnmarshalDictionary(v)
			if err != nil {
				return nil, Errorf(CodePaymentMalformed, "Payment-Response is neither base64 JSON nor a dictionary: %v", err)
			}
			found = true
			str := func(name string) string {
				if m, ok := d.Get(name); ok {
					if it, ok := m.(httpsfv.Item); ok {
						if s, ok := it.Value.(string); ok {
							return s
						}
					}
				}
				return ""
			}
			r.Scheme, r.OfferID, r.Network, r.CommitmentID = str("scheme"), str("id"), str("network"), str("commitment")
			r.Payer, r.Agreement, r.Charge = str("payer"), str("agreement"), str("charge")
			integer := func(name string) (int64, bool) {
				if m, ok := d.Get(name); ok {
					if it, ok := m.(httpsfv.Item); ok {
						n, ok := it.Value.(int64)
						return n, ok
					}
				}
				return 0, false
			}
			if ts, ok := integer("timestamp"); ok {
				r.Timestamp = time.Unix(ts, 0)
			}
			if v, ok := integer("agreement-version"); ok && v >= 0 {
				r.AgreementVersion = v
			}
			if v := str("drawn"); v != "" {
				a, err := money.ParseAmount(v)
				if err != nil {
					return nil, Errorf(CodePriceInvalid, "Payment-Response drawn: %v", err)
				}
				r.Drawn = a.Value
			}
		}
	}
	if v := h.Get(HeaderCrawlerCharged); v != "" {
		a, err := money.ParseAmount(v)
		if err != nil {
			return nil, Errorf(CodePriceInvalid, "crawler-charged: %v", err)
		}
		found = true
		r.Charged = a
	}
	if !found {
		return nil, ErrNoReceipt
	}
	return &r, nil
}

// ErrNoReceipt is ParseReceipt's answer for a response that states no
// charge: neither Payment-Response (PAYMENT-RESPONSE) nor crawler-charged.
var ErrNoReceipt = errors.New("deferred: the response states no charge")

// clip bounds a server-supplied text quoted in an error.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// receiptDict is the structured Payment-Response of r, through httpsfv.
func receiptDict(scheme string, r Receipt) (string, error) {
	d := httpsfv.NewDictionary()
	d.Add("scheme", httpsfv.NewItem(scheme))
	d.Add("network", httpsfv.NewItem(r.Network))
	if r.OfferID != "" {
		d.Add("id", httpsfv.NewItem(r.OfferID))
	}
	d.Add("commitment", httpsfv.NewItem(r.CommitmentID))
	if r.Payer != "" {
		d.Add("payer", httpsfv.NewItem(r.Payer))
	}
	d.Add("timestamp", httpsfv.NewItem(r.Timestamp.Unix()))
	if r.Agreement != "" {
		d.Add("agreement", httpsfv.NewItem(r.Agreement))
		d.Add("agreement-version", httpsfv.NewItem(r.AgreementVersion))
		d.Add("charge", httpsfv.NewItem(r.Charge))
		d.Add("drawn", httpsfv.NewItem(money.Amount{Currency: r.Charged.Currency, Value: r.Drawn}.String()))
	}
	return httpsfv.Marshal(d)
}

// appendReceiptDict appends the structured Payment-Response of r, as
// httpsfv.Marshal writes it, when every string in it is one that needs no
// more than the sf-string escapes (printable ASCII); otherwise it returns
// false and the caller marshals with httpsfv.
func appendReceiptDict(b []byte, scheme string, r Receipt) ([]byte, bool) {
	members := [...]struct{ key, v string }{
		{"scheme", scheme}, {"network", r.Network}, {"id", r.OfferID},
		{"commitment", r.CommitmentID}, {"payer", r.Payer},
	}
	for _, m := range members {
		if m.v == "" && (m.key == "id" || m.key == "payer") {
			continue
		}
		if len(b) > 0 {
			b = append(b, ", "...)
		}
		b = append(b, m.key...)
		b = append(b, '=')
		var ok bool
		if b, ok = appendSFBare(b, m.v); !ok {
			return b, false
		}
	}
	b = append(b, ", timestamp="...)
	b, ok := appendSFBare(b, r.Timestamp.Unix())
	if !ok || r.Agreement == "" {
		return b, ok
	}
	b = append(b, ", agreement="...)
	if b, ok = appendSFBare(b, r.Agreement); !ok {
		return b, false
	}
	b = append(b, ", agreement-version="...)
	if b, ok = appendSFBare(b, r.AgreementVersion); !ok {
		return b, false
	}
	b = append(b, ", charge="...)
	if b, ok = appendSFBare(b, r.Charge); !ok {
		return b, false
	}
	b = append(b, ", drawn="...)
	return appendSFBare(b, money.Amount{Currency: r.Charged.Currency, Value: r.Drawn}.String())
}
