package deferred

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/testnet"
	"github.com/paycrawl/paycrawl/pkg/netguard"
)

func TestVectorDDirectoryProof(t *testing.T) {
	body := []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs","use":"sig"}]}`)
	h := http.Header{}
	h.Set("Content-Digest", "sha-256=:CADMT2aBdV/rqQr/NIru64ERQkCobVvllA4V0fLFDu0=:")
	h.Set("Signature-Input", `binding=("@authority";req "content-digest");created=1735689600;expires=4889289600;keyid="poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";tag="http-message-signatures-directory"`)
	h.Set("Signature", "binding=:l6P8R67tm3kujAxbHWio7ll01qrEZ0dKD/WWlGhNYEmTnFZM8Wt0VQ9zqGfvo7T/UMkBxsigzChM1Gpz7gOVBg==:")
	keys, _, err := ParseJWKS(body)
	if err != nil || len(keys) != 1 {
		t.Fatalf("ParseJWKS = %v, %v", keys, err)
	}
	u, _ := url.Parse("https://signature-agent.test" + WellKnownDirectoryPath)
	now := time.Unix(1735689600+5, 0)
	pr := checkProofs(h, body, u, keys, now, 30*time.Second)
	if !pr.signed || !pr.valid[vectorKeyID] {
		t.Fatalf("vector D proof not valid: %v", pr.problems)
	}
	// The same proof for another host, or another body, fails.
	other, _ := url.Parse("https://evil.test" + WellKnownDirectoryPath)
	if pr := checkProofs(h, body, other, keys, now, 30*time.Second); pr.valid[vectorKeyID] || !pr.invalid[vectorKeyID] {
		t.Fatal("proof valid for another authority")
	}
	tampered := []byte(strings.Replace(string(body), `"use":"sig"`, `"use":"sig" `, 1))
	if pr := checkProofs(h, tampered, u, keys, now, 30*time.Second); pr.valid[vectorKeyID] {
		t.Fatal("proof valid for another body")
	}
	// A proof created in the future is refused.
	if pr := checkProofs(h, body, u, keys, time.Unix(1735689600-3600, 0), 30*time.Second); pr.valid[vectorKeyID] {
		t.Fatal("proof created in the future accepted")
	}
}

// TestDirectoryProofShapes: each proof is judged on its own, with or
// without content-digest covered, and must carry expires and a created
// that is not in the future.
func TestDirectoryProofShapes(t *testing.T) {
	priv, key, _ := testKey(t)
	body := []byte(`{"keys":[` + string(key.JWK()) + `]}`)
	u, _ := url.Parse("https://signer.example" + WellKnownDirectoryPath)
	now := time.Unix(1_800_000_000, 0)
	sign := func(p DirectoryProof) http.Header {
		h := http.Header{}
		p.Authority = "signer.example"
		if err := SignDirectoryProofs(h, body, []ed25519.PrivateKey{priv}, p); err != nil {
			t.Fatal(err)
		}
		return h
	}
	hour := time.Hour
	for _, tt := range []struct {
		name  string
		h     func() http.Header
		valid bool
	}{
		{"with content-digest (draft -02)", func() http.Header { return sign(DirectoryProof{Created: now, Expires: now.Add(hour)}) }, true},
		{"without content-digest (Cloudflare's library)", func() http.Header {
			return sign(DirectoryProof{Created: now, Expires: now.Add(hour), NoDigest: true})
		}, true},
		{"created within the skew", func() http.Header {
			return sign(DirectoryProof{Created: now.Add(20 * time.Second), Expires: now.Add(hour)})
		}, true},
		{"created in the future", func() http.Header { return sign(DirectoryProof{Created: now.Add(time.Minute), Expires: now.Add(hour)}) }, false},
		{"expired", func() http.Header { return sign(DirectoryProof{Created: now.Add(-2 * hour), Expires: now.Add(-hour)}) }, false},
		{"covered digest that does not match", func() http.Header {
			h := sign(DirectoryProof{Created: now, Expires: now.Add(hour)})
			h.Set("Content-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(make([]byte, 32))+":")
			return h
		}, false},
		{"covered digest missing", func() http.Header {
			h := sign(DirectoryProof{Created: now, Expires: now.Add(hour)})
			h.Del("Content-Digest")
			return h
		}, false},
		{"no expires", func() http.Header {
			h := http.Header{}
			h.Set("Signature-Input", `binding0=("@authority";req);created=1800000000;keyid="`+key.ID+`";tag="http-message-signatures-directory"`)
			h.Set("Signature", `binding0=:`+base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(`"@authority";req: signer.example`+"\n"+`"@signature-params": ("@authority";req);created=1800000000;keyid="`+key.ID+`";tag="http-message-signatures-directory"`)))+`:`)
			return h
		}, false},
		{"plain @authority without req", func() http.Header {
			h := sign(DirectoryProof{Created: now, Expires: now.Add(hour), NoDigest: true})
			h.Set("Signature-Input", strings.Replace(h.Get("Signature-Input"), `"@authority";req`, `"@authority"`, 1))
			return h
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pr := checkProofs(tt.h(), body, u, []Key{key}, now, 30*time.Second)
			if pr.valid[key.ID] != tt.valid || pr.invalid[key.ID] == tt.valid || !pr.signed {
				t.Fatalf("valid %v invalid %v signed %v, want valid %v: %v", pr.valid[key.ID], pr.invalid[key.ID], pr.signed, tt.valid, pr.problems)
			}
		})
	}
}

// dirServer serves a key directory and counts its fetches.
type dirServer struct {
	mu       sync.Mutex
	keys     []ed25519.PrivateKey
	signWith []ed25519.PrivateKey // keys that sign possession proofs
	corrupt  bool                 // garble the second proof's signature bytes
	noDigest bool                 // sign as Cloudflare's library does: "@authority";req only
	signer   []ed25519.PrivateKey // keys not in the directory that sign it too
	status   int
	ctype    string
	maxAge   int
	pad      int
	delay    time.Duration
	fetches  atomic.Int64
	srv      *httptest.Server
}

func newDirServer(t *testing.T, keys ...ed25519.PrivateKey) *dirServer {
	d := &dirServer{keys: keys, status: 200, ctype: MediaTypeDirectory, maxAge: 300}
	d.srv = httptest.NewServer(d)
	t.Cleanup(d.srv.Close)
	return d
}

func (d *dirServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.fetches.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	time.Sleep(d.delay)
	if r.URL.Path != WellKnownDirectoryPath {
		http.NotFound(w, r)
		return
	}
	if d.status == http.StatusFound {
		http.Redirect(w, r, "https://elsewhere.example/keys", http.StatusFound)
		return
	}
	if d.status != 200 {
		w.WriteHeader(d.status)
		return
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
		Pad  string            `json:"pad,omitempty"`
	}
	for _, k := range d.keys {
		key, _ := NewKey(k.Public().(ed25519.PublicKey))
		set.Keys = append(set.Keys, key.JWK())
	}
	set.Pad = strings.Repeat("x", d.pad)
	body, _ := json.Marshal(set)
	if len(d.signWith) > 0 {
		now := time.Now()
		if err := SignDirectoryProofs(w.Header(), body, d.signWith, DirectoryProof{Authority: r.Host, Created: now, Expires: now.Add(time.Hour), NoDigest: d.noDigest}); err != nil {
			panic(err)
		}
		if d.corrupt {
			sigs := strings.Split(w.Header().Get("Signature"), ", ")
			sigs[1] = "binding1=:" + base64.StdEncoding.EncodeToString(make([]byte, 64)) + ":"
			w.Header().Set("Signature", strings.Join(sigs, ", "))
		}
	}
	if len(d.signer) > 0 {
		h := http.Header{}
		now := time.Now()
		if err := SignDirectoryProofs(h, body, d.signer, DirectoryProof{Authority: r.Host, Created: now, Expires: now.Add(time.Hour)}); err != nil {
			panic(err)
		}
		w.Header().Set("Content-Digest", h.Get("Content-Digest"))
		w.Header().Add("Signature-Input", strings.ReplaceAll(h.Get("Signature-Input"), "binding", "platform"))
		w.Header().Add("Signature", strings.ReplaceAll(h.Get("Signature"), "binding", "platform"))
	}
	w.Header().Set("Content-Type", d.ctype)
	w.Header().Set("Cache-Control", "max-age="+strconv.Itoa(d.maxAge))
	_, _ = w.Write(body)
}

func (d *dirServer) set(f func(d *dirServer)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(d)
}

func newClient(d *dirServer, now func() time.Time) *DirectoryClient {
	return &DirectoryClient{
		Allowed:           func(_ context.Context, u string) bool { return u == d.srv.URL },
		AllowHTTPLoopback: true,
		Now:               now,
		Logger:            slog.New(slog.DiscardHandler),
	}
}

func TestDirectoryClient(t *testing.T) {
	ctx := context.Background()
	priv, key, _ := testKey(t)
	priv2, key2, _ := testKey(t)

	t.Run("fetch and cache hit", func(t *testing.T) {
		d := newDirServer(t, priv)
		c := newClient(d, nil)
		for i := 0; i < 3; i++ {
			k, err := c.Lookup(ctx, d.srv.URL, key.ID)
			if err != nil || k.ID != key.ID {
				t.Fatalf("Lookup = %v, %v", k, err)
			}
		}
		if n := d.fetches.Load(); n != 1 {
			t.Fatalf("fetches = %d, want 1", n)
		}
	})
	t.Run("not allowed is never fetched", func(t *testing.T) {
		d := newDirServer(t, priv)
		c := newClient(d, nil)
		c.Allowed = func(context.Context, string) bool { return false }
		if _, err := c.Keys(ctx, d.srv.URL); CodeOf(err) != CodeAgentUnknown {
			t.Fatalf("got %v, want %s", err, CodeAgentUnknown)
		}
		c.Allowed = nil
		if _, err := c.Keys(ctx, d.srv.URL); CodeOf(err) != CodeAgentUnknown {
			t.Fatalf("nil Allowed: got %v", err)
		}
		if d.fetches.Load() != 0 {
			t.Fatal("an unregistered agent URL was fetched")
		}
	})
	t.Run("https required", func(t *testing.T) {
		c := &DirectoryClient{Allowed: func(context.Context, string) bool { return true }}
		if _, err := c.Keys(ctx, "http://signer.example"); CodeOf(err) != CodeAgentMalformed {
			t.Fatalf("got %v", err)
		}
		d := newDirServer(t, priv)
		c.Allowed = func(context.Context, string) bool { return true } // loopback http not allowed without the flag
		if _, err := c.Keys(ctx, d.srv.URL); CodeOf(err) != CodeAgentMalformed || d.fetches.Load() != 0 {
			t.Fatalf("got %v after %d fetches", err, d.fetches.Load())
		}
	})
	t.Run("redirect refused", func(t *testing.T) {
		d := newDirServer(t, priv)
		d.set(func(d *dirServer) { d.status = http.StatusFound })
		_, err := newClient(d, nil).Keys(ctx, d.srv.URL)
		wantUnavailable(t, err, "redirect")
	})
	t.Run("oversize refused", func(t *testing.T) {
		d := newDirServer(t, priv)
		d.set(func(d *dirServer) { d.pad = 70 << 10 })
		_, err := newClient(d, nil).Keys(ctx, d.srv.URL)
		wantUnavailable(t, err, "over")
	})
	t.Run("wrong media type refused", func(t *testing.T) {
		d := newDirServer(t, priv)
		d.set(func(d *dirServer) { d.ctype = "text/html" })
		_, err := newClient(d, nil).Keys(ctx, d.srv.URL)
		wantUnavailable(t, err, "media type")
	})
	t.Run("non-200 refused", func(t *testing.T) {
		d := newDirServer(t, priv)
		d.set(func(d *dirServer) { d.status = http.StatusNoContent })
		_, err := newClient(d, nil).Keys(ctx, d.srv.URL)
		wantUnavailable(t, err, "status 204")
	})
	t.Run("a bad proof drops its key only", func(t *testing.T) {
		d := newDirServer(t, priv, priv2)
		d.set(func(d *dirServer) { d.signWith = []ed25519.PrivateKey{priv, priv2}; d.corrupt = true })
		dir, err := newClient(d, nil).Keys(ctx, d.srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := dir.Key(key.ID); !ok {
			t.Fatal("key with a valid proof was dropped")
		}
		if _, ok := dir.Key(key2.ID); ok {
			t.Fatal("key with a garbled proof was kept")
		}
		d.set(func(d *dirServer) { d.corrupt = false })
		dir, err = newClient(d, nil).Keys(ctx, d.srv.URL)
		if err != nil || len(dir.Keys) != 2 {
			t.Fatalf("two valid proofs: keys %v, %v", dir, err)
		}
	})
	t.Run("valid proofs keep their keys, an unproven key is ignored", func(t *testing.T) {
		d := newDirServer(t, priv, priv2)
		// Only priv proves possession: the directory is signed, so priv2 is dropped.
		d.set(func(d *dirServer) { d.signWith = []ed25519.PrivateKey{priv} })
		dir, err := newClient(d, nil).Keys(ctx, d.srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := dir.Key(key.ID); !ok {
			t.Fatal("key with a valid proof was dropped")
		}
		if _, ok := dir.Key(key2.ID); ok {
			t.Fatal("key without a valid proof was kept although the directory is signed")
		}
	})
	t.Run("RequireProof drops unsigned keys", func(t *testing.T) {
		d := newDirServer(t, priv)
		c := newClient(d, nil)
		c.RequireProof = true
		dir, err := c.Keys(ctx, d.srv.URL)
		if err != nil || len(dir.Keys) != 0 {
			t.Fatalf("keys = %v, %v", dir, err)
		}
	})
	t.Run("failed refresh keeps keys", func(t *testing.T) {
		clock := time.Now()
		d := newDirServer(t, priv)
		c := newClient(d, func() time.Time { return clock })
		if _, err := c.Lookup(ctx, d.srv.URL, key.ID); err != nil {
			t.Fatal(err)
		}
		d.set(func(d *dirServer) { d.status = http.StatusInternalServerError })
		clock = clock.Add(10 * time.Minute) // past max-age
		if _, err := c.Lookup(ctx, d.srv.URL, key.ID); err != nil {
			t.Fatalf("after a failed refresh: %v", err)
		}
		if d.fetches.Load() != 2 {
			t.Fatalf("fetches = %d, want 2", d.fetches.Load())
		}
		// Within RetryAfter no new fetch is made.
		if _, err := c.Lookup(ctx, d.srv.URL, key.ID); err != nil || d.fetches.Load() != 2 {
			t.Fatalf("retry storm: %v, fetches %d", err, d.fetches.Load())
		}
		// Once the directory is back and RetryAfter passed, keys refresh.
		d.set(func(d *dirServer) { d.status = 200; d.keys = []ed25519.PrivateKey{priv2} })
		clock = clock.Add(time.Minute)
		if _, err := c.Lookup(ctx, d.srv.URL, key2.ID); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
	})
	t.Run("one fetch for many concurrent misses", func(t *testing.T) {
		d := newDirServer(t, priv)
		d.set(func(d *dirServer) { d.delay = 50 * time.Millisecond })
		c := newClient(d, nil)
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := c.Lookup(ctx, d.srv.URL, key.ID)
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := d.fetches.Load(); n != 1 {
			t.Fatalf("fetches = %d, want 1", n)
		}
	})
	t.Run("unknown keyid refetches at most once per interval", func(t *testing.T) {
		clock := time.Now()
		d := newDirServer(t, priv)
		c := newClient(d, func() time.Time { return clock })
		if _, err := c.Lookup(ctx, d.srv.URL, key.ID); err != nil {
			t.Fatal(err)
		}
		d.set(func(d *dirServer) { d.keys = append(d.keys, priv2) }) // rotation
		if _, err := c.Lookup(ctx, d.srv.URL, key2.ID); err != nil {
			t.Fatalf("rotated key not picked up: %v", err)
		}
		for i := 0; i < 5; i++ {
			if _, err := c.Lookup(ctx, d.srv.URL, "no-such-key"); CodeOf(err) != CodeUnknownKey {
				t.Fatalf("got %v", err)
			}
		}
		if n := d.fetches.Load(); n != 2 {
			t.Fatalf("fetches = %d, want 2 (unknown ids must not force fetches)", n)
		}
	})
	t.Run("max-age clamped", func(t *testing.T) {
		c := &DirectoryClient{MinTTL: time.Minute, MaxTTL: time.Hour}
		for _, tt := range []struct {
			cc   string
			want time.Duration
		}{{"max-age=5", time.Minute}, {"max-age=600", 10 * time.Minute}, {"max-age=999999", time.Hour}, {"no-store", time.Minute}, {"", time.Minute}, {"garbage=", time.Minute}} {
			if got := c.ttl(tt.cc); got != tt.want {
				t.Errorf("ttl(%q) = %s, want %s", tt.cc, got, tt.want)
			}
		}
	})
}

// wantUnavailable checks a directory_unavailable refusal whose message says
// nothing but "directory unavailable", with detail, the fetch outcome, in
// the wrapped error only.
func wantUnavailable(t *testing.T, err error, detail string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeDirectoryUnavailable {
		t.Fatalf("got %v, want %s", err, CodeDirectoryUnavailable)
	}
	if e.Message != MessageDirectoryUnavailable {
		t.Fatalf("message %q echoes the fetch outcome; want %q", e.Message, MessageDirectoryUnavailable)
	}
	if e.Err == nil || !strings.Contains(e.Err.Error(), detail) {
		t.Fatalf("detail %v, want it to mention %q", e.Err, detail)
	}
}

// fakeDNS resolves from a map; other names do not exist.
type fakeDNS map[string]string

func (f fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return []netip.Addr{netip.MustParseAddr(a)}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestDirectoryClientConnectsToPublicAddressesOnly: the default client
// refuses, before any TCP connection is made, an agent whose address is
// loopback, written so or reached through a name that resolves there now
// (DNS rebinding); the crawler is told "directory unavailable" and nothing
// else, so a registered agent URL cannot probe ports. Allow-listed loopback
// is connected to.
func TestDirectoryClientConnectsToPublicAddressesOnly(t *testing.T) {
	ctx := context.Background()
	srv, accepted := testnet.CountingTLSServer(t)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	dns := fakeDNS{"rebind.example": "127.0.0.1", "meta.example": "169.254.169.254"}
	for _, agent := range []string{
		srv.URL,
		"https://[::ffff:127.0.0.1]:" + port,
		"https://rebind.example:" + port,
		"https://meta.example",
		"https://localhost:" + port,
	} {
		t.Run(agent, func(t *testing.T) {
			before := accepted.Load()
			c := &DirectoryClient{Allowed: func(context.Context, string) bool { return true }, Resolver: dns, Timeout: time.Second,
				Logger: slog.New(slog.DiscardHandler)}
			_, err := c.Keys(ctx, agent)
			wantUnavailable(t, err, "not public")
			if !errors.Is(err, netguard.ErrNotPublic) {
				t.Fatalf("err %v does not wrap netguard.ErrNotPublic", err)
			}
			if e := (*Error)(nil); errors.As(err, &e) && strings.Contains(e.Message, port) {
				t.Fatalf("message %q names the port", e.Message)
			}
			time.Sleep(20 * time.Millisecond)
			if n := accepted.Load() - before; n != 0 {
				t.Fatalf("%d TCP connections accepted", n)
			}
		})
	}
	t.Run("allow-listed loopback is connected to", func(t *testing.T) {
		before := accepted.Load()
		c := &DirectoryClient{Allowed: func(context.Context, string) bool { return true }, Resolver: dns, Timeout: time.Second,
			AllowPrefixes: netguard.LoopbackPrefixes(), Logger: slog.New(slog.DiscardHandler)}
		_, err := c.Keys(ctx, "https://rebind.example:"+port)
		// The test server's certificate is not trusted: the connection was
		// made and TLS refused it, which is all this asks.
		if errors.Is(err, netguard.ErrNotPublic) || accepted.Load() == before {
			t.Fatalf("allow-listed loopback refused: %v", err)
		}
	})
}

// TestKeysURL: the URL fetched follows the agent's type, never its path.
func TestKeysURL(t *testing.T) {
	for _, tt := range []struct {
		in   string
		typ  AgentType
		want string // "" = refused
	}{
		{"https://signer.example", "", "https://signer.example/.well-known/http-message-signatures-directory"},
		{"https://signer.example/", AgentDirectory, "https://signer.example/.well-known/http-message-signatures-directory"},
		{"https://signer.example:8443", AgentDirectory, "https://signer.example:8443/.well-known/http-message-signatures-directory"},
		{"https://signer.example/jwks.json", "", ""},
		{"https://signer.example/agents/op_x", AgentDirectory, ""},
		{"https://signer.example/?q=1", AgentDirectory, ""},
		{"https://signer.example/jwks.json", AgentJWKS, "https://signer.example/jwks.json"},
		{"https://signer.example/keys?v=2#frag", AgentJWKS, "https://signer.example/keys?v=2"},
		{"https://signer.example/bot", AgentCIMD, "https://signer.example/bot"},
		{"https://signer.example/bot", "other", ""},
		{"ftp://signer.example", AgentJWKS, ""},
	} {
		u, err := SignatureAgent{URL: tt.in, Type: tt.typ}.KeysURL()
		if tt.want == "" {
			if err == nil {
				t.Errorf("KeysURL(%q, %q) = %v, want a refusal", tt.in, tt.typ, u)
			}
			continue
		}
		if err != nil || u.String() != tt.want {
			t.Errorf("KeysURL(%q, %q) = %v, %v; want %s", tt.in, tt.typ, u, err, tt.want)
		}
	}
	if _, err := DirectoryURL("https://signer.example/jwks.json"); err == nil {
		t.Error("DirectoryURL guessed a JWKS URL from its path")
	}
}
