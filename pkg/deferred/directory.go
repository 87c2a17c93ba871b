package deferred

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paycrawl/paycrawl/pkg/netguard"
	"golang.org/x/sync/singleflight"
)

// Directory media types.
const (
	// MediaTypeDirectory is the media type of a key directory response.
	MediaTypeDirectory = "application/http-message-signatures-directory+json"
	// MediaTypeJWKS is accepted from agents whose URL is a JWKS URL.
	MediaTypeJWKS = "application/jwk-set+json"
	// WellKnownDirectoryPath is where an agent origin publishes its keys.
	WellKnownDirectoryPath = "/.well-known/http-message-signatures-directory"
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
	// with the platform). Nil allows nothing.
	Allowed func(agentURL string) bool
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
	// RequireProof ignores keys without a valid possession proof. Without
	// it, proofs are checked when the response carries any, and keys whose
	// proof fails are ignored.
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
	// URL is the URL the keys were fetched from.
	URL string
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

// DirectoryURL returns the URL that holds an agent's keys: the agent URL
// itself when it has a path (a JWKS URL), else its well-known directory.
func DirectoryURL(agentURL string) (*url.URL, error) {
	u, err := url.Parse(agentURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("deferred: agent URL %q is not an absolute http(s) URL", agentURL)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = WellKnownDirectoryPath
		u.RawQuery = ""
	}
	u.Fragment = ""
	return u, nil
}

// Lookup returns the key keyID of the agent. A keyid missing from a cached
// directory triggers one refetch per RefetchUnknown interval, so rotated
// keys are picked up quickly while unknown ids cannot force a fetch storm.
func (c *DirectoryClient) Lookup(ctx context.Context, agentURL, keyID string) (Key, error) {
	d, err := c.Keys(ctx, agentURL)
	if err != nil {
		return Key{}, err
	}
	if k, ok := d.Key(keyID); ok {
		return k, nil
	}
	c.mu.Lock()
	e := c.cache[agentURL]
	refetch := e != nil && c.now().Sub(e.lastUnknown) >= orDefault(c.RefetchUnknown, 10*time.Second)
	if refetch {
		e.lastUnknown = c.now()
	}
	c.mu.Unlock()
	if refetch {
		if d, err = c.refresh(ctx, agentURL); err == nil {
			if k, ok := d.Key(keyID); ok {
				return k, nil
			}
		}
	}
	return Key{}, Errorf(CodeUnknownKey, "key %s is not published by %s", keyID, agentURL)
}

// Keys returns the agent's directory, from the cache while it is fresh.
// Concurrent misses for one agent make one fetch. A failed refresh keeps
// serving the keys fetched before.
func (c *DirectoryClient) Keys(ctx context.Context, agentURL string) (*Directory, error) {
	if c.Allowed == nil || !c.Allowed(agentURL) {
		return nil, &Error{Code: CodeAgentUnknown, Message: "agent " + agentURL + " is not registered with this platform", Err: ErrNotAllowed}
	}
	now := c.now()
	c.mu.Lock()
	e := c.cache[agentURL]
	c.mu.Unlock()
	if e != nil && e.dir != nil && (now.Before(e.dir.Expires) || now.Before(e.nextTry)) {
		return e.dir, nil
	}
	return c.refresh(ctx, agentURL)
}

// Invalidate drops an agent's cached keys, so the next lookup fetches them.
func (c *DirectoryClient) Invalidate(agentURL string) {
	c.mu.Lock()
	delete(c.cache, agentURL)
	c.mu.Unlock()
}

func (c *DirectoryClient) refresh(ctx context.Context, agentURL string) (*Directory, error) {
	ch := c.group.DoChan(agentURL, func() (any, error) {
		// The fetch outlives any single caller's cancellation: others may wait on it.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), orDefault(c.Timeout, 5*time.Second))
		defer cancel()
		d, err := c.fetch(fctx, agentURL)
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.cache == nil {
			c.cache = map[string]*dirEntry{}
		}
		e := c.cache[agentURL]
		if e == nil {
			e = &dirEntry{}
			c.cache[agentURL] = e
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
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *DirectoryClient) fetch(ctx context.Context, agentURL string) (*Directory, error) {
	unavailable := func(format string, args ...any) error {
		return &Error{Code: CodeDirectoryUnavailable, Message: MessageDirectoryUnavailable,
			Err: fmt.Errorf("key directory of %s: "+format, append([]any{agentURL}, args...)...)}
	}
	u, err := DirectoryURL(agentURL)
	if err != nil {
		return nil, Errorf(CodeAgentMalformed, "%v", err)
	}
	if u.Scheme != "https" && !(c.AllowHTTPLoopback && isLoopback(u.Hostname())) {
		return nil, Errorf(CodeAgentMalformed, "agent %s: key directories are fetched over https only", agentURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, unavailable("%w", err)
	}
	req.Header.Set("Accept", MediaTypeDirectory+", "+MediaTypeJWKS+";q=0.9")
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
	if err != nil || (mt != MediaTypeDirectory && mt != MediaTypeJWKS) {
		return nil, unavailable("media type %q, want %s", resp.Header.Get("Content-Type"), MediaTypeDirectory)
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
	keys, skipped, err := ParseJWKS(body)
	if err != nil {
		return nil, unavailable("%w", err)
	}
	if skipped > 0 {
		c.logger().Info("key directory: keys skipped (not Ed25519 public signing keys)", "agent", agentURL, "skipped", skipped)
	}
	now := c.now()
	ttl := c.ttl(resp.Header.Get("Cache-Control"))
	valid, signed, problems := checkProofs(resp.Header, body, u, keys, now, 30*time.Second)
	if len(problems) > 0 {
		c.logger().Warn("key directory: invalid possession proofs; those keys are ignored", "agent", agentURL, "problems", problems)
	}
	if signed || c.RequireProof {
		kept := keys[:0]
		for _, k := range keys {
			if valid[k.ID] {
				kept = append(kept, k)
			}
		}
		keys = kept
	}
	return &Directory{URL: u.String(), Keys: keys, Fetched: now, Expires: now.Add(ttl)}, nil
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
