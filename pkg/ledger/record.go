package ledger

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// Commitment is one paid request, as the gateway recorded it after a 2xx from
// the origin. Its fields keep everything needed to re-verify the signature
// offline: the signature and its input, the covered header values, the key id
// (the public key is archived separately by key id).
type Commitment struct {
	// ID is the stream id Append assigned ("<ms>-<seq>", time-ordered).
	ID string
	// RequestID is unique per gateway request; it makes Append idempotent.
	RequestID string
	// Received is the gateway's clock when the request arrived; Day is its
	// UTC date.
	Received time.Time
	// Day is set by Append from Received ("2006-01-02", UTC).
	Day string
	// Account is the crawler's billing account (operator id); see ValidateAccount.
	Account string
	// Agent is the Signature-Agent URL.
	Agent string
	// KeyID is the RFC 7638 thumbprint of the signing key.
	KeyID string
	// PublicKey is the public JWK (JSON). Append archives it by (Account,
	// KeyID) the first time it sees the key and never overwrites or deletes
	// it; it is not part of the stream record, and reads leave it empty (see
	// Ledger.PublicKey).
	PublicKey string
	// Publisher is the publisher id; Site the host that served the request.
	Publisher, Site string
	// Method, Scheme, Authority and Path describe the request.
	Method, Scheme, Authority, Path string
	// Price is what the request is charged, in micro-units of Currency: what
	// the day's aggregate and invoice add up. Without an agreement it is the
	// site's price; under one it is what the agreement's charge rule gives
	// (0 inside a subscription's quota and when drawn from a prepaid
	// balance).
	Price money.Micros
	// AgreementID and AgreementVersion name the agreement in force that
	// decided the charge; "" and 0 when none did (Charge is then "" and
	// Price the site's price).
	AgreementID      string
	AgreementVersion int64
	// ListPrice is the site's price of the request before the agreement,
	// and Charge how the agreement made Price of it; with Drawn (what a
	// prepaid request drew from the balance), they are what an audit needs
	// to re-derive Price from the agreement's terms. All zero without an
	// agreement.
	ListPrice money.Micros
	Charge    ChargeKind
	Drawn     money.Micros
	// Currency is an upper-case currency code (money.ValidateCurrency).
	Currency string
	// OfferID, Dialect and Label: the 402 offer answered (if any), the
	// protocol dialect used (deferred, x402v2, crawler-price…) and the
	// signature label.
	OfferID, Dialect, Label string
	// SignatureInput and Signature are the raw member values.
	SignatureInput, Signature string
	// Covered maps each covered header name to its raw value.
	Covered map[string]string
	// ReplayIDs are the opaque replay ids computed by the protocol layer
	// (keyid+nonce, signature hash). At least one is required: they are what
	// makes a replayed signature fail and a resent Append idempotent.
	ReplayIDs []string
	// ReplayKeys is how many of ReplayIDs, from the first, get a replay key
	// (checked and written by Append); 0 means all of them. The others are
	// kept in the record only, for reads (a crawler matches its receipts
	// by the signature id). The protocol layer passes 1 when the first id
	// alone catches every copy of the signature: a (keyid, nonce) id, since
	// the nonce is among the signed parameters. It is not part of the
	// stored record and reads leave it zero.
	ReplayKeys int
	// ReplayUntil is when the signature expires; the replay keys live until
	// then plus Options.ReplayMargin. It is not part of the stored record
	// (the signature input carries the expiry) and reads leave it zero.
	ReplayUntil time.Time
}

// Limits are a crawler's spending limits, checked atomically by Append.
type Limits struct {
	// DailyCap bounds the crawler's total for the day in the commitment's
	// currency, in micro-units; 0 = no cap.
	DailyCap money.Micros
	// MaxPrice bounds the price of one request (what is charged and what
	// is drawn from a prepaid balance); 0 = no limit.
	MaxPrice money.Micros
	// Quota is the subscription quota a commitment charged as ChargeQuota
	// counts against; it is required for such a commitment, and refused
	// for any other.
	Quota *Quota
}

// Size bounds of the commitment's fields.
const (
	maxRequestID = 200
	maxReplayID  = 256
	maxReplayIDs = 8
	maxShort     = 256
	maxURL       = 2048
	maxPath      = 8192
	maxSigInput  = 4096
	maxSig       = 2048
	maxPublicKey = 4096
	maxRecord    = 32768
	maxRawTx     = 16384
)

// validate checks c and lim before anything is sent to Redis.
func (c *Commitment) validate(lim Limits) error {
	if err := ValidateAccount(c.Account); err != nil {
		return err
	}
	if c.Received.IsZero() {
		return fmt.Errorf("%w: received time is required", ErrInvalid)
	}
	if c.ReplayUntil.IsZero() {
		return fmt.Errorf("%w: replay-until time is required", ErrInvalid)
	}
	if err := validateCurrency(c.Currency); err != nil {
		return err
	}
	for _, a := range []struct {
		what string
		m    money.Micros
	}{{"price", c.Price}, {"daily cap", lim.DailyCap}, {"max price", lim.MaxPrice}} {
		if err := validateAmount(a.what, a.m); err != nil {
			return err
		}
	}
	if err := c.validateAgreement(lim.Quota); err != nil {
		return err
	}
	for _, f := range []struct {
		what     string
		s        string
		max      int
		required bool
	}{
		{"request id", c.RequestID, maxRequestID, true},
		{"key id", c.KeyID, maxShort, true},
		{"agent", c.Agent, maxURL, false},
		{"method", c.Method, maxShort, false},
		{"scheme", c.Scheme, maxShort, false},
		{"authority", c.Authority, maxShort, false},
		{"path", c.Path, maxPath, false},
		{"offer id", c.OfferID, maxShort, false},
		{"dialect", c.Dialect, maxShort, false},
		{"label", c.Label, maxShort, false},
		{"signature input", c.SignatureInput, maxSigInput, false},
		{"signature", c.Signature, maxSig, false},
	} {
		if err := validText(f.what, f.s, f.max, f.required); err != nil {
			return err
		}
	}
	if err := validFieldPart("publisher", c.Publisher); err != nil {
		return err
	}
	if err := validFieldPart("site", c.Site); err != nil {
		return err
	}
	if len(c.PublicKey) > maxPublicKey {
		return fmt.Errorf("%w: public key longer than %d bytes", ErrInvalid, maxPublicKey)
	}
	if len(c.ReplayIDs) == 0 || len(c.ReplayIDs) > maxReplayIDs {
		return fmt.Errorf("%w: want 1 to %d replay ids, got %d", ErrInvalid, maxReplayIDs, len(c.ReplayIDs))
	}
	if c.ReplayKeys < 0 || c.ReplayKeys > len(c.ReplayIDs) {
		return fmt.Errorf("%w: %d replay keys for %d replay ids", ErrInvalid, c.ReplayKeys, len(c.ReplayIDs))
	}
	for i, id := range c.ReplayIDs {
		if err := validText("replay id", id, maxReplayID, true); err != nil {
			return err
		}
		if strings.ContainsRune(id, ' ') {
			return fmt.Errorf("%w: replay id %q contains a space", ErrInvalid, clip(id))
		}
		for _, prev := range c.ReplayIDs[:i] {
			if prev == id {
				return fmt.Errorf("%w: replay id %q listed twice", ErrInvalid, clip(id))
			}
		}
	}
	return nil
}

// record is a commitment as ledgers before the compact record (compact.go)
// stored it: one JSON document in the stream entry's field "c". Reads still
// accept it, so that a deployment upgraded in the middle of a day reads the
// day's earlier commitments. Integers that are amounts or nanoseconds are
// JSON strings, so that no reader parses them as floats.
type record struct {
	RequestID      string            `json:"req"`
	Received       int64             `json:"rt,string"`
	Agent          string            `json:"agent,omitempty"`
	KeyID          string            `json:"kid"`
	Publisher      string            `json:"pub"`
	Site           string            `json:"site"`
	Method         string            `json:"method,omitempty"`
	Scheme         string            `json:"scheme,omitempty"`
	Authority      string            `json:"authority,omitempty"`
	Path           string            `json:"path,omitempty"`
	Price          int64             `json:"price,string"`
	Currency       string            `json:"cur"`
	OfferID        string            `json:"offer,omitempty"`
	Dialect        string            `json:"dialect,omitempty"`
	Label          string            `json:"label,omitempty"`
	SignatureInput string            `json:"siginput,omitempty"`
	Signature      string            `json:"sig,omitempty"`
	Covered        map[string]string `json:"covered,omitempty"`
	ReplayIDs      []string          `json:"replay"`
}

// recordField is the stream entry's one field: a compact record (its first
// byte is its format, recordV2 or recordV1) or a JSON one (its first byte
// is '{').
const recordField = "c"

// encodeJSON returns c's record in the JSON form of older ledgers.
func (c *Commitment) encodeJSON() (string, error) {
	b, err := json.Marshal(record{
		RequestID: c.RequestID, Received: c.Received.UnixNano(), Agent: c.Agent, KeyID: c.KeyID,
		Publisher: c.Publisher, Site: c.Site, Method: c.Method, Scheme: c.Scheme,
		Authority: c.Authority, Path: c.Path, Price: int64(c.Price), Currency: c.Currency,
		OfferID: c.OfferID, Dialect: c.Dialect, Label: c.Label,
		SignatureInput: c.SignatureInput, Signature: c.Signature, Covered: c.Covered, ReplayIDs: c.ReplayIDs,
	})
	if err != nil {
		return "", fmt.Errorf("%w: commitment: %w", ErrInvalid, err)
	}
	if len(b) > maxRecord {
		return "", fmt.Errorf("%w: commitment record of %d bytes, limit %d", ErrInvalid, len(b), maxRecord)
	}
	return string(b), nil
}

// decodeCommitment rebuilds a commitment from its stream entry; d holds the
// crawler-day's dictionary that compact records name.
func decodeCommitment(account, day string, m redis.XMessage, d dict) (*Commitment, error) {
	s, _ := m.Values[recordField].(string)
	if compactRecord(s) {
		c, err := decodeCompact(s, day, d)
		if err != nil {
			return nil, fmt.Errorf("ledger: commitment %s of %s %s: %w", m.ID, account, day, err)
		}
		c.ID, c.Day, c.Account = m.ID, day, account
		return c, nil
	}
	var r record
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return nil, fmt.Errorf("ledger: commitment %s of %s %s: %w", m.ID, account, day, err)
	}
	return &Commitment{
		ID: m.ID, RequestID: r.RequestID, Received: time.Unix(0, r.Received).UTC(), Day: day,
		Account: account, Agent: r.Agent, KeyID: r.KeyID, Publisher: r.Publisher, Site: r.Site,
		Method: r.Method, Scheme: r.Scheme, Authority: r.Authority, Path: r.Path,
		Price: money.Micros(r.Price), Currency: r.Currency, OfferID: r.OfferID, Dialect: r.Dialect,
		Label: r.Label, SignatureInput: r.SignatureInput, Signature: r.Signature,
		Covered: r.Covered, ReplayIDs: r.ReplayIDs,
	}, nil
}
