package deferred

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dunglas/httpsfv"
)

// The fast signature base (sigbase.go) against its oracle, httpsign
// (Evidence.Verify): wherever the fast base is built, a signature over it
// must verify through httpsign (so the two bases are the same bytes), and
// the fast verdict on the evidence's own signature must equal httpsign's.

// oracleSignature parses the signature of e as the live verifier does.
func oracleSignature(t testing.TB, e *Evidence) (*parsedSignature, bool) {
	t.Helper()
	in, err := httpsfv.UnmarshalDictionary([]string{e.Label + "=" + e.SignatureInput})
	if err != nil {
		return nil, false
	}
	sigs, err := httpsfv.UnmarshalDictionary([]string{e.Label + "=" + e.Signature})
	if err != nil {
		return nil, false
	}
	m, ok := in.Get(e.Label)
	list, isList := m.(httpsfv.InnerList)
	if !ok || !isList {
		return nil, false
	}
	s, err := parseSignature(e.Label, list, sigs)
	if err != nil {
		return nil, false
	}
	return s, true
}

// checkAgainstOracle fails t when the verdicts of the fast base and of
// httpsign on e differ or, with the private key of pub, when the two bases
// differ. It reports whether the fast base was built.
func checkAgainstOracle(t testing.TB, e Evidence, pub ed25519.PublicKey, priv ed25519.PrivateKey) bool {
	t.Helper()
	s, ok := oracleSignature(t, &e)
	if !ok {
		return false
	}
	base, handled := appendSignatureBase(nil, &e, s)
	if !handled {
		return false
	}
	// The verdicts on the evidence's own signature agree.
	fast, _ := verifyFast(&e, s, pub, ed25519.Verify)
	if oracle := e.Verify(pub) == nil; fast != oracle {
		t.Fatalf("fast verdict %v, httpsign %v, for %+v\nbase:\n%s", fast, oracle, e, base)
	}
	if priv == nil {
		return true
	}
	// A signature over the fast base verifies through httpsign: the bases
	// are the same bytes.
	signed := e
	signed.Signature, _ = httpsfv.Marshal(httpsfv.NewItem(ed25519.Sign(priv, base)))
	if err := signed.Verify(pub); err != nil {
		t.Fatalf("httpsign refuses a signature over the fast base of %+v: %v\nbase:\n%s", e, err, base)
	}
	return true
}

// liveEvidence is the signature and evidence of r as Verify reads them.
func liveEvidence(t testing.TB, r *http.Request, scheme string) (*parsedSignature, Evidence) {
	t.Helper()
	sig, err := selectSignature(r.Header, DefaultTags)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := evidenceOf(r, scheme, sig)
	if err != nil {
		t.Fatal(err)
	}
	return sig, ev
}

func oracleKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func TestSignatureBaseVectors(t *testing.T) {
	pub := vectorKey(t).Public
	for _, v := range []vector{vectorA, vectorB, vectorC, vectorArch05} {
		t.Run(v.name, func(t *testing.T) {
			sig, ev := liveEvidence(t, v.request(), "https")
			base, handled := appendSignatureBase(nil, &ev, sig)
			if !handled {
				t.Fatalf("vector %s not handled by the fast base", v.name)
			}
			fast, _ := verifyFast(&ev, sig, pub, ed25519.Verify)
			if want := v != vectorArch05; fast != want {
				t.Fatalf("fast verdict %v, want %v; base:\n%s", fast, want, base)
			}
			if oracle := ev.Verify(pub) == nil; oracle != fast {
				t.Fatalf("httpsign %v, fast %v", oracle, fast)
			}
		})
	}
}

// differentialCases are evidences the fast base handles, and some it must
// leave to httpsign, over every component it derives.
func differentialCases() []struct {
	e       Evidence
	handled bool
} {
	params := `;created=1735689600;expires=1735693200;keyid="k";tag="web-bot-auth"`
	sig := ":" + strings.Repeat("A", 86) + "==:"
	hdrs := map[string]string{
		"signature-agent": `"https://signature-agent.test"`,
		"payment":         `scheme="deferred", network="n", id="abc"`,
		"dict":            `a=1, b=("x" "y");p=2, c="q"`,
		"spaced":          "  padded value ,",
		"upper":           "v",
	}
	ev := func(method, uri, input string) Evidence {
		return Evidence{Label: "sig1", Method: method, Scheme: "https", Authority: "example.com", RequestURI: uri,
			SignatureInput: input + params, Signature: sig, Headers: hdrs}
	}
	all := `("@method" "@authority" "@scheme" "@path" "@query" "@target-uri" "@request-target" "signature-agent" "payment")`
	return []struct {
		e       Evidence
		handled bool
	}{
		{ev("GET", "/", all), true},
		{ev("POST", "/a/b?x=1&y=2", all), true},
		{ev("GET", "/a%2Fb/c%20d?q=%41+b", `("@path" "@query" "@target-uri")`), true},
		{ev("GET", "/a%2Fb", `("@request-target")`), false},
		{ev("GET", "/p?", all), true},
		{ev("GET", "/p??x=/y", all), true},
		{ev("GET", "/p;v=1/x:y@z!$&'()*+,=~", all), true},
		{ev("get", "/x", `("@method")`), true},
		{ev("GET", "/x", `("dict";key="a" "dict";key="b" "dict";key="c")`), true},
		{ev("GET", "/x", `("dict";key="zz")`), false},
		{ev("GET", "/x", `("spaced" "payment")`), true},
		{ev("GET", "/x", `("missing")`), false},
		{ev("GET", "/x", `("Upper")`), false},
		{ev("GET", "/x", `("payment";sf)`), false},
		{ev("GET", "/x", `("payment";bs)`), false},
		{ev("GET", "/x?a=1", `("@query-param";name="a")`), false},
		{ev("GET", "/x", `("@status")`), false},
		{ev("GET", "/x?a;b", `("@query")`), false},
		{ev("GET", "/x y", `("@path")`), false},
		{ev("GET", "/x%zz", `("@path")`), false},
		{ev("GET", "*", `("@path")`), false},
		{ev("", "/x", `("@path")`), false},
		{ev("GET", "/x", `("@method" "@method")`), true},
		{ev("GET", "/x", `()`), true},
	}
}

func TestSignatureBaseDifferential(t *testing.T) {
	pub, priv := oracleKey(t)
	for _, c := range differentialCases() {
		t.Run(c.e.RequestURI+" "+c.e.SignatureInput, func(t *testing.T) {
			if got := checkAgainstOracle(t, c.e, pub, priv); got != c.handled {
				t.Fatalf("handled = %v, want %v", got, c.handled)
			}
		})
	}
	// Authorities: normalized ones are handled, others left to httpsign.
	for a, want := range map[string]bool{"example.com:8443": true, "[::1]:8080": true, "xn--bcher-kva.example": true, "": false, "ex%61mple.com": false, "Example.com": false} {
		e := differentialCases()[1].e
		e.Authority = a
		if got := checkAgainstOracle(t, e, pub, priv); got != want {
			t.Fatalf("authority %q: handled = %v, want %v", a, got, want)
		}
	}
}

// TestSignatureBaseSignedRequests signs real requests with the crawler's
// Signer (httpsign) and checks that the live verifier's fast path accepts
// them, and refuses them once a covered part changes.
func TestSignatureBaseSignedRequests(t *testing.T) {
	_, key, signer := testKey(t)
	for _, target := range []string{"http://news.example/", "http://news.example/articles/42?page=2", "http://NEWS.example:80/a%2Fb?q=%7E"} {
		r := httptest.NewRequest("GET", target, nil)
		r.Header.Set(HeaderPayment, `scheme="deferred", network="paycrawl:402", id="x"`)
		if err := signer.Sign(r, "payment"); err != nil {
			t.Fatal(err)
		}
		sig, ev := liveEvidence(t, r, "http")
		if ok, handled := verifyFast(&ev, sig, key.Public, ed25519.Verify); !ok || !handled {
			t.Fatalf("%s: fast verdict %v handled %v", target, ok, handled)
		}
		ev.Headers["payment"] += "x"
		if ok, _ := verifyFast(&ev, sig, key.Public, ed25519.Verify); ok {
			t.Fatalf("%s: a changed payment header verifies", target)
		}
	}
}

// FuzzSignatureBase builds evidences from hostile parts: wherever the fast
// base is built, it must be httpsign's base, with httpsign's verdict.
func FuzzSignatureBase(f *testing.F) {
	for _, c := range differentialCases() {
		e := c.e
		f.Add(e.Method, e.Authority, e.RequestURI, e.SignatureInput, "payment", e.Headers["payment"], e.Signature)
	}
	f.Add("GET", "example.com", "/path/to/resource", vectorA.input[len("sig2="):], "signature-agent", vectorA.agent, vectorA.sig[len("sig2="):])
	f.Add("GET", "example.com", "/", vectorB.input[len("sig2="):], "signature-agent", vectorB.agent, vectorB.sig[len("sig2="):])
	pub, priv := oracleKey(f)
	vpub := vectorKey(f).Public
	f.Fuzz(func(t *testing.T, method, authority, uri, input, hname, hval, sig string) {
		e := Evidence{Label: "sig2", Method: method, Scheme: "https", Authority: authority, RequestURI: uri,
			SignatureInput: input, Signature: sig,
			Headers: map[string]string{hname: hval, "signature-agent": vectorA.agent}}
		checkAgainstOracle(t, e, pub, priv)
		checkAgainstOracle(t, e, vpub, nil)
	})
}

// FuzzMarshalSF compares the direct serialization of parsed dictionary
// members with httpsfv's.
func FuzzMarshalSF(f *testing.F) {
	for _, v := range []vector{vectorA, vectorB, vectorC, vectorArch05} {
		f.Add(v.input)
		f.Add(v.sig)
	}
	f.Add(`a=("x";key="q\\"" "y";sf;bs=?0);n=-12;b=:AAE=:;t=tok;d=1.5, b=?1;x, c=(1 2 3)`)
	f.Fuzz(func(t *testing.T, field string) {
		d, err := httpsfv.UnmarshalDictionary([]string{field})
		if err != nil {
			return
		}
		for _, name := range d.Names() {
			m, _ := d.Get(name)
			want, wantErr := httpsfv.Marshal(m)
			got, err := marshalSF(m)
			if got != want || (err == nil) != (wantErr == nil) {
				t.Fatalf("%s: direct %q (%v), httpsfv %q (%v)", name, got, err, want, wantErr)
			}
		}
	})
}
