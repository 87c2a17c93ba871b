package registry

import (
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
)

// A wallet proof is how an account proves that an EVM wallet is its own
// (ARCHITECTURE.md, invariant 9): the wallet's key signs, with EIP-191
// personal_sign, a clear text message naming the account, the wallet, the
// chain, the settler's address and the time. Operators prove the wallet
// they pay from (WalletPays); publishers prove the wallet their payouts go to
// (WalletReceives), by the same rule with a purpose of their own.

// WalletProofHeader is the first line of every wallet proof message; the
// version lets the format change without ever making an old signature mean
// something new.
const WalletProofHeader = "paycrawl wallet proof v1"

// WalletProofMaxAge is how old a wallet proof may be when it is presented,
// and WalletProofSkew how far in the future its issued-at time may lie
// (clocks disagree a little). A stored proof does not expire.
const (
	WalletProofMaxAge = 15 * time.Minute
	WalletProofSkew   = 2 * time.Minute
)

// WalletPurpose says what a proven wallet is used for.
type WalletPurpose string

// The wallet purposes.
const (
	// WalletPays: the wallet pays the account's crawling; the settler pulls
	// USDC from it through an ERC-20 allowance the wallet gave it.
	WalletPays WalletPurpose = "pay"
	// WalletReceives: the wallet receives the account's payouts; the
	// settler's treasury sends USDC to it.
	WalletReceives WalletPurpose = "receive"
)

// walletStatements are the human sentences of the purposes, the second
// line of a message, so that whoever signs reads what it allows.
var walletStatements = map[WalletPurpose]string{
	WalletPays:     "I control this wallet and let it pay the paycrawl usage of the account below: its settler may pull USDC from it up to the allowance I approve.",
	WalletReceives: "I control this wallet and ask that the paycrawl payouts of the publisher account below be sent to it.",
}

// WalletDomain is where a wallet proof is valid: the chain, and the
// settler's address (the spender of the allowance, or the sender of
// payouts). A key directory or settler without one cannot accept or honour
// wallet proofs.
type WalletDomain struct {
	// ChainID is the EVM chain id, such as 1 or 8453; it must be positive.
	ChainID int64
	// Settler is the settler's address, stored in EIP-55 form.
	Settler string
}

// IsZero reports whether d is unset.
func (d WalletDomain) IsZero() bool { return d.ChainID == 0 && d.Settler == "" }

// Normalize checks d and returns it with the settler in EIP-55 form.
// Errors wrap ErrInvalid.
func (d WalletDomain) Normalize() (WalletDomain, error) {
	if d.ChainID <= 0 {
		return WalletDomain{}, fmt.Errorf("%w: evm chain id %d is not a positive integer", ErrInvalid, d.ChainID)
	}
	s, err := ParseWallet(d.Settler)
	if err != nil {
		return WalletDomain{}, fmt.Errorf("%w: evm settler address: %v", ErrInvalid, err)
	}
	d.Settler = s
	return d, nil
}

// WalletClaim is what a wallet's key signs: that the wallet serves Account
// for Purpose, on the chain and settler of the domain, as of IssuedAt.
type WalletClaim struct {
	Purpose WalletPurpose
	// Account is the operator id (purpose pay) or publisher id (purpose
	// receive) the wallet belongs to.
	Account string
	// Wallet is the wallet's address in EIP-55 form.
	Wallet  string
	ChainID int64
	// Settler is the settler's address in EIP-55 form.
	Settler string
	// IssuedAt is when the claim was signed, in whole seconds.
	IssuedAt time.Time
}

// Message returns the text the wallet signs: eight lines joined by "\n",
// without a trailing newline, addresses in EIP-55 form, the time in UTC
// RFC 3339 with whole seconds:
//
//	paycrawl wallet proof v1
//	I control this wallet and let it pay the paycrawl usage of the account below: its settler may pull USDC from it up to the allowance I approve.
//	purpose: pay
//	account: op_abcdefghijklmnop
//	wallet: 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed
//	chain id: 1337
//	settler: 0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359
//	issued at: 2026-01-02T03:04:05Z
//
// The signature is EIP-191 personal_sign over these bytes: secp256k1 over
// keccak256("\x19Ethereum Signed Message:\n" + decimal length + message).
// Call it on a claim whose fields are already checked (Verify does).
func (c WalletClaim) Message() []byte {
	lines := []string{
		WalletProofHeader,
		walletStatements[c.Purpose],
		"purpose: " + string(c.Purpose),
		"account: " + c.Account,
		"wallet: " + c.Wallet,
		"chain id: " + strconv.FormatInt(c.ChainID, 10),
		"settler: " + c.Settler,
		"issued at: " + FormatIssuedAt(c.IssuedAt),
	}
	return []byte(strings.Join(lines, "\n"))
}

// check validates the claim's fields and returns it normalized (addresses
// in EIP-55 form). Errors wrap ErrBadWalletProof.
func (c WalletClaim) check() (WalletClaim, error) {
	bad := func(format string, args ...any) (WalletClaim, error) {
		return WalletClaim{}, fmt.Errorf("%w: "+format, append([]any{ErrBadWalletProof}, args...)...)
	}
	if _, ok := walletStatements[c.Purpose]; !ok {
		return bad("purpose %q is not %q or %q", truncate(string(c.Purpose), 32), WalletPays, WalletReceives)
	}
	if c.Account == "" || len(c.Account) > 64 || strings.ContainsAny(c.Account, "\r\n") {
		return bad("account %q is not an account id", truncate(c.Account, 64))
	}
	w, err := ParseWallet(c.Wallet)
	if err != nil {
		return bad("wallet: %v", err)
	}
	s, err := ParseWallet(c.Settler)
	if err != nil {
		return bad("settler: %v", err)
	}
	if c.ChainID <= 0 {
		return bad("chain id %d is not a positive integer", c.ChainID)
	}
	if c.IssuedAt.IsZero() {
		return bad("issued_at is missing")
	}
	c.Wallet, c.Settler, c.IssuedAt = w, s, c.IssuedAt.UTC().Truncate(time.Second)
	return c, nil
}

// WalletProof is a signed WalletClaim as stored with a billing profile, for
// audit: the claim, the signature and when the registry verified it.
type WalletProof struct {
	WalletClaim
	// Signature is the 65-byte signature r ‖ s ‖ v as "0x" and 130 lower
	// case hex digits, v being 27 or 28.
	Signature string
	// VerifiedAt is when the registry accepted the proof.
	VerifiedAt time.Time
}

// WalletExpect is what a proof must be about: the purpose, the account and
// wallet it must name, and the domain it must be valid in.
type WalletExpect struct {
	Purpose WalletPurpose
	Account string
	Wallet  string
	Domain  WalletDomain
}

// SignWalletProof signs claim with the wallet's private key, the way a
// wallet's personal_sign would. The claim's Wallet must be key's address.
func SignWalletProof(key *ecdsa.PrivateKey, claim WalletClaim) (WalletProof, error) {
	if key == nil {
		return WalletProof{}, errors.New("registry: no wallet key")
	}
	c, err := claim.check()
	if err != nil {
		return WalletProof{}, err
	}
	if addr := crypto.PubkeyToAddress(key.PublicKey).Hex(); addr != c.Wallet {
		return WalletProof{}, fmt.Errorf("%w: the key is wallet %s's, not %s's", ErrBadWalletProof, addr, c.Wallet)
	}
	sig, err := crypto.Sign(personalHash(c.Message()), key)
	if err != nil {
		return WalletProof{}, err
	}
	sig[64] += 27
	return WalletProof{WalletClaim: c, Signature: "0x" + hex.EncodeToString(sig)}, nil
}

// Verify checks that p is a proof about want, in want's domain, whose
// signature was made by the wallet's key. It does not look at the proof's
// age (VerifyFresh does): a stored proof stays valid. Errors wrap
// ErrBadWalletProof (malformed, or a signature by another key: this is how
// a wallet named by someone else, or a proof replayed for another account,
// is refused) or ErrWalletProofDomain (another chain or settler).
func (p WalletProof) Verify(want WalletExpect) error {
	c, err := p.WalletClaim.check()
	if err != nil {
		return err
	}
	if c.Purpose != want.Purpose {
		return fmt.Errorf("%w: the proof is for purpose %q, not %q", ErrBadWalletProof, c.Purpose, want.Purpose)
	}
	if c.Account != want.Account {
		return fmt.Errorf("%w: the proof names account %s, not %s; sign a proof for %s", ErrBadWalletProof, c.Account, want.Account, want.Account)
	}
	if !strings.EqualFold(c.Wallet, want.Wallet) {
		return fmt.Errorf("%w: the proof names wallet %s, not %s; a new wallet needs a new proof", ErrBadWalletProof, c.Wallet, want.Wallet)
	}
	if want.Domain.IsZero() {
		return fmt.Errorf("%w: no evm chain and settler are configured here, so no wallet proof can be checked", ErrWalletProofDomain)
	}
	if c.ChainID != want.Domain.ChainID {
		return fmt.Errorf("%w: the proof is for chain id %d; this settler is on chain id %d", ErrWalletProofDomain, c.ChainID, want.Domain.ChainID)
	}
	if !strings.EqualFold(c.Settler, want.Domain.Settler) {
		return fmt.Errorf("%w: the proof is for settler %s; this settler is %s", ErrWalletProofDomain, c.Settler, want.Domain.Settler)
	}
	sig, err := ParseWalletSignature(p.Signature)
	if err != nil {
		return err
	}
	signer, err := recoverSigner(c.Message(), sig)
	if err != nil {
		return err
	}
	if signer != c.Wallet {
		return fmt.Errorf("%w: the signature was made by %s, not by wallet %s: only the wallet's own key can prove it (personal_sign of the exact message)", ErrBadWalletProof, signer, c.Wallet)
	}
	return nil
}

// VerifyFresh is Verify for a proof presented now: its issued-at time must
// also lie within WalletProofMaxAge before now and WalletProofSkew after it
// (ErrWalletProofExpired otherwise).
func (p WalletProof) VerifyFresh(want WalletExpect, now time.Time) error {
	if err := p.Verify(want); err != nil {
		return err
	}
	at := p.IssuedAt.UTC().Truncate(time.Second)
	switch age := now.Sub(at); {
	case age > WalletProofMaxAge:
		return fmt.Errorf("%w: issued at %s, %s ago; sign a new proof (at most %s old)", ErrWalletProofExpired, FormatIssuedAt(at), age.Round(time.Second), WalletProofMaxAge)
	case age < -WalletProofSkew:
		return fmt.Errorf("%w: issued at %s, %s in the future by the server's clock; check your clock", ErrWalletProofExpired, FormatIssuedAt(at), (-age).Round(time.Second))
	}
	return nil
}

// ParseWalletSignature reads a 65-byte secp256k1 signature r ‖ s ‖ v given
// as "0x" and 130 hex digits, v being 27, 28, 0 or 1, and returns it with v
// as 0 or 1 (go-ethereum's form). Errors wrap ErrBadWalletProof.
func ParseWalletSignature(s string) ([]byte, error) {
	digits, ok := strings.CutPrefix(s, "0x")
	if !ok || len(digits) != 2*crypto.SignatureLength {
		return nil, fmt.Errorf("%w: signature %q is not 0x and %d hex digits (r, s, v)", ErrBadWalletProof, truncate(s, 16), 2*crypto.SignatureLength)
	}
	sig, err := hex.DecodeString(digits)
	if err != nil {
		return nil, fmt.Errorf("%w: signature is not hex", ErrBadWalletProof)
	}
	switch sig[64] {
	case 27, 28:
		sig[64] -= 27
	case 0, 1:
	default:
		return nil, fmt.Errorf("%w: signature v is %d, want 27 or 28 (or 0 or 1)", ErrBadWalletProof, sig[64])
	}
	r, sv := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:64])
	if !crypto.ValidateSignatureValues(sig[64], r, sv, false) {
		return nil, fmt.Errorf("%w: signature r or s is out of range", ErrBadWalletProof)
	}
	return sig, nil
}

// FormatIssuedAt writes a proof's time as in its message: UTC, RFC 3339,
// whole seconds ("2026-01-02T03:04:05Z").
func FormatIssuedAt(t time.Time) string { return t.UTC().Format(issuedAtLayout) }

// ParseIssuedAt reads a time written by FormatIssuedAt, and only that form,
// so that a message has one spelling. Errors wrap ErrBadWalletProof.
func ParseIssuedAt(s string) (time.Time, error) {
	t, err := time.Parse(issuedAtLayout, s)
	if err != nil || FormatIssuedAt(t) != s {
		return time.Time{}, fmt.Errorf("%w: issued_at %q is not a UTC time such as 2026-01-02T03:04:05Z", ErrBadWalletProof, truncate(s, 40))
	}
	return t, nil
}

const issuedAtLayout = "2006-01-02T15:04:05Z"

// personalHash is EIP-191's hash of a personal_sign message.
func personalHash(msg []byte) []byte {
	return crypto.Keccak256([]byte("\x19Ethereum Signed Message:\n"+strconv.Itoa(len(msg))), msg)
}

// recoverSigner returns the EIP-55 address whose key made sig (v 0 or 1)
// over the personal_sign hash of msg.
func recoverSigner(msg, sig []byte) (string, error) {
	pub, err := crypto.SigToPub(personalHash(msg), sig)
	if err != nil {
		return "", fmt.Errorf("%w: no key can be recovered from the signature: %v", ErrBadWalletProof, err)
	}
	return crypto.PubkeyToAddress(*pub).Hex(), nil
}

// WalletProofJSON is the wire form of a wallet proof. A client sends
// chain_id, settler, issued_at and signature (purpose, account and wallet
// may be left out: the server takes them from the request, and refuses them
// when given and different); the server answers and stores every field.
type WalletProofJSON struct {
	Purpose    string `json:"purpose,omitempty"`
	Account    string `json:"account,omitempty"`
	Wallet     string `json:"wallet,omitempty"`
	ChainID    int64  `json:"chain_id"`
	Settler    string `json:"settler"`
	IssuedAt   string `json:"issued_at"`
	Signature  string `json:"signature"`
	VerifiedAt string `json:"verified_at,omitempty"`
}

// JSON returns the wire form of p.
func (p WalletProof) JSON() WalletProofJSON {
	j := WalletProofJSON{Purpose: string(p.Purpose), Account: p.Account, Wallet: p.Wallet, ChainID: p.ChainID,
		Settler: p.Settler, Signature: p.Signature}
	if !p.IssuedAt.IsZero() {
		j.IssuedAt = FormatIssuedAt(p.IssuedAt)
	}
	if !p.VerifiedAt.IsZero() {
		j.VerifiedAt = FormatIssuedAt(p.VerifiedAt)
	}
	return j
}

// Parse reads the wire form; it checks the times' spelling and the
// signature's shape, not what the proof says (Verify does). Errors wrap
// ErrBadWalletProof.
func (j WalletProofJSON) Parse() (WalletProof, error) {
	p := WalletProof{WalletClaim: WalletClaim{Purpose: WalletPurpose(j.Purpose), Account: j.Account, Wallet: j.Wallet,
		ChainID: j.ChainID, Settler: j.Settler}}
	var err error
	if p.IssuedAt, err = ParseIssuedAt(j.IssuedAt); err != nil {
		return WalletProof{}, err
	}
	if j.VerifiedAt != "" {
		if p.VerifiedAt, err = ParseIssuedAt(j.VerifiedAt); err != nil {
			return WalletProof{}, fmt.Errorf("verified_at: %w", err)
		}
	}
	sig, err := ParseWalletSignature(j.Signature)
	if err != nil {
		return WalletProof{}, err
	}
	sig[64] += 27
	p.Signature = "0x" + hex.EncodeToString(sig)
	return p, nil
}
