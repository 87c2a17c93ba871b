package interop

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/api"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
	"github.com/redis/go-redis/v9"
)

// privateJWK is an Ed25519 private key as a JWK, for the library's signer.
func privateJWK(priv ed25519.PrivateKey) map[string]string {
	b64 := base64.RawURLEncoding.EncodeToString
	return map[string]string{"kty": "OKP", "crv": "Ed25519", "d": b64(priv.Seed()), "x": b64(priv.Public().(ed25519.PublicKey))}
}

func newKey(t *testing.T) (ed25519.PrivateKey, deferred.Key) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := deferred.NewKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return priv, k
}

// TestCloudflareSignedDirectoryYieldsItsKeys: a directory response signed by
// Cloudflare's directoryResponseHeaders ("@authority";req, no
// content-digest, one binding<i> per key) yields every key it proves to our
// DirectoryClient, even under the strictest proof policy.
func TestCloudflareSignedDirectoryYieldsItsKeys(t *testing.T) {
	Setup(t)
	priv1, k1 := newKey(t)
	priv2, k2 := newKey(t)
	body := []byte(`{"keys":[` + string(k1.JWK()) + `,` + string(k2.JWK()) + `]}`)
	var headers map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != deferred.WellKnownDirectoryPath {
			http.NotFound(w, r)
			return
		}
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", deferred.MediaTypeDirectory)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	authority := strings.TrimPrefix(srv.URL, "http://")
	for _, tt := range []struct {
		name string
		keys []ed25519.PrivateKey
		want []string
	}{
		{"both keys signed", []ed25519.PrivateKey{priv1, priv2}, []string{k1.ID, k2.ID}},
		{"one key signed", []ed25519.PrivateKey{priv2}, []string{k2.ID}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// directoryResponseHeaders takes several signers; sign with each
			// and join, as it does.
			var inputs, sigs []string
			for i, priv := range tt.keys {
				var h map[string]string
				RunJSON(t, map[string]any{"authority": authority, "jwk": privateJWK(priv)}, &h, "directory.mjs", "sign")
				in, sig := h["Signature-Input"], h["Signature"]
				if !strings.HasPrefix(in, `binding0=("@authority";req);created=`) || strings.Contains(in, "content-digest") {
					t.Fatalf("the library signed %q: not the shape this test is about", in)
				}
				inputs = append(inputs, strings.Replace(in, "binding0=", "binding"+string(rune('0'+i))+"=", 1))
				sigs = append(sigs, strings.Replace(sig, "binding0=", "binding"+string(rune('0'+i))+"=", 1))
			}
			headers = map[string]string{"Signature-Input": strings.Join(inputs, ", "), "Signature": strings.Join(sigs, ", ")}
			c := &deferred.DirectoryClient{Allowed: func(context.Context, string) bool { return true }, AllowHTTPLoopback: true,
				Proofs: deferred.ProofRequired, Logger: slog.New(slog.DiscardHandler)}
			d, err := c.Keys(context.Background(), srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range d.Keys {
				got = append(got, k.ID)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("keys %v, want %v", got, tt.want)
			}
		})
	}
}

// keyDirectory runs the key directory's API on real Redis with per-operator
// hosts under http://localhost:<port>, signing with dirKey.
func keyDirectory(t *testing.T, dirKey ed25519.PrivateKey) (*httptest.Server, *registry.Store) {
	t.Helper()
	rs := testredis.Start(t, testredis.Options{NoAOF: true})
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	ts := httptest.NewUnstartedServer(nil)
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	store, err := registry.NewStore(rdb, registry.Options{AgentBase: "http://" + ts.Listener.Addr().String(),
		HostedAgentsBase: "http://localhost:" + port, SignupsPerMinute: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Store: store, AdminToken: strings.Repeat("a", 32), DirectoryKeys: []ed25519.PrivateKey{dirKey},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	return ts, store
}

// directoryResponse fetches the well-known directory of the key directory
// at ts with Host host, as a verifier would, and returns it as the
// scripts take it.
func directoryResponse(t *testing.T, ts *httptest.Server, host string) (map[string]string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ts.URL+deferred.WellKnownDirectoryPath, nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %v %v", resp, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	headers := map[string]string{}
	for k := range resp.Header {
		headers[k] = resp.Header.Get(k)
	}
	return headers, string(body)
}

// directoryVerdict is what directory.mjs verify-directory answers.
type directoryVerdict struct {
	Proven     []string `json:"proven"`
	Signatures []struct {
		Label      string   `json:"label"`
		KeyID      string   `json:"keyid"`
		Listed     bool     `json:"listed"`
		Components []string `json:"components"`
		Digest     bool     `json:"digest"`
		Error      string   `json:"error"`
	} `json:"signatures"`
}

// TestCloudflareVerifiesOurHostedDirectory: an operator's hosted
// directory, fetched from its own origin, carries for the key registered
// with a directory proof (signed by the key itself, as crawlctl does) a
// binding that Cloudflare's library verifies with that key, the listed
// one its keyid names; the key registered without one is not proven, and
// the key directory's own signature, by a key the directory does not
// list, proves nothing: a verifier that uses proven keys only uses exactly
// the operator-proven key. Served under another authority, nothing is
// proven. The service's own well-known directory's proof of its directory
// key verifies under the library's verify, content-digest included.
func TestCloudflareVerifiesOurHostedDirectory(t *testing.T) {
	Setup(t)
	ctx := context.Background()
	dirPriv, dirKey := newKey(t)
	ts, _ := keyDirectory(t, dirPriv)
	kc := &keydir.Client{BaseURL: ts.URL}
	su, err := kc.SignUp(ctx, "Interop Crawler", "ops@crawler.example")
	if err != nil {
		t.Fatal(err)
	}
	opHost := strings.TrimPrefix(su.Operator.AgentURL, "http://")
	if !strings.HasPrefix(opHost, "op-") {
		t.Fatalf("agent_url %q is not the operator's own origin", su.Operator.AgentURL)
	}
	kc.Token = su.Token
	authority, err := registry.DirectoryAuthorityOf(su.Operator.AgentURL)
	if err != nil {
		t.Fatal(err)
	}
	priv, key := newKey(t)
	now := time.Now()
	proof, err := registry.SignProof(priv, su.Operator.ID, now)
	if err != nil {
		t.Fatal(err)
	}
	dp, err := registry.SignDirectoryProof(priv, authority, now, now.Add(registry.DefaultDirectoryProofValidity))
	if err != nil {
		t.Fatal(err)
	}
	proof.DirectoryProof = &dp
	if _, err := kc.RegisterKey(ctx, proof); err != nil {
		t.Fatal(err)
	}
	unprovenPriv, unproven := newKey(t)
	plain, err := registry.SignProof(unprovenPriv, su.Operator.ID, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.RegisterKey(ctx, plain); err != nil {
		t.Fatal(err)
	}

	headers, body := directoryResponse(t, ts, opHost)
	if !strings.Contains(body, unproven.ID) || !strings.Contains(body, key.ID) {
		t.Fatalf("the directory does not list both keys: %s", body)
	}
	var got directoryVerdict
	RunJSON(t, map[string]any{"url": "http://" + opHost + deferred.WellKnownDirectoryPath, "status": 200, "headers": headers, "body": body},
		&got, "directory.mjs", "verify-directory")
	if strings.Join(got.Proven, " ") != key.ID {
		t.Fatalf("the library proved %v, want exactly the operator-proven %s: %+v", got.Proven, key.ID, got.Signatures)
	}
	var binding, unlisted bool
	for _, s := range got.Signatures {
		switch {
		case s.KeyID == key.ID:
			binding = s.Label == "binding0" && s.Error == "" && !s.Digest && strings.Join(s.Components, " ") == "@authority"
		case s.KeyID == dirKey.ID:
			unlisted = !s.Listed && s.Label == api.KeyDirectoryLabel
		default:
			t.Fatalf("unexpected signature %+v", s)
		}
	}
	if !binding || !unlisted {
		t.Fatalf("signatures %+v: want the key's own binding0 over @authority and the key directory's, unlisted", got.Signatures)
	}
	// Our own client agrees, under Cloudflare's rule.
	c := &deferred.DirectoryClient{Allowed: func(context.Context, string) bool { return true }, AllowHTTPLoopback: true,
		Proofs: deferred.ProofRequired, Logger: slog.New(slog.DiscardHandler)}
	d, err := c.Keys(ctx, su.Operator.AgentURL)
	if err != nil || len(d.Keys) != 1 || d.Keys[0].ID != key.ID {
		t.Fatalf("DirectoryClient under ProofRequired: %+v, %v", d, err)
	}
	// Re-served under another authority, the library proves nothing.
	var moved directoryVerdict
	RunJSON(t, map[string]any{"url": "http://evil.example" + deferred.WellKnownDirectoryPath, "status": 200, "headers": headers, "body": body},
		&moved, "directory.mjs", "verify-directory")
	if len(moved.Proven) != 0 {
		t.Fatalf("the library proved %v for a directory moved to evil.example", moved.Proven)
	}

	// The service's own directory: one binding, by the directory key.
	own := strings.TrimPrefix(ts.URL, "http://")
	headers, body = directoryResponse(t, ts, own)
	var pubJWK map[string]string
	if err := json.Unmarshal(dirKey.JWK(), &pubJWK); err != nil {
		t.Fatal(err)
	}
	var ownGot struct {
		KeyID      string   `json:"keyid"`
		Label      string   `json:"label"`
		Components []string `json:"components"`
		Digest     bool     `json:"digest"`
	}
	RunJSON(t, map[string]any{"url": "http://" + own + deferred.WellKnownDirectoryPath, "status": 200, "headers": headers,
		"body": body, "jwk": pubJWK}, &ownGot, "directory.mjs", "verify")
	if ownGot.KeyID != dirKey.ID || ownGot.Label != "binding0" || !ownGot.Digest || strings.Join(ownGot.Components, " ") != "@authority content-digest" {
		t.Fatalf("the library verified %+v", ownGot)
	}
	for _, bad := range []map[string]any{
		{"url": "http://evil.example" + deferred.WellKnownDirectoryPath, "body": body},
		{"url": "http://" + own + deferred.WellKnownDirectoryPath, "body": body + " "},
	} {
		bad["status"], bad["headers"], bad["jwk"] = 200, headers, pubJWK
		raw, _ := json.Marshal(bad)
		if out, err := Try(t, raw, "directory.mjs", "verify"); err == nil {
			t.Fatalf("the library verified a response moved to %v: %s", bad["url"], out)
		}
	}
}
