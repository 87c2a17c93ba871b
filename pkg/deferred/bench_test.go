package deferred

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"testing"

	"filippo.io/edwards25519"
	"github.com/hdevalence/ed25519consensus"
)

// BenchmarkVerify measures one full verification of a paid request: intent
// parsing, Signature-Agent parsing, signature selection, parameter and
// coverage policy, key resolution (in memory), evidence building and the
// Ed25519 check through httpsign. Compare with BenchmarkEd25519Verify.
func BenchmarkVerify(b *testing.B) {
	_, key, signer := testKey(b)
	r := httptest.NewRequest("GET", "http://news.example/articles/42?page=2", nil)
	r.Header.Set(HeaderPayment, `scheme="deferred", network="paycrawl:402", id="1800000000.10000.abcdefghijklmnopqrstuv"`)
	r.Header.Set("User-Agent", "bench-crawler/1.0")
	r.Header.Set("Accept", "text/html")
	if err := signer.Sign(r, "payment"); err != nil {
		b.Fatal(err)
	}
	v := &Verifier{Keys: staticKeys(key), Replay: &memGuard{}}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		in, err := ParseIntent(r.Header)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := v.Verify(ctx, r, "http", in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEd25519Verify is the floor: one bare ed25519.Verify of a message
// the size of a typical signature base.
func BenchmarkEd25519Verify(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 420)
	sig := ed25519.Sign(priv, msg)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("verify failed")
		}
	}
}

// BenchmarkSign measures the crawler side: one signature.
func BenchmarkSign(b *testing.B) {
	_, _, signer := testKey(b)
	r := httptest.NewRequest("GET", "http://news.example/articles/42", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := signer.Sign(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEd25519Batch is what batch verification (ed25519consensus,
// cofactored) would cost per signature, in batches the size of the load
// generator's concurrency and less. Compare with BenchmarkEd25519Verify and
// BenchmarkTorsionCheck (cofactor_test.go says why both would be needed).
func BenchmarkEd25519Batch(b *testing.B) {
	for _, n := range []int{8, 32} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			pubs, msgs, sigs := make([]ed25519.PublicKey, n), make([][]byte, n), make([][]byte, n)
			for i := range n {
				pub, priv, _ := ed25519.GenerateKey(nil)
				pubs[i], msgs[i] = pub, make([]byte, 420)
				msgs[i][0] = byte(i)
				sigs[i] = ed25519.Sign(priv, msgs[i])
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				v := ed25519consensus.NewBatchVerifier()
				for j := range n {
					v.Add(pubs[j], msgs[j], sigs[j])
				}
				if !v.Verify() {
					b.Fatal("batch refused")
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/sig")
		})
	}
}

// BenchmarkTorsionCheck is the cost of proving a signature's R free of a
// small-order component ([L]R = 0, in variable time), which would make a cofactored batch
// answer what crypto/ed25519 answers.
func BenchmarkTorsionCheck(b *testing.B) {
	_, priv, _ := ed25519.GenerateKey(nil)
	sig := ed25519.Sign(priv, []byte("m"))
	R, err := new(edwards25519.Point).SetBytes(sig[:32])
	if err != nil {
		b.Fatal(err)
	}
	// L-1, little-endian: [L]R = [L-1]R + R.
	lm1, _ := hex.DecodeString("ecd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
	s, err := edwards25519.NewScalar().SetCanonicalBytes(lm1)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		p := new(edwards25519.Point).VarTimeMultiScalarMult([]*edwards25519.Scalar{s}, []*edwards25519.Point{R})
		if p.Add(p, R).Equal(edwards25519.NewIdentityPoint()) != 1 {
			b.Fatal("R has a small-order component")
		}
	}
}
