package deferred

import (
	"crypto/ed25519"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestDirectoryProofLabels: SignDirectoryProofs labels its signatures
// binding<i> by default and after DirectoryProof.Label otherwise; the
// label is not part of the signature base (RFC 9421 §2.5), so proofs
// verify under any label, and a signature by a key the directory does not
// list proves none of its keys under any policy's rule.
func TestDirectoryProofLabels(t *testing.T) {
	keyOf := func(seed byte) (ed25519.PrivateKey, Key) {
		priv := ed25519.NewKeyFromSeed([]byte(strings.Repeat(string(rune(seed)), ed25519.SeedSize)))
		k, err := NewKey(priv.Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		return priv, k
	}
	p1, k1 := keyOf('a')
	p2, k2 := keyOf('b')
	outsider, _ := keyOf('c')
	now := time.Now()
	body := []byte(`{"keys":[` + string(k1.JWK()) + `,` + string(k2.JWK()) + `]}`)
	u := &url.URL{Scheme: "https", Host: "op-x.agents.example", Path: WellKnownDirectoryPath}
	for _, tt := range []struct {
		label  string
		signer []ed25519.PrivateKey
		labels []string
		valid  []string
	}{
		{"", []ed25519.PrivateKey{p1, p2}, []string{"binding0", "binding1"}, []string{k1.ID, k2.ID}},
		{"proof", []ed25519.PrivateKey{p1, p2}, []string{"proof", "proof1"}, []string{k1.ID, k2.ID}},
		{"keydirectory", []ed25519.PrivateKey{outsider}, []string{"keydirectory"}, nil},
	} {
		t.Run("label "+tt.label, func(t *testing.T) {
			h := http.Header{}
			if err := SignDirectoryProofs(h, body, tt.signer, DirectoryProof{Authority: u.Host, Created: now, Expires: now.Add(time.Hour), NoDigest: true, Label: tt.label}); err != nil {
				t.Fatal(err)
			}
			for i, l := range tt.labels {
				if ProofLabel(tt.label, i) != l || !strings.Contains(h.Get("Signature-Input"), l+`=("@authority";req);created=`) {
					t.Fatalf("label %d: %q in %q, want %s", i, ProofLabel(tt.label, i), h.Get("Signature-Input"), l)
				}
			}
			pr := checkProofs(h, body, u, []Key{k1, k2}, now, proofSkew)
			if len(pr.valid) != len(tt.valid) || len(pr.invalid) != 0 {
				t.Fatalf("valid %v invalid %v, want valid %v (%v)", pr.valid, pr.invalid, tt.valid, pr.problems)
			}
			for _, id := range tt.valid {
				if !pr.valid[id] {
					t.Fatalf("%s not proven: %v", id, pr.problems)
				}
			}
			for _, p := range []ProofPolicy{ProofRequired, ProofIfSigned} {
				if tt.valid == nil && p == ProofRequired && (pr.use(p, k1.ID) || pr.use(p, k2.ID)) {
					t.Fatalf("%s uses a key proven only by an outsider", p)
				}
			}
			// Relabelled, the same signatures still verify.
			rl := http.Header{}
			rl.Set("Signature-Input", strings.ReplaceAll(h.Get("Signature-Input"), tt.labels[0]+"=", "relabelled="))
			rl.Set("Signature", strings.ReplaceAll(h.Get("Signature"), tt.labels[0]+"=", "relabelled="))
			if got := checkProofs(rl, body, u, []Key{k1, k2}, now, proofSkew); len(got.valid) != len(tt.valid) {
				t.Fatalf("relabelled: valid %v, want %v (%v)", got.valid, tt.valid, got.problems)
			}
		})
	}
}
