package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/deferred"
)

func TestRunAgainstBareProxy(t *testing.T) {
	origin := httptest.NewServer(originHandler(512))
	t.Cleanup(origin.Close)
	u, _ := url.Parse(origin.URL)
	proxy := httptest.NewServer(bareProxy(u))
	t.Cleanup(proxy.Close)
	var out bytes.Buffer
	if err := cmdRun(context.Background(), []string{"-url", proxy.URL, "-n", "300", "-c", "8", "-json"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"200": 300`) {
		t.Fatalf("output %s", out.String())
	}
}

// Signed runs send distinct, verifiable requests: every one has its own
// path and nonce.
func TestRunSignsDistinctRequests(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	keyPath := filepath.Join(t.TempDir(), "k.jwk")
	key, err := deferred.WriteKeyFile(keyPath, priv, false)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	v := &deferred.Verifier{Keys: deferred.KeyResolverFunc(func(context.Context, string, string) (deferred.ResolvedKey, error) {
		return deferred.ResolvedKey{Key: key, Account: "op"}, nil
	})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in, err := deferred.ParseIntent(r.Header)
		if err == nil {
			_, err = v.Verify(r.Context(), r, "http", in)
		}
		mu.Lock()
		dup := seen[r.Header.Get("Signature")]
		seen[r.Header.Get("Signature")] = true
		mu.Unlock()
		if err != nil || dup {
			http.Error(w, "bad", 400)
		}
	}))
	t.Cleanup(srv.Close)
	var out bytes.Buffer
	err = cmdRun(context.Background(), []string{"-url", srv.URL, "-n", "100", "-c", "4", "-key", keyPath, "-agent", "https://crawler.example"}, &out)
	if err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
}
