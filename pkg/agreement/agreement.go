// Package agreement is the model of the agreements a publisher and a crawler
// operator make beyond the sites' list prices: a negotiated rate, a
// subscription with a quota, or prepaid credit, each for some sites or paths
// over a validity period. It has no storage and no HTTP: types, validation,
// the canonical bytes an operator signs to accept a version, the choice of
// the version in force for a request, and the charge of one request. Every
// amount is integer micro-units (money.Micros); nothing here uses a float.
//
// # Life of an agreement
//
// A publisher offers version 1 of an agreement (state offered); the
// operator accepts it by signing its canonical bytes with one of its
// registered keys (accepted), or declines it (declined); the publisher may
// withdraw an offer not yet decided (withdrawn). A version is never edited:
// to change terms, the publisher offers version n+1 of the same id, and once
// accepted it supersedes version n from its start (version n becomes
// superseded; it still governs the time before). Only an accepted (or
// superseded, for the time it governed) version is ever in force.
//
// Decisions this package makes where the shared design is silent:
//
//   - A version is in force from Start() = the later of ValidFrom and
//     AcceptedAt (an acceptance is never retroactive: requests already
//     charged at list price stay so, and an audit re-derives them the same
//     way) until the earlier of ValidUntil and the start of the next
//     accepted version of the same id.
//   - "Overlap" between two agreements (different ids) of one publisher and
//     account means the same host and the same path prefix (whole site
//     counting as prefix "/") in force at a common instant; nested prefixes
//     are allowed, and the longest matching prefix wins (InForce). So ties
//     are impossible.
//   - Path prefixes match as plain string prefixes, as the site's price rules
//     do (pricing.Rule.Prefix): "/docs" covers "/docs/a" and "/docs-old".
//     Write "/docs/" to mean the folder only.
//   - An agreement prices only requests the site would charge for (pricing
//     action charge): free paths, always-free paths and blocked crawlers are
//     untouched by any agreement. A fixed rate applies even when it is above
//     the list price: it is what both sides signed.
//   - Discounts round down (floor) to the micro-unit: the crawler never pays
//     more than the exact discounted price.
//   - An offered subscription with neither an overage rate nor a hard stop is
//     invalid: what happens past the quota is always stated.
//   - An agreement only ever applies to the sites the gateway's
//     configuration gives its publisher, because the gateway passes the
//     site's publisher to InForce, which matches it: an agreement of one
//     publisher can never price, nor block by overlap, another publisher's
//     site. The registry also refuses to offer, or to record the acceptance
//     of, a scope naming a host that is not the offering publisher's (its
//     host claims, set by the platform's admin): otherwise a crawler could
//     be sold a fee or credit for another's site, on which no gateway would
//     ever apply it. Hosts are compared in NormalizeHost's spelling.
//   - Apply knows no exchange rate: an agreement whose Currency is not the
//     site's currency must not be applied to its requests.
//   - Prepaid credit: Amount is the credit the operator buys when it accepts
//     (the settler charges it as a top-up); TopUpBelow, when positive, makes
//     the settler buy another Amount whenever the balance falls below it.
//     Requests drawn from the balance are charged 0 on the invoice.
package agreement

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"golang.org/x/net/idna"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// Sentinel errors; every error of this package wraps one (errors.Is). The
// key directory maps each to an HTTP status and the code in its comment.
var (
	// ErrInvalid reports an agreement whose fields or terms are not valid
	// (code invalid_agreement).
	ErrInvalid = errors.New("invalid agreement")
	// ErrOverlap reports two accepted agreements of one publisher and account
	// covering the same host and path prefix at a common time (code
	// agreement_overlap).
	ErrOverlap = errors.New("agreements overlap")
	// ErrBadAcceptance reports an acceptance whose signature does not verify
	// over this version's canonical bytes, or names another account or key
	// (code bad_acceptance).
	ErrBadAcceptance = errors.New("bad acceptance signature")
	// ErrAcceptanceStale reports an acceptance signed too long ago or in the
	// future (code acceptance_stale).
	ErrAcceptanceStale = errors.New("acceptance signature stale")
)

// The refusal codes of a request under an agreement (HTTP 402 at the gateway).
const (
	// CodeQuotaExhausted: a hard-stop subscription's quota for the period is
	// used up.
	CodeQuotaExhausted = "quota_exhausted"
	// CodePrepaidExhausted: the prepaid balance is lower than the request's
	// price (the ledger's append script decides it, atomically).
	CodePrepaidExhausted = "prepaid_exhausted"
)

// IDPrefix starts every agreement id.
const IDPrefix = "agr_"

// Limits on what one agreement may hold, so that a hostile offer costs
// little to store, sign and match.
const (
	MaxSites       = 64
	MaxPaths       = 64
	MaxPathLen     = 256
	MaxHostLen     = 253
	MaxVersion     = 1_000_000
	MaxIncluded    = 1 << 40
	maxAccountLen  = 64
	maxBasisPoints = 10_000
)

// Kind is the kind of an agreement's terms.
type Kind string

// The kinds of terms.
const (
	// KindRate: a negotiated per-request price or discount.
	KindRate Kind = "rate"
	// KindSubscription: a flat fee per period covering a quota of requests.
	KindSubscription Kind = "subscription"
	// KindPrepaid: requests drawn from credit bought in advance.
	KindPrepaid Kind = "prepaid"
)

// State is where a version is in its life.
type State string

// The states of a version. Offered, accepted, declined, withdrawn and
// superseded are stored; ended is derived (StateAt) for an accepted version
// past its ValidUntil.
const (
	StateOffered    State = "offered"
	StateAccepted   State = "accepted"
	StateDeclined   State = "declined"
	StateWithdrawn  State = "withdrawn"
	StateSuperseded State = "superseded"
	StateEnded      State = "ended"
)

// Period is a subscription's period. Weeks start on Monday 00:00 UTC, months
// on the 1st 00:00 UTC (period.go computes them).
type Period string

// The subscription periods.
const (
	PeriodWeek  Period = "week"
	PeriodMonth Period = "month"
)

// FeeTiming is when a subscription's fee is invoiced.
type FeeTiming string

// The fee timings.
const (
	// FeeInAdvance: on the invoice of the period's start (the default).
	FeeInAdvance FeeTiming = "in_advance"
	// FeeInArrears: on the period's last invoice.
	FeeInArrears FeeTiming = "in_arrears"
)

// SettlementPeriod is how often a crawler account is invoiced.
type SettlementPeriod string

// The settlement periods; the zero value means daily.
const (
	SettleDaily   SettlementPeriod = "daily"
	SettleWeekly  SettlementPeriod = "weekly"
	SettleMonthly SettlementPeriod = "monthly"
)

// ParseSettlementPeriod reads "daily", "weekly" or "monthly"; "" is daily.
func ParseSettlementPeriod(s string) (SettlementPeriod, error) {
	switch p := SettlementPeriod(s); p {
	case "":
		return SettleDaily, nil
	case SettleDaily, SettleWeekly, SettleMonthly:
		return p, nil
	}
	return "", fmt.Errorf("%w: settlement period %q is not daily, weekly or monthly", ErrInvalid, clip(s, 32))
}

// Agreement is one version of an agreement between a publisher and a
// crawler operator. The fields up to Terms are the version's content,
// covered by the operator's signature (Canonical); the state fields after
// them change as the version is decided.
type Agreement struct {
	// ID is "agr_" and 16 lower-case base32 characters, shared by every
	// version.
	ID string
	// Version is 1, 2, …; version n+1 supersedes version n from its start.
	Version int
	// Publisher is the publisher id (the pricing configuration's
	// sites[].publisher).
	Publisher string
	// Account is the crawler operator's account id ("op_…").
	Account string
	// Scope lists the sites covered; at least one.
	Scope []Site
	// Currency is the currency of every amount in Terms; it must be the
	// covered sites' currency for the agreement to apply.
	Currency string
	// ValidFrom is the start of validity; ValidUntil its end, exclusive
	// (zero: open-ended). Whole seconds, UTC.
	ValidFrom, ValidUntil time.Time
	// Terms are the priced terms.
	Terms Terms

	// State is where the version is in its life.
	State State
	// OfferedAt is when the publisher offered it.
	OfferedAt time.Time
	// DecidedAt is when it was accepted, declined or withdrawn.
	DecidedAt time.Time
	// Acceptance is the operator's signature, set once accepted.
	Acceptance *Acceptance
	// ContentSHA256 is the lower-case hex SHA-256 of the version's
	// Canonical bytes (ContentDigest), as the store recorded it when the
	// version was offered; empty for versions stored before digests were.
	ContentSHA256 string
	// ContentDropped reports a version whose content (scope, currency,
	// validity, terms) the store no longer keeps: a version declined or
	// withdrawn without ever being accepted keeps only its parties, state,
	// times and ContentSHA256, so that the offers nobody accepted cannot
	// grow storage without bound. Accepted versions are never dropped.
	ContentDropped bool
}

// ContentDigest is the lower-case hex SHA-256 of a's Canonical bytes: what
// ContentSHA256 records, so that anyone holding a version's content can
// check it is the one offered.
func (a *Agreement) ContentDigest() string {
	sum := sha256.Sum256(a.Canonical())
	return hex.EncodeToString(sum[:])
}

// Site is a host and, optionally, the path prefixes covered on it; no
// paths means the whole site.
type Site struct {
	// Host is a host name without port, in NormalizeHost's spelling once
	// validated.
	Host string
	// Paths are path prefixes, each starting with "/".
	Paths []string
}

// RateMode says how a Rate prices a request.
type RateMode string

// The rate modes.
const (
	// RateFixed: a fixed price per request, whatever the list price.
	RateFixed RateMode = "fixed"
	// RateDiscount: the list price less DiscountBPS basis points, rounded
	// down.
	RateDiscount RateMode = "discount"
)

// Rate prices one request: a fixed price or a discount on the list price.
type Rate struct {
	Mode RateMode
	// Price is the fixed price (RateFixed).
	Price money.Micros
	// DiscountBPS is the discount in basis points, 0 to 10000 (RateDiscount);
	// 0 is the list price.
	DiscountBPS int64
}

// Subscription is a flat fee per period covering Included requests.
type Subscription struct {
	Period Period
	// Fee is charged once per period (prorated when the agreement starts or
	// ends mid-period).
	Fee money.Micros
	// Included is the number of requests per period the fee covers.
	Included int64
	// Overage prices each request beyond the quota; nil with HardStop.
	Overage *Rate
	// HardStop refuses requests beyond the quota (402 quota_exhausted).
	HardStop bool
	// FeeTiming is when the fee is invoiced; "" is in advance.
	FeeTiming FeeTiming
}

// Prepaid is credit bought in advance and drawn down per request.
type Prepaid struct {
	// Amount is the credit bought at acceptance, and at each top-up.
	Amount money.Micros
	// TopUpBelow, when positive, has the settler buy another Amount whenever
	// the balance falls below it; 0 means no automatic top-up.
	TopUpBelow money.Micros
	// Rate, optional, prices the requests drawn (nil: the list price).
	Rate *Rate
}

// Terms are an agreement's priced terms: Kind and exactly the matching one
// of Rate, Subscription and Prepaid.
type Terms struct {
	Kind         Kind
	Rate         *Rate
	Subscription *Subscription
	Prepaid      *Prepaid
}

// Accepted reports whether this version was ever accepted (it is, or was,
// in force): state accepted, superseded or ended, with an acceptance.
func (a *Agreement) Accepted() bool {
	switch a.State {
	case StateAccepted, StateSuperseded, StateEnded:
		return a.Acceptance != nil && !a.DecidedAt.IsZero()
	}
	return false
}

// Start is when the version comes into force once accepted: the later of
// ValidFrom and the acceptance (an acceptance is never retroactive).
func (a *Agreement) Start() time.Time {
	if a.Accepted() && a.DecidedAt.After(a.ValidFrom) {
		return a.DecidedAt
	}
	return a.ValidFrom
}

// StateAt is the version's state at now: State, except that an accepted
// version past its ValidUntil is ended.
func (a *Agreement) StateAt(now time.Time) State {
	if a.State == StateAccepted && !a.ValidUntil.IsZero() && !now.Before(a.ValidUntil) {
		return StateEnded
	}
	return a.State
}

// Validate checks the version's content (not its state): ids, scope,
// currency, validity and terms. It returns the agreement normalized
// (hosts in NormalizeHost's spelling, sites and paths sorted and
// deduplicated, times in whole UTC seconds, fee timing defaulted) so that
// its canonical bytes have one spelling. Errors wrap ErrInvalid and name the field.
func (a Agreement) Validate() (Agreement, error) {
	bad := func(format string, args ...any) (Agreement, error) {
		return Agreement{}, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	if !ValidID(a.ID) {
		return bad("id %q is not %q and 16 lower-case base32 characters", clip(a.ID, 32), IDPrefix)
	}
	if a.Version < 1 || a.Version > MaxVersion {
		return bad("version %d is not 1 to %d", a.Version, MaxVersion)
	}
	if !validPublisher(a.Publisher) {
		return bad("publisher %q is not a publisher id (lower-case letters, digits, '_' and '-', starting with a letter)", clip(a.Publisher, 64))
	}
	if !validAccount(a.Account) {
		return bad("account %q is not an operator account id", clip(a.Account, 64))
	}
	if err := money.ValidateCurrency(a.Currency); err != nil {
		return bad("currency: %v", err)
	}
	scope, err := normalizeScope(a.Scope)
	if err != nil {
		return Agreement{}, err
	}
	a.Scope = scope
	if a.ValidFrom.IsZero() {
		return bad("valid_from is missing")
	}
	a.ValidFrom = a.ValidFrom.UTC().Truncate(time.Second)
	if !a.ValidUntil.IsZero() {
		a.ValidUntil = a.ValidUntil.UTC().Truncate(time.Second)
		if !a.ValidUntil.After(a.ValidFrom) {
			return bad("valid_until %s is not after valid_from %s", formatTime(a.ValidUntil), formatTime(a.ValidFrom))
		}
	}
	if a.ValidFrom.Year() < 2000 || a.ValidFrom.Year() > 9999 || (!a.ValidUntil.IsZero() && a.ValidUntil.Year() > 9999) {
		return bad("validity must lie between the years 2000 and 9999")
	}
	if a.Terms, err = a.Terms.validate(); err != nil {
		return Agreement{}, err
	}
	return a, nil
}

func (t Terms) validate() (Terms, error) {
	bad := func(format string, args ...any) (Terms, error) {
		return Terms{}, fmt.Errorf("%w: terms: "+format, append([]any{ErrInvalid}, args...)...)
	}
	set := 0
	for _, p := range []bool{t.Rate != nil, t.Subscription != nil, t.Prepaid != nil} {
		if p {
			set++
		}
	}
	if set != 1 {
		return bad("exactly one of rate, subscription and prepaid must be given, got %d", set)
	}
	switch t.Kind {
	case KindRate:
		if t.Rate == nil {
			return bad("kind rate needs a rate")
		}
		r, err := t.Rate.validate("rate")
		if err != nil {
			return Terms{}, err
		}
		t.Rate = &r
	case KindSubscription:
		if t.Subscription == nil {
			return bad("kind subscription needs a subscription")
		}
		s := *t.Subscription
		if s.Period != PeriodWeek && s.Period != PeriodMonth {
			return bad("subscription period %q is not week or month", clip(string(s.Period), 16))
		}
		if s.Fee < 0 {
			return bad("subscription fee %s is negative", s.Fee)
		}
		if s.Included < 0 || s.Included > MaxIncluded {
			return bad("subscription included %d is not 0 to %d requests", s.Included, int64(MaxIncluded))
		}
		switch {
		case s.HardStop && s.Overage != nil:
			return bad("subscription has both an overage rate and a hard stop; choose one")
		case !s.HardStop && s.Overage == nil:
			return bad("subscription needs an overage rate or a hard stop: say what happens past the quota")
		case s.Overage != nil:
			r, err := s.Overage.validate("overage")
			if err != nil {
				return Terms{}, err
			}
			s.Overage = &r
		}
		switch s.FeeTiming {
		case "":
			s.FeeTiming = FeeInAdvance
		case FeeInAdvance, FeeInArrears:
		default:
			return bad("fee timing %q is not in_advance or in_arrears", clip(string(s.FeeTiming), 16))
		}
		t.Subscription = &s
	case KindPrepaid:
		if t.Prepaid == nil {
			return bad("kind prepaid needs prepaid terms")
		}
		p := *t.Prepaid
		if p.Amount <= 0 {
			return bad("prepaid amount %s is not positive", p.Amount)
		}
		if p.TopUpBelow < 0 {
			return bad("prepaid top_up_below %s is negative", p.TopUpBelow)
		}
		if p.Rate != nil {
			r, err := p.Rate.validate("prepaid rate")
			if err != nil {
				return Terms{}, err
			}
			p.Rate = &r
		}
		t.Prepaid = &p
	default:
		return bad("kind %q is not rate, subscription or prepaid", clip(string(t.Kind), 16))
	}
	return t, nil
}

func (r Rate) validate(field string) (Rate, error) {
	switch r.Mode {
	case RateFixed:
		if r.Price < 0 {
			return Rate{}, fmt.Errorf("%w: terms: %s price %s is negative", ErrInvalid, field, r.Price)
		}
		if r.DiscountBPS != 0 {
			return Rate{}, fmt.Errorf("%w: terms: %s is fixed and has a discount; give one or the other", ErrInvalid, field)
		}
	case RateDiscount:
		if r.DiscountBPS < 0 || r.DiscountBPS > maxBasisPoints {
			return Rate{}, fmt.Errorf("%w: terms: %s discount %d basis points is not 0 to %d", ErrInvalid, field, r.DiscountBPS, maxBasisPoints)
		}
		if r.Price != 0 {
			return Rate{}, fmt.Errorf("%w: terms: %s is a discount and has a fixed price; give one or the other", ErrInvalid, field)
		}
	default:
		return Rate{}, fmt.Errorf("%w: terms: %s mode %q is not fixed or discount", ErrInvalid, field, clip(string(r.Mode), 16))
	}
	return r, nil
}

func normalizeScope(sites []Site) ([]Site, error) {
	bad := func(format string, args ...any) ([]Site, error) {
		return nil, fmt.Errorf("%w: scope: "+format, append([]any{ErrInvalid}, args...)...)
	}
	if len(sites) == 0 {
		return bad("no site given")
	}
	if len(sites) > MaxSites {
		return bad("%d sites, at most %d", len(sites), MaxSites)
	}
	byHost := map[string][]string{}
	whole := map[string]bool{}
	for _, s := range sites {
		h, err := NormalizeHost(s.Host)
		if err != nil {
			return bad("%v", err)
		}
		if _, dup := byHost[h]; dup {
			return bad("host %s is listed twice; list its paths once", h)
		}
		if len(s.Paths) > MaxPaths {
			return bad("host %s has %d paths, at most %d", h, len(s.Paths), MaxPaths)
		}
		seen := map[string]bool{}
		paths := []string{}
		for _, p := range s.Paths {
			if !validPath(p) {
				return bad("path %q on %s is not a path prefix starting with \"/\" (printable ASCII, no spaces, at most %d bytes)", clip(p, 64), h, MaxPathLen)
			}
			if p == "/" {
				whole[h] = true
			}
			if !seen[p] {
				seen[p] = true
				paths = append(paths, p)
			}
		}
		if whole[h] && len(paths) > 1 {
			return bad("host %s lists \"/\" (the whole site) and other paths; list no paths for the whole site", h)
		}
		if whole[h] {
			paths = nil
		}
		sort.Strings(paths)
		byHost[h] = paths
	}
	out := make([]Site, 0, len(byHost))
	for h, p := range byHost {
		if len(p) == 0 {
			p = nil
		}
		out = append(out, Site{Host: h, Paths: p})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out, nil
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns "agr_" and 10 random bytes in lower-case base32 (16
// characters).
func NewID(rand io.Reader) (string, error) {
	b := make([]byte, 10)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("agreement: id: %w", err)
	}
	return IDPrefix + idEncoding.EncodeToString(b), nil
}

// ValidID reports whether s has the shape of an agreement id.
func ValidID(s string) bool {
	rest, ok := strings.CutPrefix(s, IDPrefix)
	if !ok || len(rest) != 16 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// validPublisher is the registry's publisher id shape: 1 to 64 lower-case
// letters, digits, '_' and '-', starting with a letter.
func validPublisher(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == ""
}

// validAccount accepts an operator account id: "op_" and lower-case
// letters and digits (the registry checks the exact form).
func validAccount(s string) bool {
	rest, ok := strings.CutPrefix(s, "op_")
	if !ok || rest == "" || len(s) > maxAccountLen {
		return false
	}
	return strings.Trim(rest, "abcdefghijklmnopqrstuvwxyz0123456789") == ""
}

// NormalizeHost returns host name h in the one spelling agreement scopes
// and the registry's host claims use: lower case, without the trailing
// dot of a fully qualified name, an internationalized name in its ASCII
// (punycode, "xn--") form, as it arrives in a request's Host header. A
// port, a path, spaces or an IP v6 literal are refused: a scope and a
// claim name a host on every port. The error says what is wrong with h.
func NormalizeHost(h string) (string, error) {
	orig := h
	h = strings.TrimSuffix(h, ".")
	ascii := true
	for i := 0; i < len(h); i++ {
		if h[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		h = strings.ToLower(h)
	} else {
		a, err := idna.Lookup.ToASCII(h)
		if err != nil {
			return "", fmt.Errorf("host %q is not a valid internationalized host name: %v", clip(orig, 64), err)
		}
		h = a
	}
	if !validHost(h) {
		return "", fmt.Errorf("host %q is not a host name without port (letters, digits, '-' and '.')", clip(orig, 64))
	}
	return h, nil
}

func validHost(h string) bool {
	if h == "" || len(h) > MaxHostLen || h[0] == '.' || h[0] == '-' || h[len(h)-1] == '.' || strings.Contains(h, "..") {
		return false
	}
	return strings.Trim(h, "abcdefghijklmnopqrstuvwxyz0123456789.-") == ""
}

func validPath(p string) bool {
	if p == "" || p[0] != '/' || len(p) > MaxPathLen {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] <= ' ' || p[i] > '~' {
			return false
		}
	}
	return true
}

// Covers reports whether the version's scope covers host and path, and how
// specifically: the length of the matching path prefix (1 for a whole
// site, as prefix "/"). host is compared case-insensitively, without port.
func (a *Agreement) Covers(host, path string) (specificity int, ok bool) {
	host = stripPort(strings.ToLower(host))
	for _, s := range a.Scope {
		if s.Host != host {
			continue
		}
		if len(s.Paths) == 0 {
			return 1, true
		}
		best := 0
		for _, p := range s.Paths {
			if strings.HasPrefix(path, p) && len(p) > best {
				best = len(p)
			}
		}
		return best, best > 0
	}
	return 0, false
}

func stripPort(h string) string {
	if i := strings.LastIndexByte(h, ':'); i > 0 && !strings.HasSuffix(h, "]") {
		return h[:i]
	}
	return h
}

// Window is the half-open interval [From, Until) in which a version is in
// force; a zero Until is open-ended.
type Window struct{ From, Until time.Time }

// Contains reports whether t lies in the window.
func (w Window) Contains(t time.Time) bool {
	return !t.Before(w.From) && (w.Until.IsZero() || t.Before(w.Until))
}

// Empty reports whether the window holds no instant.
func (w Window) Empty() bool { return !w.Until.IsZero() && !w.Until.After(w.From) }

func (w Window) overlaps(o Window) bool {
	return (o.Until.IsZero() || w.From.Before(o.Until)) && (w.Until.IsZero() || o.From.Before(w.Until))
}

// Windows returns, for every accepted version among versions (any mix of
// ids), the window in which it is in force: from its Start to the earlier
// of its ValidUntil and the Start of the next accepted version of the same
// id. Versions never accepted get no entry; a version superseded before it
// started gets an empty window.
func Windows(versions []Agreement) map[Ref]Window {
	byID := map[string][]*Agreement{}
	for i := range versions {
		if v := &versions[i]; v.Accepted() {
			byID[v.ID] = append(byID[v.ID], v)
		}
	}
	out := map[Ref]Window{}
	for _, vs := range byID {
		sort.Slice(vs, func(i, j int) bool { return vs[i].Version < vs[j].Version })
		for i, v := range vs {
			w := Window{From: v.Start(), Until: v.ValidUntil}
			if i+1 < len(vs) {
				if next := vs[i+1].Start(); w.Until.IsZero() || next.Before(w.Until) {
					w.Until = next
				}
			}
			if w.Empty() {
				w.Until = w.From
			}
			out[Ref{ID: v.ID, Version: v.Version}] = w
		}
	}
	return out
}

// Ref names one version of an agreement.
type Ref struct {
	ID      string
	Version int
}

// InForce returns the single version in force at `at` for a request by
// account to path on host of publisher, among versions (any mix of ids,
// versions and states): an accepted version whose window (Windows) holds
// at and whose scope covers the request; where several do, the one with
// the longest matching path prefix. It returns nil when none applies (the
// site's list price does). Validation (CheckOverlap) makes a tie
// impossible; should one exist anyway, the lowest id wins, so the choice is
// deterministic.
func InForce(versions []Agreement, account, publisher, host, path string, at time.Time) *Agreement {
	windows := Windows(versions)
	var best *Agreement
	bestSpec := 0
	for i := range versions {
		v := &versions[i]
		if v.Account != account || v.Publisher != publisher {
			continue
		}
		w, ok := windows[Ref{ID: v.ID, Version: v.Version}]
		if !ok || !w.Contains(at) {
			continue
		}
		spec, ok := v.Covers(host, path)
		if !ok {
			continue
		}
		if best == nil || spec > bestSpec || (spec == bestSpec && v.ID < best.ID) {
			best, bestSpec = v, spec
		}
	}
	return best
}

// CheckOverlap reports whether candidate, once accepted at its Start, would
// overlap an accepted agreement of another id among existing: the same
// publisher and account, the same host and path prefix (a whole site being
// prefix "/"), windows that share an instant. Versions of candidate's own
// id are not compared with it (a new version supersedes). The window of
// candidate is from its Start to its ValidUntil; existing versions' windows
// are as Windows computes them. Errors wrap ErrOverlap and name the other
// agreement.
func CheckOverlap(candidate Agreement, existing []Agreement) error {
	cw := Window{From: candidate.Start(), Until: candidate.ValidUntil}
	if cw.Empty() {
		return nil
	}
	windows := Windows(existing)
	for i := range existing {
		e := &existing[i]
		if e.ID == candidate.ID || e.Publisher != candidate.Publisher || e.Account != candidate.Account {
			continue
		}
		w, ok := windows[Ref{ID: e.ID, Version: e.Version}]
		if !ok || w.Empty() || !w.overlaps(cw) {
			continue
		}
		if host, prefix, ok := sharedPrefix(candidate.Scope, e.Scope); ok {
			return fmt.Errorf("%w: %s version %d already covers %s prefix %s from %s to %s; end it or offer a new version of it instead",
				ErrOverlap, e.ID, e.Version, host, prefix, formatTime(w.From), formatUntil(w.Until))
		}
	}
	return nil
}

func sharedPrefix(a, b []Site) (host, prefix string, ok bool) {
	prefixes := func(s Site) []string {
		if len(s.Paths) == 0 {
			return []string{"/"}
		}
		return s.Paths
	}
	for _, sa := range a {
		for _, sb := range b {
			if !strings.EqualFold(sa.Host, sb.Host) {
				continue
			}
			for _, pa := range prefixes(sa) {
				for _, pb := range prefixes(sb) {
					if pa == pb {
						return sa.Host, pa, true
					}
				}
			}
		}
	}
	return "", "", false
}

const timeLayout = "2006-01-02T15:04:05Z"

// formatTime writes t as UTC RFC 3339 with whole seconds, the one spelling
// of a time in canonical bytes and JSON.
func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func formatUntil(t time.Time) string {
	if t.IsZero() {
		return "open-ended"
	}
	return formatTime(t)
}

// parseTime reads a time written by formatTime, and only that form.
func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil || formatTime(t) != s {
		return time.Time{}, fmt.Errorf("%w: %s %q is not a UTC time such as 2026-01-02T03:04:05Z", ErrInvalid, field, clip(s, 40))
	}
	return t, nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
