package deferred

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"testing"
)

// sigView is what a parsed signature gives the verifier, printed.
func sigView(s *parsedSignature) string {
	return fmt.Sprintf("label %q input %q value %q raw %x components %q names %q keys %q keyed %v plain %v params %+v",
		s.label, s.input, s.value, s.raw, s.components, s.names, s.keys, s.keyed, s.plain, []sigParam(s.params))
}

// checkFastSelect fails t when the fast path answers for (input, sig)
// differently from httpsfv's path, and reports whether it answered.
func checkFastSelect(t testing.TB, input, sig string, tags []string) bool {
	t.Helper()
	fast, ok := fastSelect(input, sig, tags)
	if !ok {
		return false
	}
	slow, err := selectSignatureSF([]string{input}, []string{sig}, tags)
	if err != nil {
		t.Fatalf("fast path selects %s\nhttpsfv's path: %v\ninput %q\nsignature %q", sigView(fast), err, input, sig)
	}
	if got, want := sigView(fast), sigView(slow); got != want || !bytes.Equal(fast.raw, slow.raw) {
		t.Fatalf("fast path:\n%s\nhttpsfv's path:\n%s\ninput %q\nsignature %q", got, want, input, sig)
	}
	return true
}

// What signers send is read by the fast path, and read as httpsfv reads it.
func TestFastSelectReadsWhatSignersSend(t *testing.T) {
	signed := func(sign func(r *http.Request)) (string, string) {
		r, _ := http.NewRequest("GET", "https://example.com/a?b=c", nil)
		r.Header.Set(HeaderCrawlerMaxPrice, "USD 0.05")
		sign(r)
		return r.Header.Get("Signature-Input"), r.Header.Get("Signature")
	}
	signer := vectorSigner(t)
	cases := map[string][2]string{}
	for _, v := range []vector{vectorA, vectorB, vectorC, vectorArch05} {
		cases[v.name] = [2]string{v.input, v.sig}
	}
	in, sig := signed(func(r *http.Request) {
		if err := signer.Sign(r, HeaderCrawlerMaxPrice); err != nil {
			t.Fatal(err)
		}
	})
	cases["Signer"] = [2]string{in, sig}
	cases["two signatures, the second tagged"] = [2]string{
		`a=("@method");created=1;tag="other", sig1=("@authority" "signature-agent";key="x" "x";sf);created=1;expires=2;keyid="k";tag="web-bot-auth"`,
		`a=:AAAA:, sig1=:` + vectorA.sig[len("sig2=:"):]}
	cases["members after the selected one, of any kind"] = [2]string{
		`sig1=("@authority");keyid="k";tag="web-bot-auth";n=-12;b;c=?0;t=tok, z;x, y=1, w=tok;q="s", v=()`,
		`b;x=?0, sig1=::, c=(1 "2" tok);p=3, d=:AAE=:;x`}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if !checkFastSelect(t, c[0], c[1], DefaultTags) {
				t.Errorf("the fast path declines %q / %q", c[0], c[1])
			}
		})
	}
}

// Outside its subset the fast path declines, and httpsfv's path answers
// (with the signature or its precise error).
func TestFastSelectDeclines(t *testing.T) {
	const good = `sig1=("@authority" "signature-agent");created=1;expires=2;keyid="k";tag="web-bot-auth"`
	const goodSig = `sig1=:AAAA:`
	cases := []struct{ name, input, sig string }{
		{"escaped string", `sig1=("@authority" "a\"b");keyid="k";tag="web-bot-auth"`, goodSig},
		{"leading zeros", `sig1=("@authority");created=01;tag="web-bot-auth"`, goodSig},
		{"minus zero", `sig1=("@authority");created=-0;tag="web-bot-auth"`, goodSig},
		{"decimal", `sig1=("@authority");created=1.5;tag="web-bot-auth"`, goodSig},
		{"16 digits", `sig1=("@authority");created=1234567890123456;tag="web-bot-auth"`, goodSig},
		{"=?1", `sig1=("@authority");x=?1;tag="web-bot-auth"`, goodSig},
		{"space after ;", `sig1=("@authority"); tag="web-bot-auth"`, goodSig},
		{"two spaces between items", `sig1=("@authority"  "x");tag="web-bot-auth"`, goodSig},
		{"space inside the parentheses", `sig1=( "@authority");tag="web-bot-auth"`, goodSig},
		{"space before )", `sig1=("@authority" );tag="web-bot-auth"`, goodSig},
		{"duplicate label", good + `, sig1=("@path");tag="web-bot-auth"`, goodSig},
		{"duplicate parameter", `sig1=("@authority");tag="web-bot-auth";tag="web-bot-auth"`, goodSig},
		{"duplicate signature", good, goodSig + `, sig1=:AAAA:`},
		{"not an inner list", `sig1="x", ` + good[len("sig1="):], goodSig},
		{"token component", `sig1=(tok);tag="web-bot-auth"`, goodSig},
		{"unsupported component parameter", `sig1=("@authority";req);tag="web-bot-auth"`, goodSig},
		{"no such tag", `sig1=("@authority");tag="other"`, goodSig},
		{"no such signature", good, `sig2=:AAAA:`},
		{"signature with parameters", good, `sig1=:AAAA:;x`},
		{"signature not bytes", good, `sig1="AAAA"`},
		{"non-canonical base64", good, `sig1=:AAB=:`},
		{"unpadded base64", good, `sig1=:AAE:`},
		{"byte sequence in a list", `sig1=("@authority" :AAAA:);tag="web-bot-auth"`, goodSig},
		{"date", `sig1=("@authority");tag="web-bot-auth";d=@1`, goodSig},
		{"display string", `sig1=("@authority");tag="web-bot-auth";d=%"x"`, goodSig},
		{"trailing comma", good + ",", goodSig},
		{"leading space", " " + good, goodSig},
		{"trailing space", good + " ", goodSig},
		{"empty", "", goodSig},
		{"non-ASCII", `sig1=("@authority" "é");tag="web-bot-auth"`, goodSig},
		{"upper-case key", `Sig1=("@authority");tag="web-bot-auth"`, goodSig},
		{"nine members", `a=(), b=(), c=(), d=(), e=(), f=(), g=(), h=(), ` + good, goodSig},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, ok := fastSelect(c.input, c.sig, DefaultTags); ok {
				t.Errorf("the fast path answers for %q / %q", c.input, c.sig)
			}
		})
	}
}

// The fast path reads a signature without parsing garbage: what a
// signer sends costs two allocations, the signature and its bytes.
func TestFastSelectAllocations(t *testing.T) {
	in, sig := vectorA.input, vectorA.sig
	n := testing.AllocsPerRun(100, func() {
		if _, ok := fastSelect(in, sig, DefaultTags); !ok {
			t.Fatal("declined")
		}
	})
	if n > 2 {
		t.Errorf("%v allocations per signature, want at most 2", n)
	}
}

// FuzzSelectSignature: wherever the fast path answers, its signature is
// the one httpsfv's path selects.
func FuzzSelectSignature(f *testing.F) {
	for _, v := range []vector{vectorA, vectorB, vectorC, vectorArch05} {
		f.Add(v.input, v.sig, "web-bot-auth")
	}
	f.Add(`a=("x";key="q" "y";sf;bs=?0);n=-12;b=?0;t=tok;tag="t", b=?1;x, c=(1 2 3)`, `a=:AAE=:, b=(1), c=?1;x`, "t")
	f.Add(`sig1=();tag=""`, `sig1=::`, "")
	f.Fuzz(func(t *testing.T, input, sig, tag string) {
		tags := []string{tag}
		if tag == "web-bot-auth" {
			tags = slices.Clone(DefaultTags)
		}
		checkFastSelect(t, input, sig, tags)
	})
}
