package api

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/registry"
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

// cloudflareShape is the Signature-Input Cloudflare's directoryResponseHeaders
// writes, with content-digest covered as draft -02 requires.
var cloudflareShape = regexp.MustCompile(`^binding0=\("@authority";req "content-digest"\);created=(\d+);keyid="([A-Za-z0-9_-]{43})";alg="ed25519";expires=(\d+);tag="http-message-signatures-directory"$`)

// TestHostedDirectoryOnItsOwnOrigin: with a hosted agents base, sign-up
// reports the operator's own origin as its agent; that origin serves the
// directory at the well-known path (routed by Host, reachable as
// op-<id>.localhost), signed with the service's directory key in
// Cloudflare's shape plus content-digest, with a max-age inside the
// proof's lifetime; the older /agents/<id> keeps working; the service's
// own well-known directory publishes the directory key with a proof of
// possession; operator hosts serve nothing else.
func TestHostedDirectoryOnItsOwnOrigin(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{hosted: true})
	_, port, _ := strings.Cut(strings.TrimPrefix(e.ts.URL, "http://"), ":")
	resp, err := e.client("").SignUp(ctx, "Example Crawler", "ops@crawler.example")
	if err != nil {
		t.Fatal(err)
	}
	op := resp.Operator
	host := "op-" + strings.TrimPrefix(op.ID, registry.OperatorIDPrefix) + ".localhost:" + port
	if op.AgentURL != "http://"+host {
		t.Fatalf("agent_url %q, want http://%s", op.AgentURL, host)
	}
	priv := newPriv(t)
	k, err := e.client(resp.Token).RegisterKey(ctx, e.proof(priv, op.ID))
	if err != nil {
		t.Fatal(err)
	}
	dirKey, _ := deferred.NewKey(e.dirKey.Public().(ed25519.PublicKey))

	status, h, body := e.get(host, deferred.WellKnownDirectoryPath)
	if status != http.StatusOK || h.Get("Content-Type") != deferred.MediaTypeDirectory || !strings.Contains(string(body), k.KeyID[:8]) {
		t.Fatalf("directory: %d %q %s", status, h.Get("Content-Type"), body)
	}
	m := cloudflareShape.FindStringSubmatch(h.Get("Signature-Input"))
	if m == nil || m[2] != dirKey.ID || !strings.HasPrefix(h.Get("Signature"), "binding0=:") {
		t.Fatalf("Signature-Input %q, Signature %q: not Cloudflare's shape signed by %s", h.Get("Signature-Input"), h.Get("Signature"), dirKey.ID)
	}
	created, _ := strconv.ParseInt(m[1], 10, 64)
	expires, _ := strconv.ParseInt(m[3], 10, 64)
	maxAge, err := strconv.Atoi(strings.TrimPrefix(h.Get("Cache-Control"), "max-age="))
	if err != nil || maxAge <= 0 || maxAge > 60 || int64(maxAge) > expires-created {
		t.Fatalf("Cache-Control %q with a proof valid %d s: want max-age in (0, 60] and within the proof", h.Get("Cache-Control"), expires-created)
	}
	wellKnown := func(host string) *url.URL {
		return &url.URL{Scheme: "http", Host: host, Path: deferred.WellKnownDirectoryPath}
	}
	if err := deferred.VerifyDirectoryProof(h, body, wellKnown(host), dirKey, time.Now()); err != nil {
		t.Fatalf("the directory key's signature does not verify: %v", err)
	}
	if err := deferred.VerifyDirectoryProof(h, body, wellKnown("op-x.evil.example"), dirKey, time.Now()); err == nil {
		t.Fatal("the signature verifies for another authority")
	}

	// A verifier fetches it the standard way: the agent is an origin.
	dc := func(p deferred.ProofPolicy) *deferred.DirectoryClient {
		return &deferred.DirectoryClient{Allowed: func(string) bool { return true }, AllowHTTPLoopback: true, Proofs: p, Logger: slog.New(slog.DiscardHandler)}
	}
	if got, err := dc("").Lookup(ctx, op.AgentURL, k.KeyID); err != nil || got.ID != k.KeyID {
		t.Fatalf("Lookup of the hosted origin = %+v, %v", got, err)
	}
	// The directory key signs for the service, not for the operator's
	// key: a verifier that uses proven keys only (Cloudflare) finds none.
	if _, err := dc(deferred.ProofRequired).Lookup(ctx, op.AgentURL, k.KeyID); deferred.CodeOf(err) != deferred.CodeUnknownKey {
		t.Fatalf("ProofRequired: %v, want %s", err, deferred.CodeUnknownKey)
	}
	// The older URL keeps working, signed the same way.
	legacy := deferred.SignatureAgent{URL: e.ts.URL + "/agents/" + op.ID, Type: deferred.AgentJWKS}
	if got, err := dc("").LookupAgent(ctx, legacy, k.KeyID); err != nil || got.ID != k.KeyID {
		t.Fatalf("Lookup of /agents/<id> = %+v, %v", got, err)
	}
	status, h, body = e.get(strings.TrimPrefix(e.ts.URL, "http://"), "/agents/"+op.ID)
	if status != http.StatusOK || deferred.VerifyDirectoryProof(h, body, &url.URL{Scheme: "http", Host: strings.TrimPrefix(e.ts.URL, "http://"), Path: "/agents/" + op.ID}, dirKey, time.Now()) != nil {
		t.Fatalf("/agents/<id>: %d, not signed by the directory key", status)
	}
	// The service's own directory publishes the directory key, proven.
	own, err := dc(deferred.ProofRequired).Keys(ctx, e.ts.URL)
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
