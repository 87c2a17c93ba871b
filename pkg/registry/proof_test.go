package registry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/deferred"
)

const testOp = "op_abcdefghijklmnop"

func TestProofMessageIsTheDocumentedFormat(t *testing.T) {
	got := string(ProofMessage(testOp, "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U", 1735689600))
	want := "paycrawl-key-registration:v1:op_abcdefghijklmnop:poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U:1735689600"
	if got != want {
		t.Fatalf("ProofMessage = %q, want %q", got, want)
	}
	op, kid, ts, err := ParseProofMessage([]byte(got))
	if err != nil || op != testOp || kid != "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U" || ts != 1735689600 {
		t.Fatalf("ParseProofMessage = %q %q %d %v", op, kid, ts, err)
	}
}

func TestParseProofMessageRefusesMalformed(t *testing.T) {
	kid := "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U"
	for _, in := range []string{
		"",
		"paycrawl-key-registration:v2:" + testOp + ":" + kid + ":1",
		"paycrawl-key-registration:v1:" + testOp + ":" + kid,
		"paycrawl-key-registration:v1:" + testOp + ":" + kid + ":1:2",
		"paycrawl-key-registration:v1:op_short:" + kid + ":1",
		"paycrawl-key-registration:v1:" + testOp + ":short:1",
		"paycrawl-key-registration:v1:" + testOp + ":" + kid + ":-1",
		"paycrawl-key-registration:v1:" + testOp + ":" + kid + ":01",
		"paycrawl-key-registration:v1:" + testOp + ":" + kid + ":1e9",
		"paycrawl-key-registration:v1:" + testOp + ":" + kid + ":",
	} {
		if _, _, _, err := ParseProofMessage([]byte(in)); err == nil {
			t.Errorf("ParseProofMessage(%q) accepted", in)
		}
	}
}

func TestProofVerify(t *testing.T) {
	now := time.Unix(1_750_000_000, 0)
	priv := newPriv(t)
	other := newPriv(t)
	good, err := SignProof(priv, testOp, now)
	if err != nil {
		t.Fatal(err)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecJWK, _ := json.Marshal(map[string]string{"kty": "EC", "crv": "P-256",
		"x": base64.RawURLEncoding.EncodeToString(ec.X.FillBytes(make([]byte, 32))),
		"y": base64.RawURLEncoding.EncodeToString(ec.Y.FillBytes(make([]byte, 32)))})
	privJWK, _ := json.Marshal(map[string]string{"kty": "OKP", "crv": "Ed25519", "x": "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs", "d": "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU"})
	with := func(f func(p *Proof)) Proof { p := good; f(&p); return p }
	tests := []struct {
		name  string
		proof Proof
		op    string
		at    time.Time
		want  error
	}{
		{"valid", good, testOp, now, nil},
		{"valid 5 minutes later", good, testOp, now.Add(ProofWindow), nil},
		{"valid, url-safe unpadded signature", with(func(p *Proof) {
			b, _ := base64.StdEncoding.DecodeString(p.Signature)
			p.Signature = base64.RawURLEncoding.EncodeToString(b)
		}), testOp, now, nil},
		{"stale", good, testOp, now.Add(ProofWindow + time.Second), ErrBadProof},
		{"from the future", good, testOp, now.Add(-ProofWindow - time.Second), ErrBadProof},
		{"for another operator", good, "op_bbbbbbbbbbbbbbbb", now, ErrBadProof},
		{"signed by another key", with(func(p *Proof) { p.JWK = mustNewKey(t, other).JWK() }), testOp, now, ErrBadProof},
		{"timestamp changed", with(func(p *Proof) { p.Timestamp++ }), testOp, now, ErrBadProof},
		{"signature not base64", with(func(p *Proof) { p.Signature = "!!" }), testOp, now, ErrBadProof},
		{"signature too short", with(func(p *Proof) { p.Signature = "AAAA" }), testOp, now, ErrBadProof},
		{"no JWK", with(func(p *Proof) { p.JWK = nil }), testOp, now, ErrInvalidJWK},
		{"JWK not an object", with(func(p *Proof) { p.JWK = json.RawMessage(`"OKP"`) }), testOp, now, ErrInvalidJWK},
		{"JWK without kty", with(func(p *Proof) { p.JWK = json.RawMessage(`{"crv":"Ed25519","x":"AA"}`) }), testOp, now, ErrInvalidJWK},
		{"JWK with a bad x", with(func(p *Proof) { p.JWK = json.RawMessage(`{"kty":"OKP","crv":"Ed25519","x":"AAAA"}`) }), testOp, now, ErrInvalidJWK},
		{"private JWK", with(func(p *Proof) { p.JWK = privJWK }), testOp, now, ErrInvalidJWK},
		{"EC P-256 key", with(func(p *Proof) { p.JWK = ecJWK }), testOp, now, ErrNotEd25519},
		{"RSA key", with(func(p *Proof) { p.JWK = json.RawMessage(`{"kty":"RSA","n":"AQAB","e":"AQAB"}`) }), testOp, now, ErrNotEd25519},
		{"X25519 key", with(func(p *Proof) {
			p.JWK = json.RawMessage(`{"kty":"OKP","crv":"X25519","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"}`)
		}), testOp, now, ErrNotEd25519},
		{"oversized JWK", with(func(p *Proof) { p.JWK = json.RawMessage(`{"kty":"OKP","pad":"` + strings.Repeat("a", 5000) + `"}`) }), testOp, now, ErrInvalidJWK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := tt.proof.Verify(tt.op, tt.at)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if want := mustNewKey(t, priv).ID; k.ID != want {
					t.Fatalf("keyid %s, want %s", k.ID, want)
				}
				return
			}
			wantErr(t, err, tt.want)
		})
	}
}

func mustNewKey(t testing.TB, priv []byte) deferred.Key {
	t.Helper()
	k, err := deferred.NewKey(priv[32:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// FuzzParseProofMessage: whatever parses is rebuilt byte for byte by
// ProofMessage, and nothing panics.
func FuzzParseProofMessage(f *testing.F) {
	f.Add([]byte("paycrawl-key-registration:v1:op_abcdefghijklmnop:poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U:1735689600"))
	f.Add([]byte("paycrawl-key-registration:v1:op_:x:0"))
	f.Add([]byte("paycrawl-key-registration:v1::::"))
	f.Fuzz(func(t *testing.T, b []byte) {
		op, kid, ts, err := ParseProofMessage(b)
		if err != nil {
			return
		}
		if got := ProofMessage(op, kid, ts); string(got) != string(b) {
			t.Fatalf("round trip: %q became %q", b, got)
		}
	})
}

// FuzzProofVerify: arbitrary proofs never panic and never verify.
func FuzzProofVerify(f *testing.F) {
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"}`), int64(1_750_000_000), "AAAA")
	f.Add([]byte(`{"kty":"EC"}`), int64(0), "")
	f.Fuzz(func(t *testing.T, jwk []byte, ts int64, sig string) {
		if _, err := (Proof{JWK: jwk, Timestamp: ts, Signature: sig}).Verify(testOp, time.Unix(1_750_000_000, 0)); err == nil {
			t.Fatalf("a fuzzed proof verified: %s %d %q", jwk, ts, sig)
		}
	})
}
