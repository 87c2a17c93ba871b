package registry

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// A publisher is the party paid for its sites' crawling: the gateway's
// pricing configuration names each site's publisher by id (sites[].publisher,
// such as "pub_news"), the ledger records that id on every commitment and
// invoice line, and the publisher's account here says how and when its
// share is paid out.

// Publisher is a publisher's account.
type Publisher struct {
	// ID is the publisher id the gateway's sites name (pricing
	// SiteConfig.Publisher): lower-case letters, digits, '_' and '-', at most
	// 64, starting with a letter (ValidPublisherID).
	ID      string
	Name    string
	Contact string
	// Payout is how the publisher is paid; nil until one is set.
	Payout *Payout
	// MinimumPayout is the smallest balance paid out; below it the balance
	// carries over to the next period. 0 means any positive balance.
	MinimumPayout money.Micros
	// FeeBPS is the platform's fee in basis points (1/100 of a percent) of
	// each earning, 0 to 10000; only an admin sets it.
	FeeBPS int64
	// Hosts are the hosts the publisher may sell agreements for, sorted,
	// each held by this publisher only (hosts.go); only an admin sets them.
	Hosts            []string
	Created, Updated time.Time
}

// Currency is the currency the publisher is paid in: its payout method's, ""
// without one.
func (p Publisher) Currency() string {
	if p.Payout == nil {
		return ""
	}
	return p.Payout.Currency
}

// Payout is a publisher's payout method: a Stripe connected account (Stripe
// Connect transfers, USD) or an EVM wallet proved the publisher's (ERC-20
// transfers from the treasury, USDC).
type Payout struct {
	Rail Rail
	// StripeAccount is the connected account ("acct_…", rail stripe).
	StripeAccount string
	// Wallet is the receiving address in EIP-55 form (rail evm).
	Wallet string
	// WalletProof is the wallet's signature for purpose WalletReceives,
	// naming this publisher (rail evm); kept for audit and verified again by
	// the settler before every payout.
	WalletProof *WalletProof
	// Currency is USD for stripe and USDC for evm.
	Currency string
}

// MaxFeeBPS is the largest platform fee: 10000 basis points, all of it.
const MaxFeeBPS = 10_000

// MaxMinimumPayout bounds a minimum payout (one million units).
const MaxMinimumPayout = MaxDailyCap

// PublisherJSON is the wire form of a publisher; amounts are decimal
// strings.
type PublisherJSON struct {
	ID            string      `json:"id"`
	Name          string      `json:"name"`
	Contact       string      `json:"contact"`
	Payout        *PayoutJSON `json:"payout,omitempty"`
	Currency      string      `json:"currency,omitempty"`
	MinimumPayout string      `json:"minimum_payout"`
	FeeBPS        int64       `json:"fee_bps"`
	Hosts         []string    `json:"hosts"`
	Created       string      `json:"created,omitempty"`
	Updated       string      `json:"updated,omitempty"`
}

// PayoutJSON is the wire form of a payout method.
type PayoutJSON struct {
	Rail          string           `json:"rail"`
	StripeAccount string           `json:"stripe_account,omitempty"`
	Wallet        string           `json:"wallet,omitempty"`
	WalletProof   *WalletProofJSON `json:"wallet_proof,omitempty"`
	Currency      string           `json:"currency,omitempty"`
}

// JSON returns the wire form of p.
func (p Publisher) JSON() PublisherJSON {
	j := PublisherJSON{ID: p.ID, Name: p.Name, Contact: p.Contact, Currency: p.Currency(),
		MinimumPayout: p.MinimumPayout.String(), FeeBPS: p.FeeBPS, Hosts: p.Hosts}
	if j.Hosts == nil {
		j.Hosts = []string{}
	}
	if p.Payout != nil {
		pj := p.Payout.JSON()
		j.Payout = &pj
	}
	if !p.Created.IsZero() {
		j.Created = p.Created.UTC().Format(time.RFC3339)
	}
	if !p.Updated.IsZero() {
		j.Updated = p.Updated.UTC().Format(time.RFC3339)
	}
	return j
}

// JSON returns the wire form of p.
func (p Payout) JSON() PayoutJSON {
	j := PayoutJSON{Rail: string(p.Rail), StripeAccount: p.StripeAccount, Wallet: p.Wallet, Currency: p.Currency}
	if p.WalletProof != nil {
		wp := p.WalletProof.JSON()
		j.WalletProof = &wp
	}
	return j
}

// Parse reads the wire form, without Normalize's checks. A malformed wallet
// proof wraps ErrBadWalletProof.
func (j PayoutJSON) Parse() (Payout, error) {
	p := Payout{Rail: Rail(j.Rail), StripeAccount: j.StripeAccount, Wallet: j.Wallet, Currency: j.Currency}
	if j.WalletProof != nil {
		wp, err := j.WalletProof.Parse()
		if err != nil {
			return Payout{}, fmt.Errorf("wallet_proof: %w", err)
		}
		p.WalletProof = &wp
	}
	return p, nil
}

// Normalize checks a payout method and fills its currency; the wallet comes
// back in checksum form. It does not verify the wallet proof (the store
// does, knowing the publisher and the domain). Errors wrap ErrInvalid.
func (p Payout) Normalize() (Payout, error) {
	bad := func(format string, args ...any) (Payout, error) {
		return Payout{}, fmt.Errorf("%w: payout: "+format, append([]any{ErrInvalid}, args...)...)
	}
	switch p.Rail {
	case RailStripe:
		if p.Currency == "" {
			p.Currency = CurrencyUSD
		}
		if p.Currency != CurrencyUSD {
			return bad("rail stripe pays out in %s, not %q", CurrencyUSD, truncate(p.Currency, 16))
		}
		if p.Wallet != "" || p.WalletProof != nil {
			return bad("a wallet and its proof belong to rail evm, not stripe")
		}
		if !validConnectedAccount(p.StripeAccount) {
			return bad("%q is not a Stripe connected account id (acct_…)", truncate(p.StripeAccount, 64))
		}
	case RailEVM:
		if p.Currency == "" {
			p.Currency = CurrencyUSDC
		}
		if p.Currency != CurrencyUSDC {
			return bad("rail evm pays out in %s, not %q", CurrencyUSDC, truncate(p.Currency, 16))
		}
		if p.StripeAccount != "" {
			return bad("a Stripe connected account belongs to rail stripe, not evm")
		}
		w, err := ParseWallet(p.Wallet)
		if err != nil {
			return bad("wallet: %v", err)
		}
		p.Wallet = w
	default:
		return bad("rail %q is not one of stripe, evm", truncate(string(p.Rail), 32))
	}
	return p, nil
}

func validConnectedAccount(s string) bool { return validStripeID("acct_", s) }

// PublisherIDPrefix starts the publisher ids the registry mints.
const PublisherIDPrefix = "pub_"

// ValidPublisherID reports whether s can be a publisher id: 1 to 64
// characters of lower-case letters, digits, '_' and '-', starting with a
// letter. Every such id is also a valid ledger publisher field.
func ValidPublisherID(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// NewPublisherID returns "pub_" and 10 random bytes in lower-case base32.
func NewPublisherID(rand io.Reader) (string, error) {
	b := make([]byte, 10)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("registry: publisher id: %w", err)
	}
	return PublisherIDPrefix + idEncoding.EncodeToString(b), nil
}

// PublisherTokenPrefix starts every publisher API token, so that an
// operator's token and a publisher's are never taken for one another.
const PublisherTokenPrefix = "pcp_"

// NewPublisherToken returns a fresh publisher token, "pcp_" and 32 random
// bytes in base64url, and its digest, the only form that is stored.
func NewPublisherToken(rand io.Reader) (token, digest string, err error) {
	t, _, err := NewToken(rand)
	if err != nil {
		return "", "", err
	}
	token = PublisherTokenPrefix + strings.TrimPrefix(t, TokenPrefix)
	return token, HashToken(token), nil
}

// ParsePublisherToken checks that s has the shape of a publisher token and
// returns its digest. Errors wrap ErrUnauthorized.
func ParsePublisherToken(s string) (string, error) {
	rest, ok := strings.CutPrefix(s, PublisherTokenPrefix)
	if !ok {
		return "", fmt.Errorf("%w: not a paycrawl publisher token (pcp_…)", ErrUnauthorized)
	}
	if _, err := ParseToken(TokenPrefix + rest); err != nil {
		return "", fmt.Errorf("%w: not a paycrawl publisher token (pcp_…)", ErrUnauthorized)
	}
	return HashToken(s), nil
}

// publisherFromHash builds a Publisher from its Redis hash.
func publisherFromHash(h map[string]string) (*Publisher, error) {
	p := &Publisher{ID: h["id"], Name: h["name"], Contact: h["contact"], Hosts: parseHostsField(h["hosts"]),
		Created: parseMS(h["created"]), Updated: parseMS(h["updated"])}
	var err error
	if p.MinimumPayout, err = money.Parse(h["minimum_payout"]); err != nil {
		return nil, fmt.Errorf("registry: stored minimum payout of %s: %w", p.ID, err)
	}
	if _, err := fmt.Sscan(h["fee_bps"], &p.FeeBPS); err != nil {
		return nil, fmt.Errorf("registry: stored fee of %s: %w", p.ID, err)
	}
	if raw := h["payout"]; raw != "" {
		var j PayoutJSON
		if err := json.Unmarshal([]byte(raw), &j); err != nil {
			return nil, fmt.Errorf("registry: stored payout method of %s: %w", p.ID, err)
		}
		po, err := j.Parse()
		if err != nil {
			return nil, fmt.Errorf("registry: stored payout method of %s: %w", p.ID, err)
		}
		p.Payout = &po
	}
	return p, nil
}
