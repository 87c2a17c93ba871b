package registry

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/yaronf/httpsign"
)

// testDirKey is a fixed Ed25519 key for the directory proof tests.
func testDirKey(t *testing.T) (ed25519.PrivateKey, deferred.Key) {
	t.Helper()
	priv := ed25519.NewKeyFromSeed([]byte(strings.Repeat("d", ed25519.SeedSize)))
	k, err := deferred.NewKey(priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return priv, k
}

// TestDirectoryProofSignatureBaseByHand: the signature is over the base
// RFC 9421 §2.5 builds for Cloudflare's directoryResponseHeaders shape
// without content-digest, written out here by hand.
func TestDirectoryProofSignatureBaseByHand(t *testing.T) {
	priv, k := testDirKey(t)
	created, expires := time.Unix(1735689600, 0), time.Unix(1767225600, 0)
	p, err := SignDirectoryProof(priv, "op-abc.Agents.Example", created, expires)
	if err != nil {
		t.Fatal(err)
	}
	want := `"@authority";req: op-abc.agents.example` + "\n" +
		`"@signature-params": ("@authority";req);created=1735689600;keyid="` + k.ID + `";alg="ed25519";expires=1767225600;tag="http-message-signatures-directory"`
	sig, _ := base64.StdEncoding.DecodeString(p.Signature)
	if !ed25519.Verify(k.Public, []byte(want), sig) {
		t.Fatalf("the signature is not over the base\n%s", want)
	}
	if p.Authority != "op-abc.agents.example" || "\"@signature-params\": "+p.Params(k.ID) != want[strings.Index(want, "\n")+1:] {
		t.Fatalf("proof %+v, params %s", p, p.Params(k.ID))
	}
}

// TestDirectoryProofVerifiesUnderAnyLabel: an independent RFC 9421
// verifier (yaronf/httpsign) verifies the proof as a response signature
// for GET https://<authority>/.well-known/http-message-signatures-directory
// under the label Cloudflare's library gives it and under any other, since
// the label is not part of the signature base (RFC 9421 §2.5, §7.2.5); not
// under another authority.
func TestDirectoryProofVerifiesUnderAnyLabel(t *testing.T) {
	priv, k := testDirKey(t)
	now := time.Now()
	p, err := SignDirectoryProof(priv, "op-abc.agents.example", now, now.Add(DefaultDirectoryProofValidity))
	if err != nil {
		t.Fatal(err)
	}
	verify := func(label, authority string) error {
		h := http.Header{}
		h.Set("Signature-Input", label+"="+p.Params(k.ID))
		h.Set("Signature", label+"=:"+p.SignatureValue()+":")
		u := &url.URL{Scheme: "https", Host: authority, Path: deferred.WellKnownDirectoryPath}
		msg, err := httpsign.NewMessage(httpsign.NewMessageConfig().WithStatusCode(http.StatusOK).WithHeaders(h).
			WithAssociatedRequest(http.MethodGet, u, http.Header{}, authority, "https"))
		if err != nil {
			return err
		}
		v, err := httpsign.NewEd25519Verifier(k.Public, httpsign.NewVerifyConfig().SetVerifyCreated(false).SetRejectExpired(false), *httpsign.NewFields())
		if err != nil {
			return err
		}
		_, err = msg.Verify(label, *v)
		return err
	}
	for _, tt := range []struct {
		label, authority string
		ok               bool
	}{
		{"binding0", "op-abc.agents.example", true},
		{"binding7", "op-abc.agents.example", true},
		{"sig1", "op-abc.agents.example", true},
		{"binding0", "op-xyz.agents.example", false},
	} {
		if err := verify(tt.label, tt.authority); (err == nil) != tt.ok {
			t.Errorf("label %s, authority %s: %v, want ok=%v", tt.label, tt.authority, err, tt.ok)
		}
	}
}

// TestDirectoryProofVerify: Verify accepts the key's own current proof for
// the authority and refuses every other, each with its sentinel.
func TestDirectoryProofVerify(t *testing.T) {
	priv, k := testDirKey(t)
	other := ed25519.NewKeyFromSeed([]byte(strings.Repeat("o", ed25519.SeedSize)))
	const authority = "op-abc.agents.example"
	now := time.Unix(1800000000, 0)
	sign := func(priv ed25519.PrivateKey, authority string, created, expires time.Time) DirectoryProof {
		p, err := SignDirectoryProof(priv, authority, created, expires)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := sign(priv, authority, now, now.Add(DefaultDirectoryProofValidity))
	for _, tt := range []struct {
		name string
		p    DirectoryProof
		want error
	}{
		{"good", good, nil},
		{"good, authority omitted", func() DirectoryProof { p := good; p.Authority = ""; return p }(), nil},
		{"good, upper-case authority", func() DirectoryProof { p := good; p.Authority = strings.ToUpper(authority); return p }(), nil},
		{"good, URL-safe base64", func() DirectoryProof {
			p := good
			sig, _ := base64.StdEncoding.DecodeString(p.Signature)
			p.Signature = base64.RawURLEncoding.EncodeToString(sig)
			return p
		}(), nil},
		{"created inside the skew", sign(priv, authority, now.Add(DirectoryProofSkew), now.Add(time.Hour)), nil},
		{"another authority, named", sign(priv, "op-xyz.agents.example", now, now.Add(time.Hour)), ErrDirectoryProofAuthority},
		{"another authority, unnamed", func() DirectoryProof {
			p := sign(priv, "op-xyz.agents.example", now, now.Add(time.Hour))
			p.Authority = ""
			return p
		}(), ErrBadDirectoryProof},
		{"another key", sign(other, authority, now, now.Add(time.Hour)), ErrBadDirectoryProof},
		{"expired", sign(priv, authority, now.Add(-2*time.Hour), now), ErrDirectoryProofExpired},
		{"created beyond the skew", sign(priv, authority, now.Add(DirectoryProofSkew+time.Second), now.Add(time.Hour)), ErrBadDirectoryProof},
		{"valid too long", sign(priv, authority, now, now.Add(MaxDirectoryProofValidity+time.Second)), ErrBadDirectoryProof},
		{"zero times", DirectoryProof{Signature: good.Signature}, ErrBadDirectoryProof},
		{"expires moved", func() DirectoryProof { p := good; p.Expires++; return p }(), ErrBadDirectoryProof},
		{"no signature", func() DirectoryProof { p := good; p.Signature = ""; return p }(), ErrBadDirectoryProof},
		{"short signature", func() DirectoryProof { p := good; p.Signature = "AAAA"; return p }(), ErrBadDirectoryProof},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Verify(k, authority, now)
			if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestDirectoryAuthorityOf: the authority of a hosted agent URL is its
// host[:port], lower case, default port dropped.
func TestDirectoryAuthorityOf(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"https://op-abc.agents.example", "op-abc.agents.example"},
		{"https://op-abc.agents.example:443", "op-abc.agents.example"},
		{"http://op-abc.localhost:8403", "op-abc.localhost:8403"},
		{"https://keys.example/agents/op_abcdefghijklmnop", "keys.example"},
		{"HTTPS://Keys.Example/agents/x", "keys.example"},
		{"ftp://keys.example", ""},
		{"not a url", ""},
	} {
		got, err := DirectoryAuthorityOf(tt.in)
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("DirectoryAuthorityOf(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// FuzzDirectoryProofVerify: any JSON body of POST
// /v1/keys/{keyid}/directory-proof is refused with one of the three
// sentinels or accepted only when it really is the key's own proof, and
// never panics.
func FuzzDirectoryProofVerify(f *testing.F) {
	priv := ed25519.NewKeyFromSeed([]byte(strings.Repeat("d", ed25519.SeedSize)))
	k, _ := deferred.NewKey(priv.Public().(ed25519.PublicKey))
	const authority = "op-abc.agents.example"
	now := time.Unix(1800000000, 0)
	good, _ := SignDirectoryProof(priv, authority, now, now.Add(time.Hour))
	raw, _ := json.Marshal(good)
	f.Add(raw)
	f.Add([]byte(`{"created":1,"expires":9223372036854775807,"signature":"AAAA"}`))
	f.Add([]byte(`{"authority":"x","created":-1,"expires":0}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p DirectoryProof
		if json.Unmarshal(b, &p) != nil {
			return
		}
		err := p.Verify(k, authority, now)
		if err == nil {
			sig, _ := decodeDirectorySignature(p.Signature)
			if !ed25519.Verify(k.Public, deferred.DirectoryProofBase(authority, p.Params(k.ID), ""), sig) {
				t.Fatalf("accepted a proof that does not verify: %+v", p)
			}
			return
		}
		if !errors.Is(err, ErrBadDirectoryProof) && !errors.Is(err, ErrDirectoryProofAuthority) && !errors.Is(err, ErrDirectoryProofExpired) {
			t.Fatalf("error %v wraps no directory proof sentinel", err)
		}
	})
}
