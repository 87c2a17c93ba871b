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
			c := &deferred.DirectoryClient{Allowed: func(string) bool { return true }, AllowHTTPLoopback: true,
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

// TestCloudflareVerifiesOurHostedDirectory: the response of an operator's
// hosted directory, fetched from its own origin, verifies under the
// library's verify with the key directory's directory key (which the
// service's own well-known directory publishes, and whose proof there
// verifies too), content-digest included.
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
	priv, _ := newKey(t)
	kc.Token = su.Token
	proof, err := registry.SignProof(priv, su.Operator.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.RegisterKey(ctx, proof); err != nil {
		t.Fatal(err)
	}
	var pubJWK map[string]string
	if err := json.Unmarshal(dirKey.JWK(), &pubJWK); err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{opHost, strings.TrimPrefix(ts.URL, "http://")} {
		t.Run(host, func(t *testing.T) {
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
			var got struct {
				KeyID      string   `json:"keyid"`
				Label      string   `json:"label"`
				Components []string `json:"components"`
				Digest     bool     `json:"digest"`
			}
			RunJSON(t, map[string]any{"url": "http://" + host + deferred.WellKnownDirectoryPath, "status": 200, "headers": headers,
				"body": string(body), "jwk": pubJWK}, &got, "directory.mjs", "verify")
			if got.KeyID != dirKey.ID || got.Label != "binding0" || !got.Digest || strings.Join(got.Components, " ") != "@authority content-digest" {
				t.Fatalf("the library verified %+v", got)
			}
			// The same response served under another authority, or with
			// another body, does not verify: the library really checked.
			for _, bad := range []map[string]any{
				{"url": "http://evil.example" + deferred.WellKnownDirectoryPath, "body": string(body)},
				{"url": "http://" + host + deferred.WellKnownDirectoryPath, "body": string(body) + " "},
			} {
				bad["status"], bad["headers"], bad["jwk"] = 200, headers, pubJWK
				raw, _ := json.Marshal(bad)
				if out, err := Try(t, raw, "directory.mjs", "verify"); err == nil {
					t.Fatalf("the library verified a response moved to %v: %s", bad["url"], out)
				}
			}
		})
	}
}
