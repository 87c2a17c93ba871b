package deferred

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// A request whose query is not well-formed (a bare "%") cannot be given a
// signature base: the signer refuses to sign it, and the verifier says the
// query is malformed rather than that the signature does not verify.
func TestMalformedQueryIsNamed(t *testing.T) {
	s := vectorSigner(t)
	r, _ := http.NewRequest("GET", "https://example.com/a?x=%25", nil)
	r.Host = "example.com"
	r.Header.Set(HeaderCrawlerMaxPrice, "USD 0.05")
	bad := r.Clone(context.Background())
	bad.URL.RawQuery = "%"
	if err := s.Sign(bad, HeaderCrawlerMaxPrice); err == nil {
		t.Fatal("the signer signed a request whose query cannot be parsed")
	}
	if err := s.Sign(r, HeaderCrawlerMaxPrice); err != nil {
		t.Fatal(err)
	}
	r.URL.RawQuery = "%" // changed after signing
	v := vectorVerifier(t)
	_, err := v.Verify(context.Background(), r, "https", &Intent{Header: HeaderCrawlerMaxPrice})
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeSignatureMalformed || !strings.Contains(e.Message, "query") {
		t.Fatalf("malformed query: %v, want signature_malformed naming the query", err)
	}
}
