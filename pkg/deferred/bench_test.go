package deferred

import (
	"context"
	"crypto/ed25519"
	"net/http/httptest"
	"testing"
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
