package registry

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/redis/go-redis/v9"
)

// Customers creates and checks Stripe customers for the stripe rail. The
// implementation lives in pkg/registry/stripecust.
type Customers interface {
	// CreateCustomer creates a customer for op (name, email from the
	// contact, metadata paycrawl_operator = op.ID) and returns its id.
	// Retries for one operator must not create a second customer.
	CreateCustomer(ctx context.Context, op Operator) (string, error)
	// CustomerOwner returns the operator id a customer is tagged with
	// (metadata paycrawl_operator), "" when untagged. An unknown customer
	// wraps ErrNotFound.
	CustomerOwner(ctx context.Context, customerID string) (string, error)
}

// Options configure a Store. AgentBase is required; every other zero value
// takes the default documented on its field.
type Options struct {
	// AgentBase is the public base URL of the key directory service, such
	// as "https://keys.paycrawl.example". An operator's hosted agent URL is
	// AgentBase + "/agents/" + operator id, unless HostedAgentsBase is set.
	AgentBase string
	// HostedAgentsBase, when set, is an origin ("https://agents.paycrawl.example")
	// under whose domain each operator gets a host of its own,
	// "op-<id>.agents.paycrawl.example", serving its directory at the
	// well-known path: its hosted agent URL (see HostedAgentURL).
	HostedAgentsBase string
	// AllowHTTPLoopbackAgents lets operators register http:// agent URLs on
	// loopback hosts (tests, demos). Every other agent URL must be https.
	// It implies allow-listing the loopback prefixes in AgentHosts.
	AllowHTTPLoopbackAgents bool
	// AgentHosts decides which hosts external agent URLs may name; the zero
	// value allows public DNS names only.
	AgentHosts AgentHosts
	// MaxKeys is the most usable keys (active, or rotated and in their
	// overlap) an operator may hold; 0 means 16.
	MaxKeys int
	// MaxAgents is the most external agent URLs per operator; 0 means 8.
	MaxAgents int
	// SignupsPerMinute is the most sign-ups per client address and minute;
	// 0 means 10, a negative value means no limit.
	SignupsPerMinute int
	// Customers creates Stripe customers; nil leaves the stripe rail
	// unavailable.
	Customers Customers
	// EVM is the chain and settler address wallet proofs must name; the
	// zero value leaves the evm rail unavailable (ErrRailNotConfigured).
	EVM WalletDomain
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of ids and tokens; nil means crypto/rand.
	Rand io.Reader
	// Logger receives failures that do not fail the call (a lost
	// invalidation message); nil means slog.Default.
	Logger *slog.Logger
}

// Store is the registry on Redis. It is safe for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	opts   Options
	base   string
	hosted hostedBase
}

// Defaults of Options.
const (
	DefaultMaxKeys          = 16
	DefaultMaxAgents        = 8
	DefaultSignupsPerMinute = 10
	// DefaultOverlap is how long rotated keys stay valid by default.
	DefaultOverlap = 24 * time.Hour
	// MaxOverlap is the longest overlap a rotation may ask for.
	MaxOverlap = 7 * 24 * time.Hour
)

// NewStore returns a store on rdb.
func NewStore(rdb redis.UniversalClient, opts Options) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("registry: nil redis client")
	}
	base, err := normalizeBase(opts.AgentBase)
	if err != nil {
		return nil, err
	}
	hosted, err := parseHostedBase(opts.HostedAgentsBase)
	if err != nil {
		return nil, err
	}
	if !opts.EVM.IsZero() {
		if opts.EVM, err = opts.EVM.Normalize(); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = DefaultMaxKeys
	}
	if opts.MaxAgents <= 0 {
		opts.MaxAgents = DefaultMaxAgents
	}
	if opts.SignupsPerMinute == 0 {
		opts.SignupsPerMinute = DefaultSignupsPerMinute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Store{rdb: rdb, opts: opts, base: base, hosted: hosted}, nil
}

// normalizeBase checks a public base URL and drops a trailing slash.
func normalizeBase(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("registry: agent base %q is not an absolute http(s) URL without query", s)
	}
	return strings.TrimRight(s, "/"), nil
}

// Redis returns the store's client.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.opts.Now() }

func unavailable(err error) error {
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func ms(t time.Time) string { return itoa(t.UnixMilli()) }

func parseMS(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

// publish announces a change to resolvers. A failure is logged, not
// returned: the change is stored, and resolver caches expire within their
// TTL anyway.
func (s *Store) publish(ctx context.Context, kind, id string) {
	if err := s.rdb.Publish(context.WithoutCancel(ctx), InvalidateChannel, kind+" "+id).Err(); err != nil {
		s.opts.Logger.Warn("registry: invalidation not published; caches expire within their TTL", "kind", kind, "id", id, "err", err)
	}
}

// checkText validates a short human text field.
func checkText(field, v string, maxRunes int) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", fmt.Errorf("%w: %s is required", ErrInvalid, field)
	}
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > maxRunes {
		return "", fmt.Errorf("%w: %s must be valid UTF-8 of at most %d characters", ErrInvalid, field, maxRunes)
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return "", fmt.Errorf("%w: %s contains control characters", ErrInvalid, field)
		}
	}
	return v, nil
}

// SignUp creates an operator and returns it with its API token. The token is
// returned only here, once; the store keeps its SHA-256 digest.
func (s *Store) SignUp(ctx context.Context, name, contact string) (*Operator, string, error) {
	name, err := checkText("name", name, 128)
	if err != nil {
		return nil, "", err
	}
	contact, err = checkText("contact", contact, 256)
	if err != nil {
		return nil, "", err
	}
	if err := CheckContact(contact); err != nil {
		return nil, "", err
	}
	for attempt := 0; attempt < 3; attempt++ {
		id, err := NewOperatorID(s.opts.Rand)
		if err != nil {
			return nil, "", err
		}
		token, digest, err := NewToken(s.opts.Rand)
		if err != nil {
			return nil, "", err
		}
		now := s.opts.Now().UTC().Truncate(time.Millisecond)
		res, err := signupScript.Run(ctx, s.rdb, []string{opKey(id), opsKey(), tokenKey(digest)},
			id, name, contact, ms(now), digest).Text()
		if err != nil {
			return nil, "", unavailable(err)
		}
		if res == "ok" {
			return &Operator{ID: id, Name: name, Contact: contact, Status: StatusActive, Created: now}, token, nil
		}
		// "exists": a random id or token collided; draw again.
	}
	return nil, "", errors.New("registry: could not draw a free operator id")
}

// CheckSignupRate counts a sign-up attempt from a client address and returns
// an error wrapping ErrRateLimited when the address is over its limit for
// the current minute.
func (s *Store) CheckSignupRate(ctx context.Context, clientIP string) error {
	if s.opts.SignupsPerMinute < 0 || clientIP == "" {
		return nil
	}
	minute := s.opts.Now().Unix() / 60
	n, err := signupRateScript.Run(ctx, s.rdb, []string{signupRateKey(clientIP, minute)}, 120_000).Int64()
	if err != nil {
		return unavailable(err)
	}
	if n > int64(s.opts.SignupsPerMinute) {
		return fmt.Errorf("%w: more than %d sign-ups from %s this minute; try again in a minute", ErrRateLimited, s.opts.SignupsPerMinute, clientIP)
	}
	return nil
}

// operatorFromHash builds an Operator from its Redis hash.
func operatorFromHash(h map[string]string) (*Operator, error) {
	op := &Operator{ID: h["id"], Name: h["name"], Contact: h["contact"], Status: OperatorStatus(h["status"]), Created: parseMS(h["created"])}
	if raw := h["billing"]; raw != "" {
		var b Billing
		if err := b.UnmarshalJSON([]byte(raw)); err != nil {
			return nil, fmt.Errorf("registry: stored billing profile of %s: %w", op.ID, err)
		}
		b.SettlementPeriod = agreement.SettleDaily
		if p := agreement.SettlementPeriod(h["settlement_period"]); p != "" {
			b.SettlementPeriod = p
			b.SettlementPeriodChanged = parseMS(h["settlement_period_changed"])
		}
		op.Billing = &b
	}
	return op, nil
}

// SubscribeInvalidations subscribes to InvalidateChannel, on which the
// store announces every change a cache of its reads must drop ("op <id>",
// "key <keyid>", "agent <url>"). The caller closes the subscription.
func (s *Store) SubscribeInvalidations(ctx context.Context) *redis.PubSub {
	return s.rdb.Subscribe(ctx, InvalidateChannel)
}

// Operator returns an operator; an unknown id wraps ErrNotFound.
func (s *Store) Operator(ctx context.Context, id string) (*Operator, error) {
	if !ValidOperatorID(id) {
		return nil, fmt.Errorf("%w: operator %q", ErrNotFound, truncate(id, 64))
	}
	h, err := s.rdb.HGetAll(ctx, opKey(id)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	if len(h) == 0 {
		return nil, fmt.Errorf("%w: operator %s", ErrNotFound, id)
	}
	return operatorFromHash(h)
}

// Authenticate returns the operator an API token belongs to. A malformed or
// unknown token wraps ErrUnauthorized. The token is looked up by its digest
// and the digest stored with the operator is compared in constant time.
func (s *Store) Authenticate(ctx context.Context, token string) (*Operator, error) {
	digest, err := ParseToken(token)
	if err != nil {
		return nil, err
	}
	h, err := s.tokenOwner(ctx, tokenKey(digest), opKey, digest, "API token")
	if err != nil {
		return nil, err
	}
	return operatorFromHash(h)
}

// tokenOwner returns the hash of the owner of a token digest: the id stored
// at tokKey names the hash (hashKey(id)), whose token_hash must equal the
// digest, compared in constant time. Unknown wraps ErrUnauthorized.
func (s *Store) tokenOwner(ctx context.Context, tokKey string, hashKey func(string) string, digest, what string) (map[string]string, error) {
	id, err := s.rdb.Get(ctx, tokKey).Result()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("%w: unknown %s", ErrUnauthorized, what)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	h, err := s.rdb.HGetAll(ctx, hashKey(id)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	if subtle.ConstantTimeCompare([]byte(h["token_hash"]), []byte(digest)) != 1 {
		return nil, fmt.Errorf("%w: unknown %s", ErrUnauthorized, what)
	}
	return h, nil
}

// hashes reads the hashes at keys in one pipeline, in order; a missing one
// is an empty map.
func (s *Store) hashes(ctx context.Context, keys []string) ([]map[string]string, error) {
	cmds := make([]*redis.MapStringStringCmd, len(keys))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HGetAll(ctx, k)
		}
		return nil
	}); err != nil {
		return nil, unavailable(err)
	}
	out := make([]map[string]string, len(keys))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// MaxListOffset bounds the offset of ListOperators, so that offset+limit
// can never overflow.
const MaxListOffset = 1 << 30

// ListOperators returns operators in sign-up order, from offset (0 to
// MaxListOffset), at most limit (1 to 1000) of them, and the total count.
func (s *Store) ListOperators(ctx context.Context, offset, limit int) ([]Operator, int64, error) {
	if offset < 0 || offset > MaxListOffset || limit < 1 || limit > 1000 {
		return nil, 0, fmt.Errorf("%w: offset must be in [0, %d] and limit in [1, 1000]", ErrInvalid, MaxListOffset)
	}
	total, err := s.rdb.ZCard(ctx, opsKey()).Result()
	if err != nil {
		return nil, 0, unavailable(err)
	}
	ids, err := s.rdb.ZRange(ctx, opsKey(), int64(offset), int64(offset+limit-1)).Result()
	if err != nil {
		return nil, 0, unavailable(err)
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = opKey(id)
	}
	hs, err := s.hashes(ctx, keys)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Operator, 0, len(ids))
	for _, h := range hs {
		if len(h) == 0 {
			continue
		}
		op, err := operatorFromHash(h)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *op)
	}
	return out, total, nil
}

// SetStatus suspends or reinstates an operator. Resolvers are told at once.
func (s *Store) SetStatus(ctx context.Context, id string, status OperatorStatus) (*Operator, error) {
	if status != StatusActive && status != StatusSuspended {
		return nil, fmt.Errorf("%w: status %q", ErrInvalid, status)
	}
	if !ValidOperatorID(id) {
		return nil, fmt.Errorf("%w: operator %q", ErrNotFound, truncate(id, 64))
	}
	n, err := hsetExistingScript.Run(ctx, s.rdb, []string{opKey(id)}, "status", string(status), "status_changed", ms(s.opts.Now())).Int()
	if err != nil {
		return nil, unavailable(err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: operator %s", ErrNotFound, id)
	}
	s.publish(ctx, "op", id)
	return s.Operator(ctx, id)
}

// SetBilling sets an operator's billing profile after Normalize.
//
// For the stripe rail without a customer id, the operator's earlier customer
// is kept (even across a switch to evm and back), or one is created through
// Customers. A customer id the operator names must be tagged (metadata
// paycrawl_operator) with the operator's id, so that nobody can bill another
// party's customer: only our own CreateCustomer and people holding the
// Stripe secret key (admins) write that tag.
//
// For the evm rail, the wallet must be proven the operator's (invariant 9):
// b.WalletProof, signed by the wallet's key for purpose WalletPays, this
// operator, this wallet and Options.EVM, issued within WalletProofMaxAge
// (see WalletProof.VerifyFresh). It is stored with the profile, with the
// time it was verified. Without a proof in b, the stored proof is kept if
// the profile already pays from the same wallet with a proof still valid
// for Options.EVM; any other wallet, or a profile stored before wallet
// proofs existed, needs a new proof (ErrWalletProofRequired).
func (s *Store) SetBilling(ctx context.Context, id string, b Billing) (*Billing, error) {
	b, err := b.Normalize()
	if err != nil {
		return nil, err
	}
	op, err := s.Operator(ctx, id)
	if err != nil {
		return nil, err
	}
	if op.Status != StatusActive {
		return nil, fmt.Errorf("%w: %s cannot change its billing profile", ErrSuspended, id)
	}
	if b.Rail == RailEVM {
		if b.WalletProof, err = s.walletProof(op, b); err != nil {
			return nil, err
		}
	}
	// The operator's Stripe customer is remembered apart from the profile,
	// so that switching to evm and back does not create a second one.
	stored, err := s.rdb.HMGet(ctx, opKey(id), "stripe_customer", "settlement_period").Result()
	if err != nil {
		return nil, unavailable(err)
	}
	prev, _ := stored[0].(string)
	prevPeriod, _ := stored[1].(string)
	if b.Rail == RailStripe {
		switch {
		case b.StripeCustomerID == "" && prev != "":
			b.StripeCustomerID = prev
		case b.StripeCustomerID != "" && b.StripeCustomerID == prev:
			// the operator's own customer: nothing to check
		case s.opts.Customers == nil:
			return nil, fmt.Errorf("%w (%w): the stripe rail is not configured on this key directory", ErrRailNotConfigured, ErrBillingProvider)
		case b.StripeCustomerID == "":
			cid, err := s.opts.Customers.CreateCustomer(ctx, *op)
			if err != nil {
				return nil, err
			}
			b.StripeCustomerID = cid
		default: // a customer the operator names for the first time
			owner, err := s.opts.Customers.CustomerOwner(ctx, b.StripeCustomerID)
			if errors.Is(err, ErrNotFound) {
				return nil, fmt.Errorf("%w: Stripe has no customer %s", ErrInvalidBilling, b.StripeCustomerID)
			}
			if err != nil {
				return nil, err
			}
			if owner != id {
				return nil, fmt.Errorf("%w: Stripe customer %s is not tagged with metadata paycrawl_operator=%s; leave stripe_customer_id empty to have one created", ErrInvalidBilling, b.StripeCustomerID, id)
			}
		}
	}
	b.Updated = s.opts.Now().UTC().Truncate(time.Second)
	period := b.SettlementPeriod
	b.SettlementPeriod = "" // stored beside the profile, not in it
	raw, err := b.MarshalJSON()
	if err != nil {
		return nil, err
	}
	fields := []any{"billing", string(raw)}
	if period != "" {
		fields = append(fields, "settlement_period", string(period), "settlement_period_changed", ms(s.opts.Now()))
	}
	if b.StripeCustomerID != "" {
		fields = append(fields, "stripe_customer", b.StripeCustomerID)
	}
	n, err := hsetExistingScript.Run(ctx, s.rdb, []string{opKey(id)}, fields...).Int()
	if err != nil {
		return nil, unavailable(err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: operator %s", ErrNotFound, id)
	}
	s.publish(ctx, "op", id)
	if b.SettlementPeriod = period; period == "" {
		if b.SettlementPeriod = agreement.SettlementPeriod(prevPeriod); b.SettlementPeriod == "" {
			b.SettlementPeriod = agreement.SettleDaily
		}
	}
	return &b, nil
}

// walletProof returns the proof to store with op's evm profile b: b's own,
// verified now, or op's stored one for the same wallet.
func (s *Store) walletProof(op *Operator, b Billing) (*WalletProof, error) {
	if s.opts.EVM.IsZero() {
		return nil, fmt.Errorf("%w: the evm rail is not configured on this key directory (no chain id and settler address)", ErrRailNotConfigured)
	}
	want := WalletExpect{Purpose: WalletPays, Account: op.ID, Wallet: b.Wallet, Domain: s.opts.EVM}
	if b.WalletProof == nil {
		if prev := op.Billing; prev != nil && prev.Rail == RailEVM && prev.Wallet == b.Wallet && prev.WalletProof != nil &&
			prev.WalletProof.Verify(want) == nil {
			return prev.WalletProof, nil
		}
		return nil, fmt.Errorf("%w: wallet %s must be proven yours: sign the message of GET /v1/operators/me/billing/wallet-proof?wallet=%s "+
			"with the wallet's key (personal_sign) and send it as wallet_proof; a profile set before wallet proofs existed needs one too",
			ErrWalletProofRequired, b.Wallet, b.Wallet)
	}
	p := *b.WalletProof
	if p.Purpose == "" {
		p.Purpose = WalletPays
	}
	if p.Account == "" {
		p.Account = op.ID
	}
	if p.Wallet == "" {
		p.Wallet = b.Wallet
	}
	now := s.opts.Now()
	if err := p.VerifyFresh(want, now); err != nil {
		return nil, err
	}
	// Verified equal to what is expected: store the canonical spellings.
	p.Wallet, p.Settler, p.IssuedAt = b.Wallet, s.opts.EVM.Settler, p.IssuedAt.UTC().Truncate(time.Second)
	p.VerifiedAt = now.UTC().Truncate(time.Second)
	return &p, nil
}

// WalletClaim returns the claim an operator's wallet signs now to pay for
// the operator: the message to sign is its Message. Errors wrap
// ErrRailNotConfigured, ErrInvalidBilling (a bad address) or ErrNotFound.
func (s *Store) WalletClaim(ctx context.Context, id, wallet string) (WalletClaim, error) {
	if s.opts.EVM.IsZero() {
		return WalletClaim{}, fmt.Errorf("%w: the evm rail is not configured on this key directory (no chain id and settler address)", ErrRailNotConfigured)
	}
	w, err := ParseWallet(wallet)
	if err != nil {
		return WalletClaim{}, err
	}
	if _, err := s.Operator(ctx, id); err != nil {
		return WalletClaim{}, err
	}
	return WalletClaim{Purpose: WalletPays, Account: id, Wallet: w, ChainID: s.opts.EVM.ChainID, Settler: s.opts.EVM.Settler,
		IssuedAt: s.opts.Now().UTC().Truncate(time.Second)}, nil
}

// EVM returns the chain and settler wallet proofs must name; zero when the
// evm rail is not configured.
func (s *Store) EVM() WalletDomain { return s.opts.EVM }
