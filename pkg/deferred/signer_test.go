package deferred

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/golden"
)

// vectorPrivate is the private key of RFC 9421 B.1.4 (PROTOCOL.md §6).
func vectorPrivate(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	d, err := base64.RawURLEncoding.DecodeString("n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU")
	if err != nil {
		t.Fatal(err)
	}
	return ed25519.NewKeyFromSeed(d)
}

// vectorSigner signs with the vector key at the vectors' created time, with
// an all-zero nonce, so that its output is fixed.
func vectorSigner(t testing.TB) *Signer {
	t.Helper()
	s, err := NewSigner(vectorPrivate(t), vectorAgent)
	if err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return time.Unix(1735689600, 0) }
	s.Rand = bytes.NewReader(make([]byte, 64))
	return s
}

const zeroNonce = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="

// Our signer's output checked by a verifier written from RFC 9421 §2.5 and
// the Web Bot Auth draft, not ours: the signature base is spelled out here
// by hand and checked with crypto/ed25519 alone.
func TestSignerOutputVerifiesIndependently(t *testing.T) {
	s := vectorSigner(t)
	r := httptest.NewRequest("GET", "https://example.com/path/to/resource?q=1", nil)
	r.Header.Set(HeaderCrawlerMaxPrice, "USD 0.05")
	if err := s.Sign(r, HeaderCrawlerMaxPrice); err != nil {
		t.Fatal(err)
	}
	const (
		wantAgent = `"https://signature-agent.test"`
		params    = `("@authority" "signature-agent" "crawler-max-price");created=1735689600;expires=1735689660;keyid="poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";alg="ed25519";nonce="` + zeroNonce + `";tag="web-bot-auth"`
		base      = `"@authority": example.com` + "\n" +
			`"signature-agent": "https://signature-agent.test"` + "\n" +
			`"crawler-max-price": USD 0.05` + "\n" +
			`"@signature-params": ` + params
	)
	if got := r.Header.Get("Signature-Agent"); got != wantAgent {
		t.Errorf("Signature-Agent = %s, want the sf-string %s", got, wantAgent)
	}
	if got := r.Header.Get("Signature-Input"); got != "sig1="+params {
		t.Errorf("Signature-Input\n got %s\nwant sig1=%s", got, params)
	}
	sigField := r.Header.Get("Signature")
	b64, ok := strings.CutPrefix(sigField, "sig1=:")
	if !ok || !strings.HasSuffix(b64, ":") {
		t.Fatalf("Signature %q is not sig1=:<base64>:", sigField)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(b64, ":"))
	if err != nil {
		t.Fatal(err)
	}
	pub := vectorPrivate(t).Public().(ed25519.PublicKey)
	if !ed25519.Verify(pub, []byte(base), raw) {
		t.Fatal("the signature does not verify over the hand-written signature base")
	}
	// And our own verifier agrees.
	intent, err := ParseIntent(r.Header)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vectorVerifier(t).Verify(context.Background(), r, "https", intent); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

// The signature bases of each profile and form, pinned as golden files
// (go test ./pkg/deferred/ -run Golden -update), and each verifies.
func TestGoldenSignatureBases(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(*Signer)
		extra []string
	}{
		{"reference-string", func(*Signer) {}, []string{"payment-signature"}},
		{"strict-string", func(s *Signer) { s.Profile = ProfileStrict }, []string{"payment-signature"}},
		{"reference-dictionary", func(s *Signer) { s.AgentForm, s.AgentType = AgentDictionary, string(AgentDirectory) }, []string{"payment-signature"}},
		{"reference-unpaid", func(*Signer) {}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := vectorSigner(t)
			tt.setup(s)
			r := httptest.NewRequest("GET", "https://EXAMPLE.com:443/path/to/resource?q=1", nil)
			r.Header.Set("Payment-Signature", "eyJ4NDAyVmVyc2lvbiI6Mn0=")
			p, err := s.prepare(r, tt.extra)
			if err != nil {
				t.Fatal(err)
			}
			golden.Compare(t, "signature-base-"+tt.name+".txt", []byte(p.base))
			s.Rand = bytes.NewReader(make([]byte, 64))
			if err := s.Sign(r, tt.extra...); err != nil {
				t.Fatal(err)
			}
			v := vectorVerifier(t)
			v.Policy.Profile = s.Profile
			v.Policy.Required = nil
			var intent *Intent
			if tt.extra != nil {
				intent = &Intent{Header: "payment-signature"}
			}
			verdict, err := v.Verify(context.Background(), r, "https", intent)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if s.AgentForm == AgentDictionary && (verdict.Agent.Member != "sig1" || verdict.Agent.Kind() != AgentDirectory) {
				t.Errorf("dictionary agent read as %+v", verdict.Agent)
			}
		})
	}
}

// The dictionary form carries the type parameter and is covered by key.
func TestSignerDictionaryForm(t *testing.T) {
	s := vectorSigner(t)
	s.AgentForm, s.AgentType = AgentDictionary, string(AgentJWKS)
	r := httptest.NewRequest("GET", "https://example.com/", nil)
	if err := s.Sign(r); err != nil {
		t.Fatal(err)
	}
	if got, want := r.Header.Get("Signature-Agent"), `sig1="https://signature-agent.test";type=jwks_uri`; got != want {
		t.Fatalf("Signature-Agent = %s, want %s", got, want)
	}
	if in := r.Header.Get("Signature-Input"); !strings.Contains(in, `"signature-agent";key="sig1"`) {
		t.Fatalf("Signature-Input %s does not cover the member by key", in)
	}
}

// A payment header the request lacks cannot be covered.
func TestSignerMissingHeader(t *testing.T) {
	r := httptest.NewRequest("GET", "https://example.com/", nil)
	if err := vectorSigner(t).Sign(r, HeaderCrawlerExactPrice); err == nil {
		t.Fatal("signed over an absent header")
	}
}
