package deferred

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"net/http/httptest"
	"testing"

	"filippo.io/edwards25519"
	"github.com/dunglas/httpsfv"
	"github.com/hdevalence/ed25519consensus"
)

// Request signatures are verified one by one with crypto/ed25519, which is
// cofactorless: it accepts a signature (R, S) only when [S]B = R + [k]A
// exactly. Batch verification (ed25519consensus, ZIP 215) is cofactored: it
// checks [8]([S]B - R - [k]A) = 0, and so also accepts what the key's owner
// crafts with a small-order component in R or A. The gateway stays
// cofactorless, because the ledger's offline re-verification of a
// commitment (Evidence.Verify, httpsign, the finance audit) is: a crawler
// must not be able to buy pages with signatures that the audit would later
// refuse as never made. Checking that R and A have no small-order component
// would make the two agree, but costs a scalar multiplication per signature,
// more than batching saves (BenchmarkEd25519Batch, BENCHMARKS.md).

// smallOrder is a point of order 8 (RFC 8032 test lists, ZIP 215).
var smallOrder = mustPoint("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")

func mustPoint(h string) *edwards25519.Point {
	b, _ := hex.DecodeString(h)
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		panic(err)
	}
	return p
}

// torsionSignature signs msg with priv like Ed25519 does, except that R
// carries the small-order point: valid under the cofactored equation only.
func torsionSignature(t *testing.T, priv ed25519.PrivateKey, msg []byte) []byte {
	t.Helper()
	h := sha512.Sum512(priv.Seed())
	a, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		t.Fatal(err)
	}
	var rb [64]byte
	_, _ = rand.Read(rb[:])
	r, _ := edwards25519.NewScalar().SetUniformBytes(rb[:])
	R := new(edwards25519.Point).ScalarBaseMult(r)
	R.Add(R, smallOrder)
	kh := sha512.New()
	kh.Write(R.Bytes())
	kh.Write(priv.Public().(ed25519.PublicKey))
	kh.Write(msg)
	k, _ := edwards25519.NewScalar().SetUniformBytes(kh.Sum(nil))
	S := edwards25519.NewScalar().MultiplyAdd(k, a, r)
	return append(R.Bytes(), S.Bytes()...)
}

func TestSmallOrderSignatureRefusedCofactorless(t *testing.T) {
	priv, key, signer := testKey(t)
	r := httptest.NewRequest("GET", "http://news.example/articles/1", nil)
	r.Header.Set(HeaderPayment, `scheme="deferred", network="paycrawl:402", id="x"`)
	if err := signer.Sign(r, "payment"); err != nil {
		t.Fatal(err)
	}
	sig, ev := liveEvidence(t, r, "http")
	base, handled := appendSignatureBase(nil, &ev, sig)
	if !handled {
		t.Fatal("fast base not built")
	}
	crafted := torsionSignature(t, priv, base)
	value, _ := httpsfv.Marshal(httpsfv.NewItem(crafted))

	// The cofactored check (what a batch would answer) accepts it…
	if !ed25519consensus.Verify(key.Public, base, crafted) {
		t.Fatal("the cofactored check refuses the crafted signature: the test crafts it wrong")
	}
	// …and so does a batch of it with a good one.
	bv := ed25519consensus.NewBatchVerifier()
	bv.Add(key.Public, base, crafted)
	bv.Add(key.Public, base, sig.raw)
	if !bv.Verify() {
		t.Fatal("the batch refuses the crafted signature")
	}
	// The cofactorless check, the live verifier and the offline one refuse it.
	if ed25519.Verify(key.Public, base, crafted) {
		t.Fatal("crypto/ed25519 accepts a small-order R")
	}
	r.Header.Set("Signature", sig.label+"="+value)
	v := &Verifier{Keys: staticKeys(key)}
	if _, err := v.Verify(context.Background(), r, "http", nil); CodeOf(err) != CodeSignatureInvalid {
		t.Fatalf("Verify: %v, want %s", err, CodeSignatureInvalid)
	}
	ev.Signature = value
	if err := ev.Verify(key.Public); err == nil {
		t.Fatal("the offline check (httpsign) accepts a small-order R")
	}
	// The genuine signature passes every check.
	if !ed25519consensus.Verify(key.Public, base, sig.raw) || !ed25519.Verify(key.Public, base, sig.raw) {
		t.Fatal("the genuine signature is refused")
	}
}
