package paywall

import (
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/deferred"
)

func TestCanonicalPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/a": true, "/a/": true, "/a/b.html": true, "/.well-known/x": true, "/a..b/": true,
		"": false, "a": false, "//": false, "/a//b": false, "/./a": false, "/a/.": false, "/a/..": false,
		"/../a": false, "/a/./": false, "/a/../": false, "//a": false,
		"/a\\b": false, "/a;b": false, "/a\x00b": false, "/a\tb": false, "/a\x7f": false, "/é": true,
	} {
		if got := canonicalPath(p); got != want {
			t.Errorf("canonicalPath(%q) = %v, want %v", p, got, want)
		}
	}
}

// FuzzCanonicalPath: canonicalPath is its definition: an absolute path
// that cleanPath leaves as it is, without a character origins rewrite.
func FuzzCanonicalPath(f *testing.F) {
	for _, p := range []string{"/", "/a/b/", "//", "/a/./b", "/a/../", "/.", "x/", "/a\\..\\b", "/a;b/"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		want := p != "" && p[0] == '/' && !strings.ContainsFunc(p, rewrittenByOrigins) && cleanPath(p) == p
		if got := canonicalPath(p); got != want {
			t.Fatalf("canonicalPath(%q) = %v, cleanPath gives %q", p, got, cleanPath(p))
		}
	})
}

// A key's JWK is remembered by its public key, and never given for another
// key id.
func TestJWKsOf(t *testing.T) {
	var j jwks
	pub := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	k := deferred.Key{ID: "kid-1", Public: pub}
	if got := j.of(k); got != string(k.JWK()) {
		t.Errorf("jwk %s, want %s", got, k.JWK())
	}
	other := deferred.Key{ID: "kid-2", Public: pub}
	if got := j.of(other); got != string(other.JWK()) {
		t.Errorf("jwk of another id %s, want %s", got, other.JWK())
	}
	if n := testing.AllocsPerRun(100, func() { j.of(other) }); n != 0 {
		t.Errorf("%v allocations for a known key", n)
	}
}
