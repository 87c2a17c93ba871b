package deferred

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/dunglas/httpsfv"
)

func TestHeaderValues(t *testing.T) {
	h := http.Header{}
	h.Add("crawler-max-price", "USD 1")
	h.Add("Payment-Signature", "x")
	h["lower key"] = []string{"kept as is"}
	for _, name := range []string{"crawler-max-price", "CRAWLER-MAX-PRICE", "payment-signature", "PAYMENT-SIGNATURE",
		"lower key", "missing", "", "a-", "-a", "x_y", "\xe9"} {
		if got, want := headerValues(h, name), h.Values(name); !slices.Equal(got, want) {
			t.Errorf("headerValues(%q) = %q, h.Values %q", name, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { headerValues(h, "crawler-max-price") }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// FuzzHeaderValues: headerValues is h.Values, whatever the names.
func FuzzHeaderValues(f *testing.F) {
	f.Add("crawler-max-price", "Crawler-Max-Price")
	f.Add("a b", "a b")
	f.Fuzz(func(t *testing.T, name, key string) {
		h := http.Header{}
		h.Add(key, "added")
		h[key] = append(h[key], "raw")
		if got, want := headerValues(h, name), h.Values(name); !slices.Equal(got, want) {
			t.Fatalf("headerValues(%q) = %q, h.Values %q", name, got, want)
		}
	})
}

// ReplayIDs is its definition, for short and long nonces, with and without.
func TestReplayIDsDefinition(t *testing.T) {
	id := func(prefix string, in []byte) string {
		sum := sha256.Sum256(in)
		return prefix + base64.RawURLEncoding.EncodeToString(sum[:16])
	}
	sig := []byte("signature bytes")
	for _, nonce := range []string{"", "n", strings.Repeat("x", 600)} {
		want := []string{id("s:", sig)}
		if nonce != "" {
			want = append([]string{id("n:", []byte("key\x00"+nonce))}, want...)
		}
		if got := ReplayIDs("key", nonce, sig); !slices.Equal(got, want) {
			t.Errorf("nonce of %d bytes: %q, want %q", len(nonce), got, want)
		}
	}
	if got := SignatureID(sig); got != id("s:", sig) {
		t.Errorf("SignatureID %q", got)
	}
}

// FuzzPlainSFString: where plainSFString reads a value, httpsfv reads the
// same string.
func FuzzPlainSFString(f *testing.F) {
	for _, v := range []string{`"https://a.example"`, `"a\"b"`, `""`, `"x";p`, ` "x"`, `"é"`} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		s, ok := plainSFString(v)
		if !ok {
			return
		}
		item, err := httpsfv.UnmarshalItem([]string{v})
		if err != nil || item.Value != s || len(item.Params.Names()) != 0 {
			t.Fatalf("plainSFString(%q) = %q, httpsfv %+v (%v)", v, s, item, err)
		}
	})
}
