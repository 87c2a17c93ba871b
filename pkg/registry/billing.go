package registry

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// Rail is how an operator pays.
type Rail string

// The rails.
const (
	// RailStripe charges a Stripe customer, in USD.
	RailStripe Rail = "stripe"
	// RailEVM pulls USDC from a wallet that approved an allowance to the
	// settler's address.
	RailEVM Rail = "evm"
)

// Currencies of the rails.
const (
	CurrencyUSD  = "USD"
	CurrencyUSDC = "USDC"
)

// MaxDailyCap is the largest daily spend cap accepted: one million units.
// It keeps every amount far below 2^53 micro-units, where the ledger's Lua
// arithmetic stays exact.
const MaxDailyCap = money.Micros(1_000_000 * money.Scale)

// Billing is an operator's billing profile. Amounts are micro-units of
// Currency; in JSON they are decimal strings ("5.00"), never numbers.
type Billing struct {
	Rail Rail
	// StripeCustomerID is the Stripe customer charged (rail stripe).
	StripeCustomerID string
	// Wallet is the paying EVM address in EIP-55 form (rail evm).
	Wallet string
	// WalletProof is the wallet's signature proving it pays for this
	// operator (rail evm), kept for audit; the store refuses an evm profile
	// without a valid one, and the settler refuses to charge one.
	WalletProof *WalletProof
	// Currency is USD for stripe and USDC for evm.
	Currency string
	// DailyCap is the most the operator can be charged in one day.
	DailyCap money.Micros
	// DefaultMaxPrice is the most one response may cost when the crawler
	// states no maximum of its own.
	DefaultMaxPrice money.Micros
	// SettlementPeriod is how often the operator is invoiced: daily (the
	// default, also for ""), weekly or monthly. The store keeps it beside
	// the profile (Store.SetSettlementPeriod); setting a profile without
	// one keeps the stored period.
	SettlementPeriod agreement.SettlementPeriod
	// SettlementPeriodChanged is when the settlement period was last set
	// (read from the store; zero if it never was: daily since the
	// operator's sign-up). The settler looks further back for days a
	// change left uninvoiced while it is recent.
	SettlementPeriodChanged time.Time
	// Updated is when the profile was last set.
	Updated time.Time
}

// BillingJSON is the JSON form of Billing, amounts as decimal strings.
type BillingJSON struct {
	Rail             string `json:"rail"`
	StripeCustomerID string `json:"stripe_customer_id,omitempty"`
	Wallet           string `json:"wallet,omitempty"`
	// WalletProof proves the wallet is the operator's (rail evm).
	WalletProof     *WalletProofJSON `json:"wallet_proof,omitempty"`
	Currency        string           `json:"currency,omitempty"`
	DailyCap        string           `json:"daily_cap"`
	DefaultMaxPrice string           `json:"default_max_price"`
	// SettlementPeriod is daily, weekly or monthly; "" keeps the stored one
	// (daily when none).
	SettlementPeriod string     `json:"settlement_period,omitempty"`
	Updated          *time.Time `json:"updated,omitempty"`
}

// Parse converts the JSON form to a Billing, without Normalize's checks.
// Bad amounts wrap ErrInvalidBilling, a malformed wallet proof
// ErrBadWalletProof.
func (j BillingJSON) Parse() (Billing, error) {
	b := Billing{Rail: Rail(j.Rail), StripeCustomerID: j.StripeCustomerID, Wallet: j.Wallet, Currency: j.Currency,
		SettlementPeriod: agreement.SettlementPeriod(j.SettlementPeriod)}
	var err error
	if j.WalletProof != nil {
		p, err := j.WalletProof.Parse()
		if err != nil {
			return Billing{}, fmt.Errorf("wallet_proof: %w", err)
		}
		b.WalletProof = &p
	}
	if b.DailyCap, err = money.Parse(j.DailyCap); err != nil {
		return Billing{}, fmt.Errorf("%w: daily_cap: %v (write it as a decimal string such as \"5.00\")", ErrInvalidBilling, err)
	}
	if b.DefaultMaxPrice, err = money.Parse(j.DefaultMaxPrice); err != nil {
		return Billing{}, fmt.Errorf("%w: default_max_price: %v (write it as a decimal string such as \"0.05\")", ErrInvalidBilling, err)
	}
	if j.Updated != nil {
		b.Updated = *j.Updated
	}
	return b, nil
}

// JSON returns the JSON form of b.
func (b Billing) JSON() BillingJSON {
	j := BillingJSON{Rail: string(b.Rail), StripeCustomerID: b.StripeCustomerID, Wallet: b.Wallet, Currency: b.Currency,
		DailyCap: b.DailyCap.String(), DefaultMaxPrice: b.DefaultMaxPrice.String(), SettlementPeriod: string(b.SettlementPeriod)}
	if b.WalletProof != nil {
		p := b.WalletProof.JSON()
		j.WalletProof = &p
	}
	if !b.Updated.IsZero() {
		u := b.Updated.UTC()
		j.Updated = &u
	}
	return j
}

// MarshalJSON writes the JSON form.
func (b Billing) MarshalJSON() ([]byte, error) { return json.Marshal(b.JSON()) }

// UnmarshalJSON reads the JSON form.
func (b *Billing) UnmarshalJSON(data []byte) error {
	var j BillingJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	v, err := j.Parse()
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// Normalize checks a requested profile and fills its defaults: the rail's
// currency when none is given, the wallet in checksum form. A stripe profile
// may leave StripeCustomerID empty (the store then creates a customer). It
// does not verify an evm profile's wallet proof: the store does, knowing the
// operator, chain and settler. Errors wrap ErrInvalidBilling.
func (b Billing) Normalize() (Billing, error) {
	bad := func(format string, args ...any) (Billing, error) {
		return Billing{}, fmt.Errorf("%w: "+format, append([]any{ErrInvalidBilling}, args...)...)
	}
	switch b.Rail {
	case RailStripe:
		if b.Currency == "" {
			b.Currency = CurrencyUSD
		}
		if b.Currency != CurrencyUSD {
			return bad("rail stripe bills in %s, not %q", CurrencyUSD, b.Currency)
		}
		if b.Wallet != "" || b.WalletProof != nil {
			return bad("a wallet and its proof belong to rail evm, not stripe")
		}
		if b.StripeCustomerID != "" && !validCustomerID(b.StripeCustomerID) {
			return bad("%q is not a Stripe customer id (cus_…)", truncate(b.StripeCustomerID, 64))
		}
	case RailEVM:
		if b.Currency == "" {
			b.Currency = CurrencyUSDC
		}
		if b.Currency != CurrencyUSDC {
			return bad("rail evm settles in %s, not %q", CurrencyUSDC, b.Currency)
		}
		if b.StripeCustomerID != "" {
			return bad("a Stripe customer id belongs to rail stripe, not evm")
		}
		if b.Wallet == "" {
			return bad("rail evm needs a wallet address (0x…)")
		}
		w, err := ParseWallet(b.Wallet)
		if err != nil {
			return Billing{}, err
		}
		b.Wallet = w
	default:
		return bad("rail %q is not one of stripe, evm", truncate(string(b.Rail), 32))
	}
	if b.SettlementPeriod != "" {
		p, err := agreement.ParseSettlementPeriod(string(b.SettlementPeriod))
		if err != nil {
			return bad("settlement_period %q is not daily, weekly or monthly", truncate(string(b.SettlementPeriod), 16))
		}
		b.SettlementPeriod = p
	}
	if b.DailyCap <= 0 || b.DailyCap > MaxDailyCap {
		return bad("daily_cap %s is not in (0, %s]", b.DailyCap, MaxDailyCap)
	}
	if b.DefaultMaxPrice <= 0 || b.DefaultMaxPrice > b.DailyCap {
		return bad("default_max_price %s is not in (0, daily_cap %s]", b.DefaultMaxPrice, b.DailyCap)
	}
	return b, nil
}

func validCustomerID(s string) bool { return validStripeID("cus_", s) }

// validStripeID reports whether s is prefix and 1 to 64 ASCII letters and
// digits, the shape of Stripe's object ids.
func validStripeID(prefix, s string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || rest == "" || len(rest) > 64 {
		return false
	}
	for _, c := range rest {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
