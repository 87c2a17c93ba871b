package agreement

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/pkg/botauth"
)

// CanonicalHeader is the first line of an agreement's canonical bytes, and
// AcceptanceHeader the first line of an acceptance message; their versions
// let the formats change without ever making an old signature mean
// something new.
const (
	CanonicalHeader  = "paycrawl agreement v1"
	AcceptanceHeader = "paycrawl agreement acceptance v1"
)

// AcceptanceWindow is how far an acceptance's signing time may lie from the
// server's clock, either way (as a key registration's ProofWindow).
const AcceptanceWindow = 5 * time.Minute

// Canonical returns the bytes that identify this version's content: every
// field up to Terms, one "name: value" line each, joined by "\n" without a
// trailing newline. a must be normalized (Validate): then two equal
// versions have equal bytes, and any change of id, version, party, scope,
// validity or term changes them. Amounts are decimal (money.Micros.String),
// times UTC RFC 3339 in whole seconds, an open end "-":
//
//	paycrawl agreement v1
//	id: agr_aaaaaaaaaaaaaaaa
//	version: 2
//	publisher: pub_news
//	account: op_bbbbbbbbbbbbbbbb
//	currency: USD
//	valid from: 2026-12-01T00:00:00Z
//	valid until: -
//	site: news.example /archive/ /premium/
//	site: blog.example *
//	kind: subscription
//	period: month
//	fee: 100.00
//	included: 100000
//	overage: discount 2000
//	fee timing: in_advance
func (a *Agreement) Canonical() []byte {
	var b strings.Builder
	line := func(name, value string) {
		b.WriteByte('\n')
		b.WriteString(name)
		b.WriteString(": ")
		b.WriteString(value)
	}
	b.WriteString(CanonicalHeader)
	line("id", a.ID)
	line("version", strconv.Itoa(a.Version))
	line("publisher", a.Publisher)
	line("account", a.Account)
	line("currency", a.Currency)
	line("valid from", formatTime(a.ValidFrom))
	if a.ValidUntil.IsZero() {
		line("valid until", "-")
	} else {
		line("valid until", formatTime(a.ValidUntil))
	}
	for _, s := range a.Scope {
		paths := "*"
		if len(s.Paths) > 0 {
			paths = strings.Join(s.Paths, " ")
		}
		line("site", s.Host+" "+paths)
	}
	t := a.Terms
	line("kind", string(t.Kind))
	switch {
	case t.Kind == KindRate && t.Rate != nil:
		line("rate", t.Rate.String())
	case t.Kind == KindSubscription && t.Subscription != nil:
		s := t.Subscription
		line("period", string(s.Period))
		line("fee", s.Fee.String())
		line("included", strconv.FormatInt(s.Included, 10))
		if s.HardStop {
			line("overage", "hard stop")
		} else if s.Overage != nil {
			line("overage", s.Overage.String())
		}
		line("fee timing", string(s.FeeTiming))
	case t.Kind == KindPrepaid && t.Prepaid != nil:
		p := t.Prepaid
		line("amount", p.Amount.String())
		line("top up below", p.TopUpBelow.String())
		if p.Rate != nil {
			line("rate", p.Rate.String())
		} else {
			line("rate", "list")
		}
	}
	return []byte(b.String())
}

// String writes the rate as in canonical bytes: "fixed 0.001" or
// "discount 2000" (basis points).
func (r Rate) String() string {
	if r.Mode == RateFixed {
		return "fixed " + r.Price.String()
	}
	return "discount " + strconv.FormatInt(r.DiscountBPS, 10)
}

// Acceptance is an operator's signature accepting one version: made at
// SignedAt by the registered key KeyID of the operator, over
// AcceptanceMessage.
type Acceptance struct {
	// KeyID is the signing key's RFC 7638 thumbprint.
	KeyID string
	// SignedAt is when the operator signed, whole seconds.
	SignedAt time.Time
	// Signature is the Ed25519 signature in base64 (standard alphabet,
	// padded, as SignAcceptance makes it; any base64 is read).
	Signature string
}

// AcceptanceMessage is what an operator's key signs to accept a version:
//
//	paycrawl agreement acceptance v1
//	account: op_bbbbbbbbbbbbbbbb
//	key: <keyid>
//	signed at: 2026-12-01T09:00:00Z
//	<the version's Canonical bytes>
//
// Binding the account and key means the signature cannot be presented for
// another account; binding the time means it cannot be kept for later;
// binding the canonical bytes (id, version and every term) means it accepts
// exactly this version and nothing else.
func AcceptanceMessage(a *Agreement, keyID string, signedAt time.Time) []byte {
	head := AcceptanceHeader + "\naccount: " + a.Account + "\nkey: " + keyID + "\nsigned at: " + formatTime(signedAt) + "\n"
	return append([]byte(head), a.Canonical()...)
}

// SignAcceptance signs the acceptance of version a (normalized) with the
// operator's private key at time now.
func SignAcceptance(priv ed25519.PrivateKey, a *Agreement, now time.Time) (Acceptance, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return Acceptance{}, errors.New("agreement: not an Ed25519 private key")
	}
	k, err := botauth.NewKey(priv.Public().(ed25519.PublicKey))
	if err != nil {
		return Acceptance{}, err
	}
	at := now.UTC().Truncate(time.Second)
	sig := ed25519.Sign(priv, AcceptanceMessage(a, k.ID, at))
	return Acceptance{KeyID: k.ID, SignedAt: at, Signature: base64.StdEncoding.EncodeToString(sig)}, nil
}

// VerifyAcceptance checks that acc accepts exactly version a (normalized)
// for a.Account, signed by pub (the registered key acc.KeyID of that
// account; the caller looks it up and checks that it is usable), within
// AcceptanceWindow of now. Errors wrap ErrBadAcceptance (malformed, another
// key, another version's or account's bytes) or ErrAcceptanceStale.
func VerifyAcceptance(a *Agreement, acc Acceptance, pub ed25519.PublicKey, now time.Time) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: the key is not an Ed25519 public key", ErrBadAcceptance)
	}
	if acc.SignedAt.IsZero() {
		return fmt.Errorf("%w: signed_at is missing", ErrBadAcceptance)
	}
	at := acc.SignedAt.UTC().Truncate(time.Second)
	if d := now.Sub(at); d > AcceptanceWindow || d < -AcceptanceWindow {
		return fmt.Errorf("%w: signed at %s, %s away from the server's clock (%s); sign again (at most %s either way)",
			ErrAcceptanceStale, formatTime(at), d.Round(time.Second).Abs(), formatTime(now), AcceptanceWindow)
	}
	sig, err := decodeSignature(acc.Signature)
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, AcceptanceMessage(a, acc.KeyID, at), sig) {
		return fmt.Errorf("%w: the signature does not verify with key %s over the acceptance of %s version %d for %s; sign this exact version",
			ErrBadAcceptance, clip(acc.KeyID, 64), a.ID, a.Version, a.Account)
	}
	return nil
}

func decodeSignature(s string) ([]byte, error) {
	b, err := botauth.DecodeSignature(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadAcceptance, err)
	}
	return b, nil
}

// Summary describes the terms in one line for people: "discount 20.00%",
// "100.00 per month for 1000 requests, then hard stop", "prepaid 50.00 at
// list price".
func (t Terms) Summary() string {
	rate := func(r *Rate) string {
		switch {
		case r == nil:
			return "list price"
		case r.Mode == RateFixed:
			return r.Price.String() + " per request"
		default:
			return "list price less " + strconv.FormatInt(r.DiscountBPS/100, 10) + "." + fmt.Sprintf("%02d", r.DiscountBPS%100) + "%"
		}
	}
	switch {
	case t.Kind == KindRate && t.Rate != nil:
		return "rate: " + rate(t.Rate)
	case t.Kind == KindSubscription && t.Subscription != nil:
		s := t.Subscription
		after := "hard stop"
		if !s.HardStop {
			after = "overage at " + rate(s.Overage)
		}
		timing := s.FeeTiming
		if timing == "" {
			timing = FeeInAdvance
		}
		return "subscription: " + s.Fee.String() + " per " + string(s.Period) + " (" + strings.ReplaceAll(string(timing), "_", " ") + ") for " +
			strconv.FormatInt(s.Included, 10) + " requests, then " + after
	case t.Kind == KindPrepaid && t.Prepaid != nil:
		p := t.Prepaid
		out := "prepaid: " + p.Amount.String() + " of credit at " + rate(p.Rate)
		if p.TopUpBelow > 0 {
			out += ", topped up below " + p.TopUpBelow.String()
		}
		return out
	}
	return string(t.Kind)
}

// ScopeSummary describes the scope in one line: "news.example/archive/,
// news.example/premium/, blog.example".
func (a *Agreement) ScopeSummary() string {
	var parts []string
	for _, s := range a.Scope {
		if len(s.Paths) == 0 {
			parts = append(parts, s.Host)
		}
		for _, p := range s.Paths {
			parts = append(parts, s.Host+p)
		}
	}
	return strings.Join(parts, ", ")
}

// Row is the version as the columns of a listing for people: id, version,
// state at now, scope, valid from and until (dates, "-" when open-ended)
// and the terms' summary. A version whose content was dropped shows
// "(content dropped)" and the start of its ContentSHA256 instead.
func (a *Agreement) Row(now time.Time) []string {
	if a.ContentDropped {
		return []string{a.ID, strconv.Itoa(a.Version), string(a.StateAt(now)), "(content dropped)", "-", "-", "sha256 " + clip(a.ContentSHA256, 16)}
	}
	until := "-"
	if !a.ValidUntil.IsZero() {
		until = a.ValidUntil.UTC().Format(time.DateOnly)
	}
	return []string{a.ID, strconv.Itoa(a.Version), string(a.StateAt(now)), a.ScopeSummary(),
		a.ValidFrom.UTC().Format(time.DateOnly), until, a.Terms.Summary()}
}

// WriteRows writes versions as tab-separated lines for a tabwriter: a
// header, then one Row per version followed by a column for the other
// party, named party and read by partyOf.
func WriteRows(w io.Writer, versions []Agreement, party string, partyOf func(*Agreement) string, now time.Time) {
	fmt.Fprintln(w, "ID\tVERSION\tSTATE\tSCOPE\tFROM\tUNTIL\tTERMS\t"+party)
	for i := range versions {
		fmt.Fprintln(w, strings.Join(append(versions[i].Row(now), partyOf(&versions[i])), "\t"))
	}
}
