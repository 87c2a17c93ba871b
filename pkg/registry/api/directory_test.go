package api

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

// get sends a GET to the test server with an explicit Host.
func (e *env) get(host, path string) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.ts.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

// operatorShape is the Signature-Input member of an operator key's own
// proof: Cloudflare's directoryResponseHeaders shape ("@authority";req
// only), labelled binding<i>.
var operatorShape = regexp.MustCompile(`^binding(\d+)=\("@authority";req\);created=(\d+);keyid="([A-Za-z0-9_-]{43})";alg="ed25519";expires=(\d+);tag="http-message-signatures-directory"$`)

// keyDirectoryShape is the Signature-Input member of the key directory's
// own signature: Cloudflare's shape plus content-digest, labelled apart.
var keyDirectoryShape = regexp.MustCompile(`^keydirectory=\("@authority";req "content-digest"\);created=(\d+);keyid="([A-Za-z0-9_-]{43})";alg="ed25519";expires=(\d+);tag="http-message-signatures-directory"$`)

// withDirProof adds the key's directory proof for authority to p.
func withDirProof(t *testing.T, p registry.Proof, priv ed25519.PrivateKey, authority string, created, expires time.Time) registry.Proof {
	t.Helper()
	dp, err := registry.SignDirectoryProof(priv, authority, created, expires)
	if err != nil {
		t.Fatal(err)
	}
	p.DirectoryProof = &dp
	return p
}

// dirClient is a DirectoryClient with proof policy p, allowed loopback.
func dirClient(p deferred.ProofPolicy) *deferred.DirectoryClient {
	return &deferred.DirectoryClient{Allowed: func(context.Context, string) bool { return true }, AllowHTTPLoopback: true, Proofs: p, Logger: slog.New(slog.DiscardHandler)}
}

// keyIDs is the sorted keyids of d.
func keyIDs(d *deferred.Directory) string {
	var ids []string
	for _, k := range d.Keys {
		ids = append(ids, k.ID)
	}
	sort.Strings(ids)
	return strings.Join(ids, " ")
}

func sortedIDs(ids ...string) string {
	sort.Strings(ids)
	return strings.Join(ids, " ")
}

// TestHostedDirectoryOnItsOwnOrigin: with a hosted agents base, sign-up
// reports the operator's own origin as its agent; that origin serves the
// directory at the well-known path (routed by Host, reachable as
// op-<id>.localhost). Each key registered with its own directory proof is
// served with that proof as binding<i> (Cloudflare's shape, no
// content-digest), each key without one unproven; the key directory adds
// its own signature labelled "keydirectory" (content-digest covered),
// which proves nothing about the operator's keys. A verifier that uses
// proven keys only uses exactly the operator-proven keys; a proof added
// later counts; a revoked key vanishes with its proof; the max-age stays
// inside every served proof's lifetime. The older /agents/<id> keeps
// working; the service's own well-known directory publishes the directory
// key with a proof of possession; operator hosts serve nothing else.
func TestHostedDirectoryOnItsOwnOrigin(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{hosted: true})
	_, port, _ := strings.Cut(strings.TrimPrefix(e.ts.URL, "http://"), ":")
	resp, err := e.client("").SignUp(ctx, "Example Crawler", "ops@crawler.example")
	if err != nil {
		t.Fatal(err)
	}
	op := resp.Operator
	c := e.client(resp.Token)
	host := "op-" + strings.TrimPrefix(op.ID, registry.OperatorIDPrefix) + ".localhost:" + port
	if op.AgentURL != "http://"+host {
		t.Fatalf("agent_url %q, want http://%s", op.AgentURL, host)
	}
	if a, err := registry.DirectoryAuthorityOf(op.AgentURL); err != nil || a != host || e.store.DirectoryAuthority(op.ID) != host {
		t.Fatalf("directory authority %q, %v; store says %q; want %q", a, err, e.store.DirectoryAuthority(op.ID), host)
	}
	now := time.Now()
	privA, privB := newPriv(t), newPriv(t)
	// A short-lived proof for A: the max-age must stay inside it.
	kA, err := c.RegisterKey(ctx, withDirProof(t, e.proof(privA, op.ID), privA, host, now, now.Add(20*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if kA.DirectoryProof == nil || kA.DirectoryProof.Authority != host {
		t.Fatalf("registered key shows directory proof %+v", kA.DirectoryProof)
	}
	kB, err := c.RegisterKey(ctx, e.proof(privB, op.ID)) // an older client: no directory proof
	if err != nil {
		t.Fatal(err)
	}
	dirKey, _ := deferred.NewKey(e.dirKey.Public().(ed25519.PublicKey))
	wellKnown := func(host string) *url.URL {
		return &url.URL{Scheme: "http", Host: host, Path: deferred.WellKnownDirectoryPath}
	}

	status, h, body := e.get(host, deferred.WellKnownDirectoryPath)
	if status != http.StatusOK || h.Get("Content-Type") != deferred.MediaTypeDirectory || !strings.Contains(string(body), kA.KeyID) || !strings.Contains(string(body), kB.KeyID) {
		t.Fatalf("directory: %d %q %s", status, h.Get("Content-Type"), body)
	}
	inputs := strings.Split(h.Get("Signature-Input"), ", ")
	if len(inputs) != 2 || len(strings.Split(h.Get("Signature"), ", ")) != 2 {
		t.Fatalf("Signature-Input %q: want A's own proof and the key directory's signature", h.Get("Signature-Input"))
	}
	m := operatorShape.FindStringSubmatch(inputs[0])
	if m == nil || m[3] != kA.KeyID || m[1] != "0" {
		t.Fatalf("Signature-Input member %q: not A's own proof as binding0 in Cloudflare's shape", inputs[0])
	}
	d := keyDirectoryShape.FindStringSubmatch(inputs[1])
	if d == nil || d[2] != dirKey.ID {
		t.Fatalf("Signature-Input member %q: not the key directory's signature", inputs[1])
	}
	expiresA, _ := strconv.ParseInt(m[4], 10, 64)
	maxAge, err := strconv.Atoi(strings.TrimPrefix(h.Get("Cache-Control"), "max-age="))
	if err != nil || maxAge <= 0 || maxAge > 60 || time.Now().Add(time.Duration(maxAge)*time.Second).Unix() > expiresA {
		t.Fatalf("Cache-Control %q with A's proof expiring at %d: want a max-age in (0, 60] that ends before it", h.Get("Cache-Control"), expiresA)
	}
	if err := deferred.VerifyDirectoryProof(h, body, wellKnown(host), dirKey, time.Now()); err != nil {
		t.Fatalf("the directory key's signature does not verify: %v", err)
	}
	if err := deferred.VerifyDirectoryProof(h, body, wellKnown("op-x.evil.example"), dirKey, time.Now()); err == nil {
		t.Fatal("the signature verifies for another authority")
	}

	// A verifier fetches it the standard way: the agent is an origin. The
	// proven keys are exactly the operator-proven ones.
	for _, tt := range []struct {
		policy deferred.ProofPolicy
		want   string
	}{
		{deferred.ProofRequired, kA.KeyID},
		{deferred.ProofIfSigned, kA.KeyID},
		{deferred.ProofOptional, sortedIDs(kA.KeyID, kB.KeyID)},
	} {
		got, err := dirClient(tt.policy).Keys(ctx, op.AgentURL)
		if err != nil || keyIDs(got) != tt.want {
			t.Fatalf("%s: keys %v, %v; want %s", tt.policy, got, err, tt.want)
		}
	}
	if _, err := dirClient(deferred.ProofRequired).Lookup(ctx, op.AgentURL, kB.KeyID); deferred.CodeOf(err) != deferred.CodeUnknownKey {
		t.Fatalf("ProofRequired, the unproven key: %v, want %s", err, deferred.CodeUnknownKey)
	}

	// B gets its proof later; both are proven, each under its own label.
	if _, err := c.AddDirectoryProof(ctx, kB.KeyID, mustDirProof(t, privB, host, now, now.Add(registry.DefaultDirectoryProofValidity))); err != nil {
		t.Fatal(err)
	}
	if got, err := dirClient(deferred.ProofRequired).Keys(ctx, op.AgentURL); err != nil || keyIDs(got) != sortedIDs(kA.KeyID, kB.KeyID) {
		t.Fatalf("after B's proof: keys %v, %v", got, err)
	}
	_, h, _ = e.get(host, deferred.WellKnownDirectoryPath)
	if in := h.Get("Signature-Input"); !strings.Contains(in, `binding0=("@authority";req);created=`) || !strings.Contains(in, `binding1=("@authority";req);created=`) || !strings.Contains(in, kB.KeyID) {
		t.Fatalf("Signature-Input %q: want binding0 and binding1", in)
	}

	// A revoked key vanishes with its proof.
	if _, err := c.RevokeKey(ctx, kA.KeyID); err != nil {
		t.Fatal(err)
	}
	_, h, body = e.get(host, deferred.WellKnownDirectoryPath)
	if strings.Contains(string(body), kA.KeyID) || strings.Contains(h.Get("Signature-Input"), kA.KeyID) {
		t.Fatalf("the revoked key is still served: %s %q", body, h.Get("Signature-Input"))
	}
	if got, err := dirClient(deferred.ProofRequired).Keys(ctx, op.AgentURL); err != nil || keyIDs(got) != kB.KeyID {
		t.Fatalf("after revoking A: keys %v, %v", got, err)
	}
	if k, err := e.store.Key(ctx, kA.KeyID); err != nil || k.DirectoryProof != nil {
		t.Fatalf("the revoked key keeps its proof: %+v, %v", k, err)
	}

	// The older URL keeps working: it is on the key directory's authority,
	// for which the operator's proofs were not signed, so none is served
	// there and the key directory's signature vouches for it.
	legacy := deferred.SignatureAgent{URL: e.ts.URL + "/agents/" + op.ID, Type: deferred.AgentJWKS}
	if got, err := dirClient("").LookupAgent(ctx, legacy, kB.KeyID); err != nil || got.ID != kB.KeyID {
		t.Fatalf("Lookup of /agents/<id> = %+v, %v", got, err)
	}
	status, h, body = e.get(strings.TrimPrefix(e.ts.URL, "http://"), "/agents/"+op.ID)
	if status != http.StatusOK || strings.Contains(h.Get("Signature-Input"), "binding") ||
		deferred.VerifyDirectoryProof(h, body, &url.URL{Scheme: "http", Host: strings.TrimPrefix(e.ts.URL, "http://"), Path: "/agents/" + op.ID}, dirKey, time.Now()) != nil {
		t.Fatalf("/agents/<id>: %d %q, not signed by the directory key alone", status, h.Get("Signature-Input"))
	}
	// The service's own directory publishes the directory key, proven.
	own, err := dirClient(deferred.ProofRequired).Keys(ctx, e.ts.URL)
	if err != nil || len(own.Keys) != 1 || own.Keys[0].ID != dirKey.ID {
		t.Fatalf("the service's own directory: %+v, %v", own, err)
	}

	for _, tt := range []struct {
		name, host, path string
		status           int
	}{
		{"operator host, other path", host, "/v1/operators/me", http.StatusNotFound},
		{"operator host, older path", host, "/agents/" + op.ID, http.StatusNotFound},
		{"unknown operator", "op-zzzzzzzzzzzzzzzz.localhost:" + port, deferred.WellKnownDirectoryPath, http.StatusNotFound},
		{"malformed operator label", "op-nonsense.localhost:" + port, deferred.WellKnownDirectoryPath, http.StatusOK}, // not an operator host: the service's own
		{"operator host in upper case", strings.ToUpper(host), deferred.WellKnownDirectoryPath, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if status, _, body := e.get(tt.host, tt.path); status != tt.status {
				t.Fatalf("%s%s: %d %s, want %d", tt.host, tt.path, status, body, tt.status)
			}
		})
	}
}

func mustDirProof(t *testing.T, priv ed25519.PrivateKey, authority string, created, expires time.Time) registry.DirectoryProof {
	t.Helper()
	dp, err := registry.SignDirectoryProof(priv, authority, created, expires)
	if err != nil {
		t.Fatal(err)
	}
	return dp
}

// TestDirectoryProofRefused: a directory proof that is not the key's own
// for the operator's hosted authority is refused with a coded 400, at
// registration, at rotation and when added later, and nothing is
// registered; adding one to a key that is not the caller's, or unknown,
// or revoked, is refused too.
func TestDirectoryProofRefused(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{hosted: true})
	op, other := e.signUp("first"), e.signUp("second")
	host, otherHost := e.store.DirectoryAuthority(op.id), e.store.DirectoryAuthority(other.id)
	now := time.Now()
	later := now.Add(registry.DefaultDirectoryProofValidity)
	stranger := newPriv(t)
	for _, tt := range []struct {
		name string
		dp   func(priv ed25519.PrivateKey) registry.DirectoryProof
		code string
	}{
		{"another operator's host, named", func(priv ed25519.PrivateKey) registry.DirectoryProof {
			return mustDirProof(t, priv, otherHost, now, later)
		}, "directory_proof_wrong_authority"},
		{"another operator's host, unnamed", func(priv ed25519.PrivateKey) registry.DirectoryProof {
			p := mustDirProof(t, priv, otherHost, now, later)
			p.Authority = ""
			return p
		}, "bad_directory_proof"},
		{"signed by another key", func(priv ed25519.PrivateKey) registry.DirectoryProof {
			return mustDirProof(t, stranger, host, now, later)
		}, "bad_directory_proof"},
		{"expired", func(priv ed25519.PrivateKey) registry.DirectoryProof {
			return mustDirProof(t, priv, host, now.Add(-2*time.Hour), now.Add(-time.Hour))
		}, "directory_proof_expired"},
		{"created in the future", func(priv ed25519.PrivateKey) registry.DirectoryProof {
			return mustDirProof(t, priv, host, now.Add(5*time.Minute), later)
		}, "bad_directory_proof"},
		{"valid too long", func(priv ed25519.PrivateKey) registry.DirectoryProof {
			return mustDirProof(t, priv, host, now, now.Add(registry.MaxDirectoryProofValidity+time.Hour))
		}, "bad_directory_proof"},
		{"expires before created", func(priv ed25519.PrivateKey) registry.DirectoryProof {
			p := mustDirProof(t, priv, host, now, later)
			p.Expires = p.Created - 1
			return p
		}, "bad_directory_proof"},
		{"parameters changed after signing", func(priv ed25519.PrivateKey) registry.DirectoryProof {
			p := mustDirProof(t, priv, host, now, later)
			p.Expires++
			return p
		}, "bad_directory_proof"},
		{"signature not base64", func(priv ed25519.PrivateKey) registry.DirectoryProof {
			p := mustDirProof(t, priv, host, now, later)
			p.Signature = "not base64!"
			return p
		}, "bad_directory_proof"},
		{"signature too short", func(priv ed25519.PrivateKey) registry.DirectoryProof {
			p := mustDirProof(t, priv, host, now, later)
			p.Signature = "AAAA"
			return p
		}, "bad_directory_proof"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			priv := newPriv(t)
			dp := tt.dp(priv)
			p := e.proof(priv, op.id)
			p.DirectoryProof = &dp
			e.wantError(http.StatusBadRequest, tt.code, http.MethodPost, "/v1/keys", op.token, p)
			e.wantError(http.StatusBadRequest, tt.code, http.MethodPost, "/v1/keys/rotate", op.token, keydir.RotateRequest{Proof: p})
			k, err := deferred.NewKey(priv.Public().(ed25519.PublicKey))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.store.Key(ctx, k.ID); !errors.Is(err, registry.ErrNotFound) {
				t.Fatalf("the key was registered anyway: %v", err)
			}
			// Registered without a proof, the same proof added later is
			// refused the same way.
			if _, err := e.client(op.token).RegisterKey(ctx, e.proof(priv, op.id)); err != nil {
				t.Fatal(err)
			}
			e.wantError(http.StatusBadRequest, tt.code, http.MethodPost, "/v1/keys/"+k.ID+"/directory-proof", op.token, dp)
		})
	}

	mine := e.withKey("third")
	good := mustDirProof(t, mine.priv, e.store.DirectoryAuthority(mine.id), now, later)
	e.wantError(http.StatusForbidden, "forbidden", http.MethodPost, "/v1/keys/"+mine.keyID+"/directory-proof", op.token, good)
	e.wantError(http.StatusNotFound, "not_found", http.MethodPost, "/v1/keys/"+strings.Repeat("A", 43)+"/directory-proof", mine.token, good)
	e.wantError(http.StatusBadRequest, "invalid_json", http.MethodPost, "/v1/keys/"+mine.keyID+"/directory-proof", mine.token, `{"created":"yesterday"}`)
	if _, err := e.client(mine.token).AddDirectoryProof(ctx, mine.keyID, good); err != nil {
		t.Fatalf("the key's own proof: %v", err)
	}
	if _, err := e.client(mine.token).RevokeKey(ctx, mine.keyID); err != nil {
		t.Fatal(err)
	}
	e.wantError(http.StatusBadRequest, "invalid_request", http.MethodPost, "/v1/keys/"+mine.keyID+"/directory-proof", mine.token, good)
}

// TestDirectoryProofWithoutHostedBase: with no hosted agents base the
// hosted agent is <key directory>/agents/<id>, a jwks_uri agent on the key
// directory's own authority; a directory proof signed for that authority
// is accepted and served there, and a verifier that uses proven keys only
// uses the key.
func TestDirectoryProofWithoutHostedBase(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	op := e.signUp("legacy")
	me, err := e.client(op.token).Me(ctx)
	if err != nil {
		t.Fatal(err)
	}
	authority := strings.TrimPrefix(e.ts.URL, "http://")
	if a, _ := registry.DirectoryAuthorityOf(me.AgentURL); a != authority || e.store.DirectoryAuthority(op.id) != authority {
		t.Fatalf("agent %s: directory authority %q, want the key directory's %q", me.AgentURL, a, authority)
	}
	priv, unproven := newPriv(t), newPriv(t)
	now := time.Now()
	k, err := e.client(op.token).RegisterKey(ctx, withDirProof(t, e.proof(priv, op.id), priv, authority, now, now.Add(registry.DefaultDirectoryProofValidity)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client(op.token).RegisterKey(ctx, e.proof(unproven, op.id)); err != nil {
		t.Fatal(err)
	}
	agent := deferred.SignatureAgent{URL: me.AgentURL, Type: deferred.AgentJWKS}
	got, err := dirClient(deferred.ProofRequired).AgentKeys(ctx, agent)
	if err != nil || keyIDs(got) != k.KeyID {
		t.Fatalf("ProofRequired: keys %v, %v; want %s", got, err, k.KeyID)
	}
}

// TestDirectorySignerConfig: a proof lifetime shorter than the max-age (a
// cache would serve expired proofs) and keys that are not Ed25519 private
// keys are refused.
func TestDirectorySignerConfig(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"lifetime under the max-age", Config{DirectoryMaxAge: 30 * time.Second, DirectoryProofLifetime: 10 * time.Second}},
		{"lifetime over 7 days", Config{DirectoryProofLifetime: 8 * 24 * time.Hour}},
		{"short key", Config{DirectoryKeys: []ed25519.PrivateKey{make([]byte, 31)}}},
		{"a key twice", Config{DirectoryKeys: []ed25519.PrivateKey{e.dirKey, e.dirKey}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Store = e.store
			if _, err := New(tt.cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
