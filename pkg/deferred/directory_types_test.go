package deferred

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestDirectoryProofPolicy: which keys each policy uses, for a directory
// signed as Cloudflare's library signs ("@authority";req, no digest), one
// signed per draft -02, one partly signed, one unsigned, and one signed only
// by a key it does not list (a platform's signature: no proof of its keys).
func TestDirectoryProofPolicy(t *testing.T) {
	ctx := context.Background()
	priv, key, _ := testKey(t)
	priv2, key2, _ := testKey(t)
	platform, _, _ := testKey(t)
	both, first, none := []string{key.ID, key2.ID}, []string{key.ID}, []string{}
	for _, tt := range []struct {
		name  string
		setup func(d *dirServer)
		want  map[ProofPolicy][]string
	}{
		{"Cloudflare-shaped proofs, no digest", func(d *dirServer) { d.signWith = []ed25519.PrivateKey{priv, priv2}; d.noDigest = true },
			map[ProofPolicy][]string{ProofIfSigned: both, ProofRequired: both, ProofOptional: both}},
		{"draft -02 proofs with digest", func(d *dirServer) { d.signWith = []ed25519.PrivateKey{priv, priv2} },
			map[ProofPolicy][]string{ProofIfSigned: both, ProofRequired: both, ProofOptional: both}},
		{"one key proven, one not", func(d *dirServer) { d.signWith = []ed25519.PrivateKey{priv} },
			map[ProofPolicy][]string{ProofIfSigned: first, ProofRequired: first, ProofOptional: both}},
		{"one proof garbled", func(d *dirServer) { d.signWith = []ed25519.PrivateKey{priv, priv2}; d.corrupt = true },
			map[ProofPolicy][]string{ProofIfSigned: first, ProofRequired: first, ProofOptional: first}},
		{"unsigned", func(d *dirServer) {},
			map[ProofPolicy][]string{ProofIfSigned: both, ProofRequired: none, ProofOptional: both}},
		{"signed by an unlisted key only", func(d *dirServer) { d.signer = []ed25519.PrivateKey{platform} },
			map[ProofPolicy][]string{ProofIfSigned: both, ProofRequired: none, ProofOptional: both}},
		{"signed by an unlisted key and one listed key", func(d *dirServer) {
			d.signer = []ed25519.PrivateKey{platform}
			d.signWith = []ed25519.PrivateKey{priv2}
			d.noDigest = true
		}, map[ProofPolicy][]string{ProofIfSigned: {key2.ID}, ProofRequired: {key2.ID}, ProofOptional: both}},
	} {
		for policy, want := range tt.want {
			t.Run(tt.name+"/"+string(policy), func(t *testing.T) {
				d := newDirServer(t, priv, priv2)
				d.set(tt.setup)
				c := newClient(d, nil)
				c.Proofs = policy
				dir, err := c.Keys(ctx, d.srv.URL)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, k := range dir.Keys {
					got = append(got, k.ID)
				}
				if len(got) != len(want) {
					t.Fatalf("keys %v, want %v", got, want)
				}
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("keys %v, want %v", got, want)
					}
				}
			})
		}
	}
	if p, err := ParseProofPolicy(""); err != nil || p != ProofIfSigned {
		t.Errorf(`ParseProofPolicy("") = %q, %v`, p, err)
	}
	if _, err := ParseProofPolicy("sometimes"); err == nil {
		t.Error("ParseProofPolicy accepted an unknown policy")
	}
}

// typedServer serves a JWK Set at /jwks.json and Signature Agent Cards at
// /card-*.
type typedServer struct {
	srv  *httptest.Server
	jwks []byte
	card map[string]any // path → card (client_id filled in when "")
	sign ed25519.PrivateKey
}

func newTypedServer(t *testing.T, priv ed25519.PrivateKey) *typedServer {
	k, _ := NewKey(priv.Public().(ed25519.PublicKey))
	ts := &typedServer{jwks: []byte(`{"keys":[` + string(k.JWK()) + `]}`), card: map[string]any{}, sign: priv}
	ts.srv = httptest.NewServer(ts)
	t.Cleanup(ts.srv.Close)
	return ts
}

func (ts *typedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch c, ok := ts.card[r.URL.Path]; {
	case r.URL.Path == "/jwks.json":
		now := time.Now()
		_ = SignDirectoryProofs(w.Header(), ts.jwks, []ed25519.PrivateKey{ts.sign}, DirectoryProof{Authority: r.Host, Created: now, Expires: now.Add(time.Hour), NoDigest: true})
		w.Header().Set("Content-Type", MediaTypeJWKS)
		_, _ = w.Write(ts.jwks)
	case ok:
		body, _ := json.Marshal(c)
		now := time.Now()
		_ = SignDirectoryProofs(w.Header(), body, []ed25519.PrivateKey{ts.sign}, DirectoryProof{Authority: r.Host, Created: now, Expires: now.Add(time.Hour)})
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	default:
		http.NotFound(w, r)
	}
}

// TestAgentTypes: a jwks_uri agent is its JWK Set, a cimd agent its card's
// keys; a card must name itself and carry exactly one of jwks and
// jwks_uri; a directory agent with a path is refused, never guessed to be
// a JWK Set.
func TestAgentTypes(t *testing.T) {
	ctx := context.Background()
	priv, key, _ := testKey(t)
	ts := newTypedServer(t, priv)
	u := ts.srv.URL
	var inline json.RawMessage = ts.jwks
	ts.card["/card-uri"] = map[string]any{"client_id": u + "/card-uri", "client_name": "Example Bot", "jwks_uri": u + "/jwks.json"}
	ts.card["/card-inline"] = map[string]any{"client_id": u + "/card-inline", "jwks": inline, "web_bot_auth": map[string]any{"purpose": "search"}}
	ts.card["/card-other-id"] = map[string]any{"client_id": "https://elsewhere.example/card", "jwks": inline}
	ts.card["/card-both"] = map[string]any{"client_id": u + "/card-both", "jwks": inline, "jwks_uri": u + "/jwks.json"}
	ts.card["/card-neither"] = map[string]any{"client_id": u + "/card-neither"}
	ts.card["/card-ftp"] = map[string]any{"client_id": u + "/card-ftp", "jwks_uri": "ftp://x.example/keys"}
	for _, tt := range []struct {
		name  string
		agent SignatureAgent
		code  Code // "" = key found
	}{
		{"jwks_uri", SignatureAgent{URL: u + "/jwks.json", Type: AgentJWKS}, ""},
		{"path without a type is a directory, refused", SignatureAgent{URL: u + "/jwks.json"}, CodeAgentMalformed},
		{"cimd card naming a jwks_uri", SignatureAgent{URL: u + "/card-uri", Type: AgentCIMD}, ""},
		{"cimd card with inline jwks", SignatureAgent{URL: u + "/card-inline", Type: AgentCIMD}, ""},
		{"cimd card with another client_id", SignatureAgent{URL: u + "/card-other-id", Type: AgentCIMD}, CodeDirectoryUnavailable},
		{"cimd card with both", SignatureAgent{URL: u + "/card-both", Type: AgentCIMD}, CodeDirectoryUnavailable},
		{"cimd card with neither", SignatureAgent{URL: u + "/card-neither", Type: AgentCIMD}, CodeDirectoryUnavailable},
		{"cimd card with an ftp jwks_uri", SignatureAgent{URL: u + "/card-ftp", Type: AgentCIMD}, CodeDirectoryUnavailable},
		{"missing card", SignatureAgent{URL: u + "/card-none", Type: AgentCIMD}, CodeDirectoryUnavailable},
		{"unknown type", SignatureAgent{URL: u + "/card-uri", Type: "other"}, CodeAgentMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &DirectoryClient{Allowed: func(context.Context, string) bool { return true }, AllowHTTPLoopback: true, Proofs: ProofRequired}
			k, err := c.LookupAgent(ctx, tt.agent, key.ID)
			if tt.code == "" {
				if err != nil || k.ID != key.ID {
					t.Fatalf("LookupAgent = %v, %v", k, err)
				}
				return
			}
			if CodeOf(err) != tt.code {
				t.Fatalf("got %v, want %s", err, tt.code)
			}
		})
	}
	// One URL sent as two types is cached apart, and invalidated together.
	c := &DirectoryClient{Allowed: func(context.Context, string) bool { return true }, AllowHTTPLoopback: true}
	if _, err := c.LookupAgent(ctx, SignatureAgent{URL: u + "/jwks.json", Type: AgentJWKS}, key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lookup(ctx, u+"/jwks.json", key.ID); CodeOf(err) != CodeAgentMalformed {
		t.Fatalf("the cached jwks_uri answered a directory lookup: %v", err)
	}
	c.Invalidate(u + "/jwks.json")
	if len(c.cache) != 0 {
		t.Fatalf("cache after Invalidate: %v", c.cache)
	}
}
