package archive

import (
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// Record is one archived commitment: one line of a segment. It holds every
// field of ledger.Commitment that the ledger stores, plus the signer's
// public key, so a segment re-verifies without Redis.
type Record struct {
	ID        string `json:"id"`
	RequestID string `json:"request_id"`
	// Received is Unix nanoseconds (UTC), exactly as the ledger keeps it.
	Received  int64  `json:"received"`
	Day       string `json:"day"`
	Account   string `json:"account"`
	Agent     string `json:"agent,omitempty"`
	KeyID     string `json:"key_id"`
	PublicKey string `json:"public_key,omitempty"`
	Publisher string `json:"publisher"`
	Site      string `json:"site"`
	Method    string `json:"method,omitempty"`
	Scheme    string `json:"scheme,omitempty"`
	Authority string `json:"authority,omitempty"`
	Path      string `json:"path,omitempty"`
	// Price is in micro-units of Currency.
	Price int64 `json:"price"`
	// The agreement that decided the charge, if any (ledger.Commitment's
	// AgreementID, AgreementVersion, ListPrice, Charge and Drawn).
	AgreementID      string            `json:"agreement_id,omitempty"`
	AgreementVersion int64             `json:"agreement_version,omitempty"`
	ListPrice        int64             `json:"list_price,omitempty"`
	Charge           string            `json:"charge,omitempty"`
	Drawn            int64             `json:"drawn,omitempty"`
	Currency         string            `json:"currency"`
	OfferID          string            `json:"offer_id,omitempty"`
	Dialect          string            `json:"dialect,omitempty"`
	Label            string            `json:"label,omitempty"`
	SignatureInput   string            `json:"signature_input,omitempty"`
	Signature        string            `json:"signature,omitempty"`
	Covered          map[string]string `json:"covered,omitempty"`
	ReplayIDs        []string          `json:"replay_ids,omitempty"`
}

// recordOf is the archived form of c, with the signer's public key jwk.
func recordOf(c *ledger.Commitment, jwk string) Record {
	return Record{
		ID: c.ID, RequestID: c.RequestID, Received: c.Received.UnixNano(), Day: c.Day, Account: c.Account,
		Agent: c.Agent, KeyID: c.KeyID, PublicKey: jwk, Publisher: c.Publisher, Site: c.Site,
		Method: c.Method, Scheme: c.Scheme, Authority: c.Authority, Path: c.Path,
		Price: int64(c.Price), Currency: c.Currency, OfferID: c.OfferID, Dialect: c.Dialect, Label: c.Label,
		AgreementID: c.AgreementID, AgreementVersion: c.AgreementVersion, ListPrice: int64(c.ListPrice),
		Charge: string(c.Charge), Drawn: int64(c.Drawn),
		SignatureInput: c.SignatureInput, Signature: c.Signature, Covered: c.Covered, ReplayIDs: c.ReplayIDs,
	}
}

// Commitment is r as the ledger reads it, with PublicKey set to the
// archived key (the ledger's reads leave it empty).
func (r *Record) Commitment() *ledger.Commitment {
	return &ledger.Commitment{
		ID: r.ID, RequestID: r.RequestID, Received: time.Unix(0, r.Received).UTC(), Day: r.Day,
		Account: r.Account, Agent: r.Agent, KeyID: r.KeyID, PublicKey: r.PublicKey,
		Publisher: r.Publisher, Site: r.Site, Method: r.Method, Scheme: r.Scheme, Authority: r.Authority,
		Path: r.Path, Price: money.Micros(r.Price), Currency: r.Currency, OfferID: r.OfferID,
		AgreementID: r.AgreementID, AgreementVersion: r.AgreementVersion, ListPrice: money.Micros(r.ListPrice),
		Charge: ledger.ChargeKind(r.Charge), Drawn: money.Micros(r.Drawn),
		Dialect: r.Dialect, Label: r.Label, SignatureInput: r.SignatureInput, Signature: r.Signature,
		Covered: r.Covered, ReplayIDs: r.ReplayIDs,
	}
}
