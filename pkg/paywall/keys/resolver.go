package keys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/netguard"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/redis/go-redis/v9"
)

// Resolver TTL bounds.
const (
	// DefaultTTL is how long a resolver trusts what it read from Redis.
	DefaultTTL = 30 * time.Second
	// MaxTTL is the revocation guarantee (registry.MaxTTL): a revoked key or
	// a suspended operator is refused by every resolver within MaxTTL, even
	// when the invalidation message is lost.
	MaxTTL = registry.MaxTTL
)

// ResolverOptions configure a Resolver; zero values take the defaults
// documented on each field.
type ResolverOptions struct {
	// TTL is how long cached operators, keys and agents are trusted, and the
	// most an external agent's directory is cached; 0 means DefaultTTL.
	// Above MaxTTL is refused.
	TTL time.Duration
	// AllowHTTPLoopback lets external directories be fetched over http on
	// loopback hosts (tests, demos). It implies allow-listing the loopback
	// prefixes.
	AllowHTTPLoopback bool
	// AllowPrefixes lists non-public address prefixes external directories
	// may be fetched from (tests and demos: 127.0.0.0/8). Without it only
	// public addresses are connected to, checked at connect time.
	AllowPrefixes []netip.Prefix
	// DNS resolves external agents' hosts; nil means net.DefaultResolver.
	DNS netguard.Resolver
	// HTTPClient fetches external directories; nil means a client with
	// FetchTimeout that connects to public and allow-listed addresses only
	// (see deferred.DirectoryClient.HTTPClient). Redirects are never
	// followed either way.
	HTTPClient *http.Client
	// FetchTimeout bounds one directory fetch; 0 means 5 s.
	FetchTimeout time.Duration
	// DirectoryProofs decides which keys of an external directory are used
	// by their possession proofs; "" means deferred.ProofIfSigned (see
	// deferred.ProofPolicy).
	DirectoryProofs deferred.ProofPolicy
	// MaxEntries bounds each in-process cache; 0 means 100,000.
	MaxEntries int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives pub/sub trouble; nil means slog.Default.
	Logger *slog.Logger
}

// Resolver answers gateways: which key a Signature-Agent and keyid name, and
// which billing account stands behind it. Hosted agents are read straight
// from Redis; external agents' directories are fetched with a
// deferred.DirectoryClient that fetches registered agent URLs only. Reads are
// cached in-process for TTL; Listen applies the store's invalidation
// messages so that revocations and suspensions take effect at once.
//
// ResolveKey checks identity: the agent, the key and the operator's status.
// Account adds what charging needs: the billing profile. Errors are
// *deferred.Error values, translated from the registry's sentinels by one
// table (codes, in codes.go): CodeAgentUnknown, CodeUnknownKey,
// CodeAccountSuspended or CodeBillingMissing (and the directory codes for
// external agents). A Redis failure while re-reading an answer read less
// than MaxTTL ago serves that answer (for a second at a time, then tries
// again); any other Redis failure, like a directory that cannot be
// fetched, is CodeDirectoryUnavailable with the message
// deferred.MessageDirectoryUnavailable and nothing more (the cause is
// logged, and wrapped: it matches registry.ErrUnavailable), since the
// message reaches the crawler.
type Resolver struct {
	store      *registry.Store
	ttl        time.Duration
	now        func() time.Time
	log        *slog.Logger
	dir        *deferred.DirectoryClient
	maxEntries int

	mu     sync.Mutex
	gen    uint64 // incremented by every invalidation
	ops    map[string]entry[*registry.Operator]
	keys   map[string]entry[cachedKey]
	agents map[string]entry[string]
	// agrs caches each account's agreements (agreements.go).
	agrs agreementCache

	subOnce    sync.Once
	subscribed chan struct{}
}

var _ deferred.AgentKeyResolver = (*Resolver)(nil)

// entry is a cached read: the value, whether it exists, until when it is
// served without a re-read, and when it was read.
type entry[T any] struct {
	val     T
	found   bool
	expires time.Time
	read    time.Time
}

// retryAfter is how long an expired entry is served as it is after a re-read
// failed with the registry unavailable, before the next re-read is tried: so
// that while Redis is slow or down, requests are not each held for a read
// timeout.
const retryAfter = time.Second

type cachedKey struct {
	rec registry.KeyRecord
	key deferred.Key
}

// NewResolver returns a resolver reading store. Call Listen in a goroutine
// for immediate invalidation.
func NewResolver(store *registry.Store, opts ResolverOptions) (*Resolver, error) {
	if store == nil {
		return nil, errors.New("keys: nil store")
	}
	ttl := opts.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < 0 || ttl > MaxTTL {
		return nil, fmt.Errorf("keys: resolver TTL %s is not in (0, %s]: it bounds how long a revoked key is accepted", ttl, MaxTTL)
	}
	if _, err := deferred.ParseProofPolicy(string(opts.DirectoryProofs)); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	r := &Resolver{
		store: store, ttl: ttl, now: opts.Now, log: opts.Logger, maxEntries: opts.MaxEntries,
		ops: map[string]entry[*registry.Operator]{}, keys: map[string]entry[cachedKey]{}, agents: map[string]entry[string]{},
		subscribed: make(chan struct{}),
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.maxEntries <= 0 {
		r.maxEntries = 100_000
	}
	r.dir = &deferred.DirectoryClient{
		Allowed:           r.allowed,
		AllowHTTPLoopback: opts.AllowHTTPLoopback,
		AllowPrefixes:     opts.AllowPrefixes,
		Resolver:          opts.DNS,
		HTTPClient:        opts.HTTPClient,
		Timeout:           opts.FetchTimeout,
		Proofs:            opts.DirectoryProofs,
		MinTTL:            min(10*time.Second, ttl),
		MaxTTL:            ttl,
		Now:               r.now,
		Logger:            r.log,
	}
	return r, nil
}

// TTL is how long the resolver trusts a read.
func (r *Resolver) TTL() time.Duration { return r.ttl }

// lookup serves id from c while fresh, else loads it and caches the answer,
// unless an invalidation arrived meanwhile (the answer may predate it).
//
// When the re-read of an expired entry fails because the registry is
// unavailable (a Redis timeout under load, a failover), the last answer is
// served for retryAfter at a time, for as long as it was read less than
// MaxTTL ago: a paying crawler is not refused because one refresh timed out,
// and the revocation guarantee holds, since what is served was read within
// MaxTTL and an invalidation message still removes it at once. With a TTL
// of MaxTTL there is no such grace.
func lookup[T any](r *Resolver, c map[string]entry[T], id string, load func() (T, bool, error)) (T, bool, error) {
	now := r.now()
	r.mu.Lock()
	e, cached := c[id]
	if cached && now.Before(e.expires) {
		r.mu.Unlock()
		return e.val, e.found, nil
	}
	gen := r.gen
	r.mu.Unlock()
	v, found, err := load()
	if err != nil {
		if cached && errors.Is(err, registry.ErrUnavailable) && now.Before(e.read.Add(MaxTTL)) {
			r.mu.Lock()
			if r.gen == gen {
				e.expires = now.Add(retryAfter)
				if last := e.read.Add(MaxTTL); last.Before(e.expires) {
					e.expires = last
				}
				c[id] = e
			}
			r.mu.Unlock()
			r.log.Warn("keys: registry re-read failed; serving the last answer", "id", id, "read", e.read, "err", err)
			return e.val, e.found, nil
		}
		var zero T
		return zero, false, err
	}
	r.mu.Lock()
	if r.gen == gen {
		if len(c) >= r.maxEntries {
			for k, e := range c {
				if !now.Before(e.expires) {
					delete(c, k)
				}
			}
			if len(c) >= r.maxEntries {
				clear(c)
			}
		}
		c[id] = entry[T]{val: v, found: found, expires: now.Add(r.ttl), read: now}
	}
	r.mu.Unlock()
	return v, found, nil
}

func (r *Resolver) operator(ctx context.Context, id string) (*registry.Operator, bool, error) {
	return lookup(r, r.ops, id, func() (*registry.Operator, bool, error) {
		op, err := r.store.Operator(ctx, id)
		if errors.Is(err, registry.ErrNotFound) {
			return nil, false, nil
		}
		return op, err == nil, err
	})
}

func (r *Resolver) key(ctx context.Context, keyID string) (cachedKey, bool, error) {
	return lookup(r, r.keys, keyID, func() (cachedKey, bool, error) {
		rec, err := r.store.Key(ctx, keyID)
		if errors.Is(err, registry.ErrNotFound) {
			return cachedKey{}, false, nil
		}
		if err != nil {
			return cachedKey{}, false, err
		}
		k, err := deferred.ParseKey(rec.JWK)
		if err != nil || k.ID != rec.ID {
			return cachedKey{}, false, fmt.Errorf("keys: stored JWK of key %s does not parse to it: %v", rec.ID, err)
		}
		return cachedKey{rec: *rec, key: k}, true, nil
	})
}

func (r *Resolver) agent(ctx context.Context, agentURL string) (string, bool, error) {
	return lookup(r, r.agents, agentURL, func() (string, bool, error) {
		id, _, err := r.store.AgentOperator(ctx, agentURL)
		if errors.Is(err, registry.ErrNotFound) {
			return "", false, nil
		}
		return id, err == nil, err
	})
}

// allowed is the directory client's guard: only registered external agent
// URLs are ever fetched. The registry read is bounded by 2 s within ctx.
func (r *Resolver) allowed(ctx context.Context, agentURL string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, found, err := r.agent(ctx, agentURL)
	return err == nil && found
}

// ResolveKey implements deferred.KeyResolver: it returns the key keyID
// published under agentURL, read as an agent of type directory, and the
// operator id as the account. ResolveAgentKey takes the agent's type.
func (r *Resolver) ResolveKey(ctx context.Context, agentURL, keyID string) (deferred.ResolvedKey, error) {
	return r.ResolveAgentKey(ctx, deferred.SignatureAgent{URL: agentURL, Type: deferred.AgentDirectory}, keyID)
}

// ResolveAgentKey implements deferred.AgentKeyResolver. A hosted agent (in
// any of its URL forms, whatever its type) is read from Redis; an external
// one must be registered, and its keys are fetched by the agent's type
// (well-known directory of an origin, JWK Set, or Signature Agent Card).
func (r *Resolver) ResolveAgentKey(ctx context.Context, agent deferred.SignatureAgent, keyID string) (deferred.ResolvedKey, error) {
	k, err := r.resolveKey(ctx, agent, keyID)
	return k, r.protocol(err)
}

func (r *Resolver) resolveKey(ctx context.Context, agent deferred.SignatureAgent, keyID string) (deferred.ResolvedKey, error) {
	agentURL := agent.URL
	opID, hosted := r.store.HostedOperator(agentURL)
	if !hosted {
		id, found, err := r.agent(ctx, agentURL)
		if err != nil {
			return deferred.ResolvedKey{}, err
		}
		if !found {
			return deferred.ResolvedKey{}, refuse(registry.ErrNotFound, "agent %s is not registered with this platform", agentURL)
		}
		opID = id
	}
	op, found, err := r.operator(ctx, opID)
	if err != nil {
		return deferred.ResolvedKey{}, err
	}
	if !found {
		return deferred.ResolvedKey{}, refuse(registry.ErrNotFound, "agent %s: no such operator", agentURL)
	}
	if op.Status != registry.StatusActive {
		return deferred.ResolvedKey{}, refuse(registry.ErrSuspended, "operator %s is suspended", opID)
	}
	var ck cachedKey
	known := false
	if registry.ValidKeyID(keyID) {
		if ck, known, err = r.key(ctx, keyID); err != nil {
			return deferred.ResolvedKey{}, err
		}
	}
	now := r.now()
	if known && (ck.rec.Operator != opID || !ck.rec.Usable(now)) {
		// A key registered to another operator, revoked, or past its
		// rotation overlap is refused whatever a directory says.
		return deferred.ResolvedKey{}, refuse(registry.ErrKeyUnusable, "key %s is not valid for %s (%s)", keyID, agentURL, keyState(ck.rec, opID, now))
	}
	if hosted {
		if !known {
			return deferred.ResolvedKey{}, refuse(registry.ErrKeyUnusable, "key %s is not published by %s", keyID, agentURL)
		}
		return deferred.ResolvedKey{Key: ck.key, Account: opID}, nil
	}
	k, err := r.dir.LookupAgent(ctx, agent, keyID)
	if err != nil {
		return deferred.ResolvedKey{}, err
	}
	return deferred.ResolvedKey{Key: k, Account: opID}, nil
}

func keyState(k registry.KeyRecord, opID string, now time.Time) string {
	switch {
	case k.Operator != opID:
		return "registered by another operator"
	case k.Status == registry.KeyRevoked:
		return "revoked"
	case k.Status == registry.KeyRotated && !now.Before(k.ValidUntil):
		return "rotated; its overlap ended " + k.ValidUntil.UTC().Format(time.RFC3339)
	}
	return string(k.Status)
}

// Account returns the billing account of an operator: its status and
// billing profile. An unknown operator is CodeAgentUnknown, a suspended one
// CodeAccountSuspended, one without a billing profile CodeBillingMissing,
// a Redis failure CodeDirectoryUnavailable.
func (r *Resolver) Account(ctx context.Context, operatorID string) (*registry.Account, error) {
	a, err := r.account(ctx, operatorID)
	return a, r.protocol(err)
}

func (r *Resolver) account(ctx context.Context, operatorID string) (*registry.Account, error) {
	op, found, err := r.operator(ctx, operatorID)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, refuse(registry.ErrNotFound, "operator %s is not registered", operatorID)
	}
	if op.Status != registry.StatusActive {
		return nil, refuse(registry.ErrSuspended, "operator %s is suspended", operatorID)
	}
	if op.Billing == nil {
		return nil, refuse(registry.ErrNoBilling, "operator %s has no billing profile", operatorID)
	}
	return &registry.Account{OperatorID: op.ID, Status: op.Status, Billing: *op.Billing}, nil
}

// Invalidate applies one invalidation message ("op <id>", "key <keyid>",
// "agent <url>", "agreements <operator id>"); anything else empties every
// cache.
func (r *Resolver) Invalidate(msg string) {
	kind, id, _ := strings.Cut(msg, " ")
	if kind == "agreements" && id != "" {
		r.agrs.invalidate(id)
		return
	}
	r.mu.Lock()
	r.gen++
	switch kind {
	case "op":
		delete(r.ops, id)
	case "key":
		delete(r.keys, id)
	case "agent":
		delete(r.agents, id)
	default:
		clear(r.ops)
		clear(r.keys)
		clear(r.agents)
		r.agrs.invalidate("")
	}
	r.mu.Unlock()
	if kind == "agent" {
		r.dir.Invalidate(id)
	}
}

// Flush empties every cache.
func (r *Resolver) Flush() { r.Invalidate("all") }

// Subscribed is closed once Listen's first subscription is confirmed.
func (r *Resolver) Subscribed() <-chan struct{} { return r.subscribed }

// Listen subscribes to registry.InvalidateChannel and applies its messages until ctx
// ends; it returns nil then. Whenever the subscription is (re)established
// every cache is emptied, since messages may have been missed while it was
// down. Run it in its own goroutine.
func (r *Resolver) Listen(ctx context.Context) error {
	ps := r.store.SubscribeInvalidations(ctx)
	defer ps.Close()
	// A blocked receive does not watch ctx; closing the subscription ends it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	for {
		msg, err := ps.ReceiveTimeout(ctx, 15*time.Second)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				_ = ps.Ping(ctx) // a dead connection shows up on the next receive
				continue
			}
			r.log.Warn("keys: invalidation subscription failed; caches expire within their TTL", "err", err, "ttl", r.ttl)
			r.Flush()
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				r.Flush()
				r.subOnce.Do(func() { close(r.subscribed) })
			}
		case *redis.Message:
			r.Invalidate(m.Payload)
		}
	}
}
