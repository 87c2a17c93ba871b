package agreement

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// The JSON form of an agreement, as the key directory's API and its storage
// write it: amounts are decimal strings ("0.001"), never numbers; times are
// UTC RFC 3339 in whole seconds; a rate is {"fixed": "0.001"} or
// {"discount_bps": 2000}:
//
//	{"id": "agr_…", "version": 1, "publisher": "pub_news", "account": "op_…",
//	 "currency": "USD", "valid_from": "2026-12-01T00:00:00Z",
//	 "scope": [{"host": "news.example", "paths": ["/archive/"]}],
//	 "terms": {"kind": "subscription", "subscription": {"period": "month",
//	   "fee": "100.00", "included": 100000, "overage": {"discount_bps": 2000}}},
//	 "state": "offered", "offered_at": "2026-11-20T10:00:00Z"}

type agreementJSON struct {
	ID         string          `json:"id"`
	Version    int             `json:"version"`
	Publisher  string          `json:"publisher"`
	Account    string          `json:"account"`
	Currency   string          `json:"currency"`
	ValidFrom  string          `json:"valid_from"`
	ValidUntil string          `json:"valid_until,omitempty"`
	Scope      []siteJSON      `json:"scope"`
	Terms      termsJSON       `json:"terms"`
	State      State           `json:"state,omitempty"`
	OfferedAt  string          `json:"offered_at,omitempty"`
	DecidedAt  string          `json:"decided_at,omitempty"`
	Acceptance *AcceptanceJSON `json:"acceptance,omitempty"`
	// ContentSHA256 and ContentDropped are set by the store (see
	// Agreement); an offer carries neither.
	ContentSHA256  string `json:"content_sha256,omitempty"`
	ContentDropped bool   `json:"content_dropped,omitempty"`
}

type siteJSON struct {
	Host  string   `json:"host"`
	Paths []string `json:"paths,omitempty"`
}

type termsJSON struct {
	Kind         Kind              `json:"kind"`
	Rate         *rateJSON         `json:"rate,omitempty"`
	Subscription *subscriptionJSON `json:"subscription,omitempty"`
	Prepaid      *prepaidJSON      `json:"prepaid,omitempty"`
}

type rateJSON struct {
	Fixed       string `json:"fixed,omitempty"`
	DiscountBPS *int64 `json:"discount_bps,omitempty"`
}

type subscriptionJSON struct {
	Period    Period    `json:"period"`
	Fee       string    `json:"fee"`
	Included  int64     `json:"included"`
	Overage   *rateJSON `json:"overage,omitempty"`
	HardStop  bool      `json:"hard_stop,omitempty"`
	FeeTiming FeeTiming `json:"fee_timing,omitempty"`
}

type prepaidJSON struct {
	Amount     string    `json:"amount"`
	TopUpBelow string    `json:"top_up_below,omitempty"`
	Rate       *rateJSON `json:"rate,omitempty"`
}

// AcceptanceJSON is the wire form of an Acceptance; the operator's client
// sends it to accept a version.
type AcceptanceJSON struct {
	KeyID     string `json:"key_id"`
	SignedAt  string `json:"signed_at"`
	Signature string `json:"signature"`
}

// JSON returns the wire form of acc.
func (acc Acceptance) JSON() AcceptanceJSON {
	j := AcceptanceJSON{KeyID: acc.KeyID, Signature: acc.Signature}
	if !acc.SignedAt.IsZero() {
		j.SignedAt = formatTime(acc.SignedAt)
	}
	return j
}

// Parse reads the wire form; it checks the time's spelling, not the
// signature (VerifyAcceptance does). Errors wrap ErrBadAcceptance.
func (j AcceptanceJSON) Parse() (Acceptance, error) {
	if j.KeyID == "" || len(j.KeyID) > 64 {
		return Acceptance{}, fmt.Errorf("%w: key_id %q is not a key thumbprint", ErrBadAcceptance, clip(j.KeyID, 64))
	}
	t, err := parseTime("signed_at", j.SignedAt)
	if err != nil {
		return Acceptance{}, fmt.Errorf("%w: %v", ErrBadAcceptance, err)
	}
	if len(j.Signature) > 256 {
		return Acceptance{}, fmt.Errorf("%w: signature too long", ErrBadAcceptance)
	}
	return Acceptance{KeyID: j.KeyID, SignedAt: t, Signature: j.Signature}, nil
}

// MarshalJSON writes the agreement's wire form.
func (a Agreement) MarshalJSON() ([]byte, error) {
	j := agreementJSON{ID: a.ID, Version: a.Version, Publisher: a.Publisher, Account: a.Account, Currency: a.Currency,
		ValidFrom: optTime(a.ValidFrom), ValidUntil: optTime(a.ValidUntil), State: a.State,
		OfferedAt: optTime(a.OfferedAt), DecidedAt: optTime(a.DecidedAt), ContentSHA256: a.ContentSHA256, ContentDropped: a.ContentDropped}
	j.Scope = make([]siteJSON, len(a.Scope))
	for i, s := range a.Scope {
		j.Scope[i] = siteJSON(s)
	}
	t := a.Terms
	j.Terms.Kind = t.Kind
	if t.Rate != nil {
		j.Terms.Rate = t.Rate.json()
	}
	if s := t.Subscription; s != nil {
		j.Terms.Subscription = &subscriptionJSON{Period: s.Period, Fee: s.Fee.String(), Included: s.Included,
			HardStop: s.HardStop, FeeTiming: s.FeeTiming}
		if s.Overage != nil {
			j.Terms.Subscription.Overage = s.Overage.json()
		}
	}
	if p := t.Prepaid; p != nil {
		j.Terms.Prepaid = &prepaidJSON{Amount: p.Amount.String()}
		if p.TopUpBelow != 0 {
			j.Terms.Prepaid.TopUpBelow = p.TopUpBelow.String()
		}
		if p.Rate != nil {
			j.Terms.Prepaid.Rate = p.Rate.json()
		}
	}
	if a.Acceptance != nil {
		aj := a.Acceptance.JSON()
		j.Acceptance = &aj
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the wire form: amounts and times in their one
// spelling, a rate fixed or discount, no unknown field. It does not validate the content
// (Validate does). Errors wrap ErrInvalid (or ErrBadAcceptance for the
// acceptance).
func (a *Agreement) UnmarshalJSON(b []byte) error {
	var j agreementJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // a misspelt valid_until must not make an agreement open-ended
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: data after the JSON object", ErrInvalid)
	}
	out := Agreement{ID: j.ID, Version: j.Version, Publisher: j.Publisher, Account: j.Account, Currency: j.Currency, State: j.State,
		ContentSHA256: j.ContentSHA256, ContentDropped: j.ContentDropped}
	var err error
	if out.ValidFrom, err = optParseTime("valid_from", j.ValidFrom); err != nil {
		return err
	}
	if out.ValidUntil, err = optParseTime("valid_until", j.ValidUntil); err != nil {
		return err
	}
	if out.OfferedAt, err = optParseTime("offered_at", j.OfferedAt); err != nil {
		return err
	}
	if out.DecidedAt, err = optParseTime("decided_at", j.DecidedAt); err != nil {
		return err
	}
	if len(j.Scope) > MaxSites {
		return fmt.Errorf("%w: scope: %d sites, at most %d", ErrInvalid, len(j.Scope), MaxSites)
	}
	for _, s := range j.Scope {
		out.Scope = append(out.Scope, Site(s))
	}
	t := Terms{Kind: j.Terms.Kind}
	if j.Terms.Rate != nil {
		r, err := j.Terms.Rate.parse("rate")
		if err != nil {
			return err
		}
		t.Rate = &r
	}
	if sj := j.Terms.Subscription; sj != nil {
		s := Subscription{Period: sj.Period, Included: sj.Included, HardStop: sj.HardStop, FeeTiming: sj.FeeTiming}
		if s.Fee, err = parseMoney("subscription fee", sj.Fee); err != nil {
			return err
		}
		if sj.Overage != nil {
			r, err := sj.Overage.parse("overage")
			if err != nil {
				return err
			}
			s.Overage = &r
		}
		t.Subscription = &s
	}
	if pj := j.Terms.Prepaid; pj != nil {
		var p Prepaid
		if p.Amount, err = parseMoney("prepaid amount", pj.Amount); err != nil {
			return err
		}
		if pj.TopUpBelow != "" {
			if p.TopUpBelow, err = parseMoney("prepaid top_up_below", pj.TopUpBelow); err != nil {
				return err
			}
		}
		if pj.Rate != nil {
			r, err := pj.Rate.parse("prepaid rate")
			if err != nil {
				return err
			}
			p.Rate = &r
		}
		t.Prepaid = &p
	}
	out.Terms = t
	if j.Acceptance != nil {
		acc, err := j.Acceptance.Parse()
		if err != nil {
			return err
		}
		out.Acceptance = &acc
	}
	*a = out
	return nil
}

func (r Rate) json() *rateJSON {
	if r.Mode == RateFixed {
		return &rateJSON{Fixed: r.Price.String()}
	}
	bps := r.DiscountBPS
	return &rateJSON{DiscountBPS: &bps}
}

func (j rateJSON) parse(field string) (Rate, error) {
	switch {
	case j.Fixed != "" && j.DiscountBPS != nil:
		return Rate{}, fmt.Errorf("%w: terms: %s has both fixed and discount_bps; give one", ErrInvalid, field)
	case j.Fixed != "":
		p, err := parseMoney(field+" fixed", j.Fixed)
		return Rate{Mode: RateFixed, Price: p}, err
	case j.DiscountBPS != nil:
		return Rate{Mode: RateDiscount, DiscountBPS: *j.DiscountBPS}, nil
	}
	return Rate{}, fmt.Errorf("%w: terms: %s needs fixed (a price such as \"0.001\") or discount_bps (0 to 10000)", ErrInvalid, field)
}

func parseMoney(field, s string) (money.Micros, error) {
	m, err := money.Parse(s)
	if err != nil {
		return 0, fmt.Errorf("%w: terms: %s: %v (write it as a decimal string such as \"10.00\")", ErrInvalid, field, err)
	}
	return m, nil
}

func optTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return formatTime(t)
}

func optParseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return parseTime(field, s)
}
