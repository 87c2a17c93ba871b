package deferred

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paycrawl/paycrawl/pkg/botauth"
	"github.com/paycrawl/paycrawl/pkg/netguard"
	"golang.org/x/sync/singleflight"
)

// Directory media types and paths.
const (
	// MediaTypeDirectory is the media type of a key directory response.
	MediaTypeDirectory = "application/http-message-signatures-directory+json"
	// MediaTypeJWKS is accepted from agents whose URL is a JWKS URL.
	MediaTypeJWKS = "application/jwk-set+json"
	// WellKnownDirectoryPath is where an agent origin publishes its keys.
	WellKnownDirectoryPath = botauth.WellKnownDirectoryPath
)

// ErrNotAllowed reports an agent URL that the caller has not allowed: the
// client never fetches a URL a crawler merely claims.
var ErrNotAllowed = errors.New("deferred: agent URL not allowed")

// MessageDirectoryUnavailable is the whole message of a refusal because a
// directory could not be fetched. What went wrong (a dial error, a status,
// a timeout) is in the error's Err and the client's log, never in the
// message, which reaches the crawler: otherwise a registered agent URL
// would make the verifier a port scanner that reports what it found.
const MessageDirectoryUnavailable = "directory unavailable"

// DirectoryClient fetches and caches key directories. Its zero value is not
// usable: Allowed must be set. It is safe for concurrent use.
type DirectoryClient struct {
	// Allowed reports whether an agent URL may be fetched (it is registered
	// with the platform); ctx is the lookup's, so a registry read behind
	// it ends with the request. Nil allows nothing.
	Allowed func(ctx context.Context, agentURL string) bool
	// AllowHTTPLoopback permits plain http to loopback hosts (tests, demos).
	// Every other URL must be https. It implies allow-listing the loopback
	// prefixes (netguard.LoopbackPrefixes) in the default HTTP client.
	AllowHTTPLoopback bool
	// AllowPrefixes lists non-public address prefixes the default HTTP
	// client may connect to (tests and demos: 127.0.0.0/8). Without it only
	// public addresses are connected to (see package netguard).
	AllowPrefixes []netip.Prefix
	// Resolver resolves agent hosts for the default HTTP client; nil means
	// net.DefaultResolver.
	Resolver netguard.Resolver
	// HTTPClient is used for fetches; nil means a client with Timeout whose
	// transport connects only to public or allow-listed addresses, checked
	// at connect time, and never through a proxy. A client given here is
	// used as it is, so guarding its transport is then the caller's job.
	// Either way redirects are never followed.
	HTTPClient *http.Client
	// Timeout bounds one fetch; 0 means 5 s.
	Timeout time.Duration
	// MaxBody caps a directory body; 0 means 64 KiB.
	MaxBody int64
	// MinTTL and MaxTTL clamp the Cache-Control max-age; 0 means 1 minute
	// and 24 hours.
	MinTTL, MaxTTL time.Duration
	// RetryAfter is how long stale keys are served after a failed refresh
	// before the next attempt; 0 means 30 s.
	RetryAfter time.Duration
	// RefetchUnknown is the shortest interval between two fetches triggered
	// by an unknown keyid (a crawler that rotated its key); 0 means 10 s.
	RefetchUnknown time.Duration
	// Proofs decides which keys are used by their possession proofs; ""
	// means ProofIfSigned (only proven keys when the response proves any
	// key, every key when it carries no proof). A key whose proof fails is
	// never used.
	Proofs ProofPolicy
	// RequireProof is Proofs: ProofRequired, kept for older callers.
	RequireProof bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives fetch failures and ignored keys; nil means slog.Default.
	Logger *slog.Logger

	mu       sync.Mutex
	cache    map[string]*dirEntry
	group    singleflight.Group
	initHTTP sync.Once
	client   *http.Client
}

// Directory is one agent's fetched key set.
type Directory struct {
	// URL is the URL the keys were fetched from (for a cimd agent, the
	// card's jwks_uri, or the card itself when its keys are inline).
	URL string
	// Type is the agent's discovery mechanism.
	Type AgentType
	// Keys are the usable keys.
	Keys []Key
	// Fetched is when the keys were fetched; Expires when they go stale.
	Fetched, Expires time.Time
}

// Key returns the key with the given id.
func (d *Directory) Key(id string) (Key, bool) {
	for _, k := range d.Keys {
		if k.ID == id {
			return k, true
		}
	}
	return Key{}, false
}

type dirEntry struct {
	dir         *Directory
	nextTry     time.Time // after a failed refresh: when to try again
	lastUnknown time.Time // last fetch triggered by an unknown keyid
}

func (c *DirectoryClient) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *DirectoryClient) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// KeysURL returns the URL a verifier fetches for the agent, by its type
// and never by its path: for a directory, the well-known directory of its
// origin (the URL must be an origin: no path but "/", no query; the draft
// says to ignore anything else); for jwks_uri and cimd, the URL itself.
func (a SignatureAgent) KeysURL() (*url.URL, error) {
	u, err := url.Parse(a.URL)
	if err != nil || u.Host == "" || u.User != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("deferred: agent URL %q is not an absolute http(s) URL", a.URL)
	}
	u.Fragment, u.RawFragment = "", ""
	switch a.Kind() {
	case AgentDirectory:
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery {
			return nil, fmt.Errorf("deferred: agent %q: a directory agent is an origin (keys at %s); send a JWKS URL with ;type=jwks_uri", a.URL, WellKnownDirectoryPath)
		}
		u.Path, u.RawPath = WellKnownDirectoryPath, ""
	case AgentJWKS, AgentCIMD:
	default:
		return nil, fmt.Errorf("deferred: agent %q: unknown type %q", a.URL, a.Type)
	}
	return u, nil
}

// DirectoryURL returns the well-known directory URL of an agent origin:
// SignatureAgent{URL: agentURL}.KeysURL(). A URL with a path is refused
// (it is not a directory origin; name its type instead).
func DirectoryURL(agentURL string) (*url.URL, error) {
	return SignatureAgent{URL: agentURL}.KeysURL()
}

// cacheKey names an agent in the cache: one URL may be sent as several
// types, which resolve differently.
func cacheKey(a SignatureAgent) string { return string(a.Kind()) + " " + a.URL }

// Lookup returns the key keyID of the agent origin agentURL (type
// directory); LookupAgent takes agents of any type.
func (c *DirectoryClient) Lookup(ctx context.Context, agentURL, keyID string) (Key, error) {
	return c.LookupAgent(ctx, SignatureAgent{URL: agentURL, Type: AgentDirectory}, keyID)
}

// LookupAgent returns the key keyID of the agent. A keyid missing from a
// cached directory triggers one refetch per RefetchUnknown interval, so
// rotated keys are picked up quickly while unknown ids cannot force a
// fetch storm.
func (c *DirectoryClient) LookupAgent(ctx context.Context, agent SignatureAgent, keyID string) (Key, error) {
	d, err := c.AgentKeys(ctx, agent)
	if err != nil {
		return Key{}, err
	}
	if k, ok := d.Key(keyID); ok {
		return k, nil
	}
	ck := cacheKey(agent)
	c.mu.Lock()
	e := c.cache[ck]
	refetch := e != nil && c.now().Sub(e.lastUnknown) >= orDefault(c.RefetchUnknown, 10*time.Second)
	if refetch {
		e.lastUnknown = c.now()
	}
	c.mu.Unlock()
	if refetch {
		if d, err = c.refresh(ctx, agent); err == nil {
			if k, ok := d.Key(keyID); ok {
				return k, nil
			}
		}
	}
	return Key{}, Errorf(CodeUnknownKey, "key %s is not published by %s", keyID, agent.URL)
}

// Keys returns the directory of the agent origin agentURL (type
// directory); AgentKeys takes agents of any type.
func (c *DirectoryClient) Keys(ctx context.Context, agentURL string) (*Directory, error) {
	return c.AgentKeys(ctx, SignatureAgent{URL: agentURL, Type: AgentDirectory})
}

// AgentKeys returns the agent's key set, from the cache while it is fresh.
// Concurrent misses for one agent make one fetch. A failed refresh keeps
// serving the keys fetched before. Only agent URLs that Allowed accepts
// are fetched.
func (c *DirectoryClient) AgentKeys(ctx context.Context, agent SignatureAgent) (*Directory, error) {
	if !agent.Kind().Known() {
		return nil, Errorf(CodeAgentMalformed, "agent %s: unknown type %q", agent.URL, agent.Type)
	}
	if c.Allowed == nil || !c.Allowed(ctx, agent.URL) {
		return nil, &Error{Code: CodeAgentUnknown, Message: "agent " + agent.URL + " is not registered with this platform", Err: ErrNotAllowed}
	}
	now := c.now()
	c.mu.Lock()
	e := c.cache[cacheKey(agent)]
	c.mu.Unlock()
	if e != nil && e.dir != nil && (now.Before(e.dir.Expires) || now.Before(e.nextTry)) {
		return e.dir, nil
	}
	return c.refresh(ctx, agent)
}

// Invalidate drops an agent's cached keys, whatever its type, so the next
// lookup fetches them.
func (c *DirectoryClient) Invalidate(agentURL string) {
	c.mu.Lock()
	for _, t := range []AgentType{AgentDirectory, AgentJWKS, AgentCIMD} {
		delete(c.cache, cacheKey(SignatureAgent{URL: agentURL, Type: t}))
	}
	c.mu.Unlock()
}

func (c *DirectoryClient) refresh(ctx context.Context, agent SignatureAgent) (*Directory, error) {
	agentURL, ck := agent.URL, cacheKey(agent)
	ch := c.group.DoChan(ck, func() (any, error) {
		// The fetch outlives any single caller's cancellation: others may wait on it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), orDefault(c.Timeout, 5*time.Second))
		defer cancel()
		d, err := c.fetch(fctx, agent)
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.cache == nil {
			c.cache = map[string]*dirEntry{}
		}
		e := c.cache[ck]
		if e == nil {
			e = &dirEntry{}
			c.cache[ck] = e
		}
		if err != nil {
			if e.dir != nil {
				e.nextTry = c.now().Add(orDefault(c.RetryAfter, 30*time.Second))
				c.logger().Warn("key directory refresh failed; serving the keys fetched before",
					"agent", agentURL, "fetched", e.dir.Fetched, "err", err)
				return e.dir, nil
			}
			c.logger().Warn("key directory fetch failed", "agent", agentURL, "err", err)
			return nil, err
		}
		e.dir, e.nextTry = d, time.Time{}
		return d, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*Directory), nil
	case <-ctx.Done():
		return nil, &Error{Code: CodeDirectoryUnavailable, Message: MessageDirectoryUnavailable, Err: fmt.Errorf("waiting for the key directory of %s: %w", agentURL, ctx.Err())}
	}
}

// httpClient is HTTPClient, or the guarded default, with redirects
// refused. It is built once, so that connections are reused.
func (c *DirectoryClient) httpClient() *http.Client {
	c.initHTTP.Do(func() {
		base := c.HTTPClient
		if base == nil {
			allow := c.AllowPrefixes
			if c.AllowHTTPLoopback {
				allow = append(netguard.LoopbackPrefixes(), allow...)
			}
			timeout := orDefault(c.Timeout, 5*time.Second)
			d := &netguard.Dialer{Policy: &netguard.Policy{Allow: allow}, Resolver: c.Resolver, Timeout: timeout}
			base = &http.Client{Timeout: timeout, Transport: netguard.NewTransport(d)}
		}
		cl := *base
		cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		c.client = &cl
	})
	return c.client
}

func isLoopback(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// policy is the proof policy in force.
func (c *DirectoryClient) policy() ProofPolicy {
	if c.RequireProof {
		return ProofRequired
	}
	if c.Proofs == "" {
		return ProofIfSigned
	}
	return c.Proofs
}

// fetched is one bounded GET.
type fetched struct {
	url    *url.URL
	header http.Header
	body   []byte
	ttl    time.Duration
}

// get fetches u (200 only, no redirects, one of mediaTypes, at most
// MaxBody bytes). Its errors are CodeDirectoryUnavailable with the
// message MessageDirectoryUnavailable (the cause in Err), or
// CodeAgentMalformed for a URL that is not fetched at all.
func (c *DirectoryClient) get(ctx context.Context, agentURL string, u *url.URL, accept string, mediaTypes ...string) (*fetched, error) {
	unavailable := func(format string, args ...any) error {
		return &Error{Code: CodeDirectoryUnavailable, Message: MessageDirectoryUnavailable,
			Err: fmt.Errorf("key directory of %s: "+format, append([]any{agentURL}, args...)...)}
	}
	if u.Scheme != "https" && !(c.AllowHTTPLoopback && u.Scheme == "http" && isLoopback(u.Hostname())) {
		return nil, Errorf(CodeAgentMalformed, "agent %s: key directories are fetched over https only", agentURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, unavailable("%w", err)
	}
	req.Header.Set("Accept", accept)
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, unavailable("%w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			return nil, unavailable("redirect to %q refused: a directory is served with 200 only", resp.Header.Get("Location"))
		}
		return nil, unavailable("status %d, want 200", resp.StatusCode)
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || !slices.Contains(mediaTypes, mt) {
		return nil, unavailable("%s: media type %q, want %s", u, resp.Header.Get("Content-Type"), strings.Join(mediaTypes, " or "))
	}
	maxBody := c.MaxBody
	if maxBody <= 0 {
		maxBody = 64 << 10
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, unavailable("reading body: %w", err)
	}
	if int64(len(body)) > maxBody {
		return nil, unavailable("body over %d bytes", maxBody)
	}
	return &fetched{url: u, header: resp.Header, body: body, ttl: c.ttl(resp.Header.Get("Cache-Control"))}, nil
}

func (c *DirectoryClient) fetch(ctx context.Context, agent SignatureAgent) (*Directory, error) {
	u, err := agent.KeysURL()
	if err != nil {
		return nil, Errorf(CodeAgentMalformed, "%v", err)
	}
	switch agent.Kind() {
	case AgentCIMD:
		return c.fetchCard(ctx, agent, u)
	case AgentJWKS:
		return c.fetchKeys(ctx, agent, u, MediaTypeJWKS+", application/json;q=0.9, "+MediaTypeDirectory+";q=0.8",
			MediaTypeJWKS, "application/json", MediaTypeDirectory)
	default:
		return c.fetchKeys(ctx, agent, u, MediaTypeDirectory+", "+MediaTypeJWKS+";q=0.9", MediaTypeDirectory, MediaTypeJWKS)
	}
}

// fetchKeys fetches a JWK Set (a directory or a jwks_uri) and keeps the
// keys the proof policy lets through.
func (c *DirectoryClient) fetchKeys(ctx context.Context, agent SignatureAgent, u *url.URL, accept string, mediaTypes ...string) (*Directory, error) {
	f, err := c.get(ctx, agent.URL, u, accept, mediaTypes...)
	if err != nil {
		return nil, err
	}
	return c.keysOf(agent, f, f.body)
}

// keysOf parses set (the body of f, or a card's inline jwks) and judges
// its keys by the proofs on f.
func (c *DirectoryClient) keysOf(agent SignatureAgent, f *fetched, set []byte) (*Directory, error) {
	keys, skipped, err := ParseJWKS(set)
	if err != nil {
		return nil, &Error{Code: CodeDirectoryUnavailable, Message: MessageDirectoryUnavailable, Err: fmt.Errorf("key directory of %s: %s: %w", agent.URL, f.url, err)}
	}
	if skipped > 0 {
		c.logger().Info("key directory: keys skipped (not Ed25519 public signing keys)", "agent", agent.URL, "skipped", skipped)
	}
	now := c.now()
	pr := checkProofs(f.header, f.body, f.url, keys, now, proofSkew)
	if len(pr.problems) > 0 {
		c.logger().Warn("key directory: possession proofs that prove nothing; keys without a valid proof may be ignored",
			"agent", agent.URL, "policy", c.policy(), "problems", pr.problems)
	}
	policy := c.policy()
	kept := keys[:0]
	for _, k := range keys {
		if pr.use(policy, k.ID) {
			kept = append(kept, k)
		}
	}
	if dropped := len(keys) - len(kept); dropped > 0 {
		c.logger().Info("key directory: keys without a valid possession proof ignored", "agent", agent.URL, "policy", policy, "ignored", dropped, "kept", len(kept))
	}
	return &Directory{URL: f.url.String(), Type: agent.Kind(), Keys: kept, Fetched: now, Expires: now.Add(f.ttl)}, nil
}

// card is the part of a Signature Agent Card (draft-meunier-webbotauth-
// registry, the OAuth Client ID Metadata Document namespace) that
// resolving keys needs.
type card struct {
	ClientID string          `json:"client_id"`
	JWKSURI  *string         `json:"jwks_uri"`
	JWKS     json.RawMessage `json:"jwks"`
}

// fetchCard resolves a cimd agent: GET the card (200 only, no redirects),
// whose client_id must be the URL it was fetched from; then its keys,
// inline (jwks, judged by the card response's proofs) or at its jwks_uri
// (an https URL, fetched and judged as a jwks_uri agent). A card with both
// or neither is refused.
func (c *DirectoryClient) fetchCard(ctx context.Context, agent SignatureAgent, u *url.URL) (*Directory, error) {
	bad := func(format string, args ...any) error {
		return &Error{Code: CodeDirectoryUnavailable, Message: MessageDirectoryUnavailable,
			Err: fmt.Errorf("signature agent card %s: "+format, append([]any{agent.URL}, args...)...)}
	}
	f, err := c.get(ctx, agent.URL, u, "application/json", "application/json")
	if err != nil {
		return nil, err
	}
	var cd card
	if err := json.Unmarshal(f.body, &cd); err != nil {
		return nil, bad("not a JSON object: %v", err)
	}
	if cd.ClientID != agent.URL {
		return nil, bad("client_id %q is not the card's URL", cd.ClientID)
	}
	hasInline := len(cd.JWKS) > 0 && string(cd.JWKS) != "null"
	switch {
	case hasInline && cd.JWKSURI != nil:
		return nil, bad("both jwks and jwks_uri")
	case hasInline:
		return c.keysOf(agent, f, cd.JWKS)
	case cd.JWKSURI == nil:
		return nil, bad("neither jwks nor jwks_uri")
	}
	ju, err := url.Parse(*cd.JWKSURI)
	if err != nil || ju.Host == "" || ju.User != nil || (ju.Scheme != "https" && ju.Scheme != "http") {
		return nil, bad("jwks_uri %q is not an absolute https URL", *cd.JWKSURI)
	}
	ju.Fragment, ju.RawFragment = "", ""
	d, err := c.fetchKeys(ctx, agent, ju, MediaTypeJWKS+", application/json;q=0.9, "+MediaTypeDirectory+";q=0.8",
		MediaTypeJWKS, "application/json", MediaTypeDirectory)
	if err != nil {
		return nil, err
	}
	if f.ttl < d.Expires.Sub(d.Fetched) {
		d.Expires = d.Fetched.Add(f.ttl)
	}
	return d, nil
}

// ttl is the response's max-age clamped to [MinTTL, MaxTTL]. (The parser
// is our own: github.com/lestrrat-go/httpcc v1.0.1 panics on "name=" with an
// empty value, and this header comes from a crawler's server.)
func (c *DirectoryClient) ttl(cacheControl string) time.Duration {
	lo, hi := orDefault(c.MinTTL, time.Minute), orDefault(c.MaxTTL, 24*time.Hour)
	ttl := lo
	for _, d := range strings.Split(cacheControl, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			return lo
		case "max-age":
			secs, err := strconv.ParseUint(strings.Trim(value, `"`), 10, 32)
			if err == nil {
				ttl = time.Duration(secs) * time.Second
			}
		}
	}
	return max(lo, min(ttl, hi))
}
