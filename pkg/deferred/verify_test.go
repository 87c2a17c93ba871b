package deferred

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/yaronf/httpsign"
)

// customSign signs r with httpsign directly, for signatures our Signer would
// never make.
func customSign(t *testing.T, r *http.Request, priv ed25519.PrivateKey, cfg *httpsign.SignConfig, fields *httpsign.Fields) {
	t.Helper()
	r.Header.Set("Signature-Agent", `agent1="`+testAgent+`"`)
	signer, err := httpsign.NewEd25519Signer(priv, cfg, *fields)
	if err != nil {
		t.Fatal(err)
	}
	view := *r
	view.Host = NormalizeAuthority(r.Host, "http")
	in, sig, err := httpsign.SignRequest("sig1", *signer, &view)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Signature-Input", in)
	r.Header.Set("Signature", sig)
}

func stdFields() *httpsign.Fields {
	return httpsign.NewFields().AddHeaders("@authority", "@path").AddDictHeader("signature-agent", "agent1")
}

func TestVerifyAccepts(t *testing.T) {
	_, key, signer := testKey(t)
	r := httptest.NewRequest("GET", "http://news.example/a/b?x=1", nil)
	r.Header.Set(HeaderCrawlerMaxPrice, "USD 0.05")
	if err := signer.Sign(r, HeaderCrawlerMaxPrice); err != nil {
		t.Fatal(err)
	}
	intent, err := ParseIntent(r.Header)
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Keys: staticKeys(key), Replay: &memGuard{}}
	verdict, err := v.Verify(context.Background(), r, "http", intent)
	if err != nil {
		t.Fatal(err)
	}
	if verdict.Key.Account != "op_1" || verdict.Agent.URL != testAgent || verdict.Agent.Member != "" ||
		verdict.Nonce == "" || len(verdict.ReplayIDs) != 2 || verdict.Expires.Sub(verdict.Created) != time.Minute {
		t.Fatalf("verdict = %+v", verdict)
	}
	if got := verdict.Evidence.Headers[HeaderCrawlerMaxPrice]; got != "USD 0.05" {
		t.Fatalf("evidence lacks the covered price header: %v", verdict.Evidence.Headers)
	}
	if err := verdict.Evidence.Verify(key.Public); err != nil {
		t.Fatalf("evidence does not verify offline: %v", err)
	}
	// Tampered evidence does not verify.
	ev := verdict.Evidence
	ev.Headers = map[string]string{"signature-agent": ev.Headers["signature-agent"], HeaderCrawlerMaxPrice: "USD 5.00"}
	if err := ev.Verify(key.Public); err == nil {
		t.Fatal("evidence with a changed price verified")
	}
}

func TestVerifyRejects(t *testing.T) {
	priv, key, signer := testKey(t)
	_, _, otherSigner := testKey(t)
	now := time.Now()
	type setup struct {
		req      *http.Request
		verifier *Verifier
		intent   *Intent
	}
	base := func() setup {
		return setup{
			req:      httptest.NewRequest("GET", "http://news.example/article", nil),
			verifier: &Verifier{Keys: staticKeys(key), Replay: &memGuard{}},
		}
	}
	sign := func(s setup) setup {
		if err := signer.Sign(s.req); err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name string
		make func() setup
		want Code
	}{
		{"unsigned", base, CodeSignatureRequired},
		{"bad signature", func() setup {
			s := sign(base())
			sig, err := selectSignature(s.req.Header, DefaultTags)
			if err != nil {
				t.Fatal(err)
			}
			sig.raw[0] ^= 0x01
			s.req.Header.Set("Signature", "sig1=:"+base64.StdEncoding.EncodeToString(sig.raw)+":")
			return s
		}, CodeSignatureInvalid},
		{"sent to another host after signing", func() setup {
			s := sign(base())
			s.req.Host = "other.example"
			return s
		}, CodeSignatureInvalid},
		{"strict signature sent to another path", func() setup {
			s := base()
			strict := *signer
			strict.Profile = ProfileStrict
			if err := strict.Sign(s.req); err != nil {
				t.Fatal(err)
			}
			s.req.URL.Path = "/another-article"
			return s
		}, CodeSignatureInvalid},
		{"wrong tag", func() setup {
			s := base()
			customSign(t, s.req, priv, httpsign.NewSignConfig().SetTag("other").SetKeyID(key.ID).SetExpiresAfter(60), stdFields())
			return s
		}, CodeWrongTag},
		{"missing expires", func() setup {
			s := base()
			customSign(t, s.req, priv, httpsign.NewSignConfig().SetTag(TagWebBotAuth).SetKeyID(key.ID), stdFields())
			return s
		}, CodeParamMissing},
		{"missing created", func() setup {
			s := base()
			customSign(t, s.req, priv, httpsign.NewSignConfig().SignCreated(false).SetTag(TagWebBotAuth).SetKeyID(key.ID).SetExpires(now.Add(time.Minute).Unix()), stdFields())
			return s
		}, CodeParamMissing},
		{"missing keyid", func() setup {
			s := base()
			customSign(t, s.req, priv, httpsign.NewSignConfig().SetTag(TagWebBotAuth).SetExpiresAfter(60), stdFields())
			return s
		}, CodeParamMissing},
		{"expired", func() setup {
			s := sign(base())
			s.verifier.Now = func() time.Time { return now.Add(2 * time.Minute) }
			return s
		}, CodeSignatureExpired},
		{"created in the future", func() setup {
			s := sign(base())
			s.verifier.Now = func() time.Time { return now.Add(-5 * time.Minute) }
			return s
		}, CodeSignatureNotYetValid},
		{"validity too long", func() setup {
			s := base()
			long := *signer
			long.Validity = 25 * time.Hour
			if err := long.Sign(s.req); err != nil {
				t.Fatal(err)
			}
			return s
		}, CodeValidityTooLong},
		{"unknown keyid", func() setup {
			s := base()
			if err := otherSigner.Sign(s.req); err != nil {
				t.Fatal(err)
			}
			return s
		}, CodeUnknownKey},
		{"unknown agent", func() setup {
			s := base()
			stranger, err := NewSigner(priv, "https://stranger.example")
			if err != nil {
				t.Fatal(err)
			}
			if err := stranger.Sign(s.req); err != nil {
				t.Fatal(err)
			}
			return s
		}, CodeAgentUnknown},
		{"@path not covered by a payment, strict profile", func() setup {
			s := base()
			s.verifier.Policy.Profile = ProfileStrict
			s.req.Header.Set(HeaderCrawlerMaxPrice, "USD 0.05")
			customSign(t, s.req, priv, httpsign.NewSignConfig().SetTag(TagWebBotAuth).SetKeyID(key.ID).SetExpiresAfter(60),
				httpsign.NewFields().AddHeaders("@authority").AddDictHeader("signature-agent", "agent1").AddHeader(HeaderCrawlerMaxPrice))
			s.intent, _ = ParseIntent(s.req.Header)
			return s
		}, CodeComponentNotCovered},
		{"@authority not covered by a payment, reference profile", func() setup {
			s := base()
			s.req.Header.Set(HeaderCrawlerMaxPrice, "USD 0.05")
			customSign(t, s.req, priv, httpsign.NewSignConfig().SetTag(TagWebBotAuth).SetKeyID(key.ID).SetExpiresAfter(60),
				httpsign.NewFields().AddHeaders("@path").AddDictHeader("signature-agent", "agent1").AddHeader(HeaderCrawlerMaxPrice))
			s.intent, _ = ParseIntent(s.req.Header)
			return s
		}, CodeComponentNotCovered},
		{"signature-agent not covered", func() setup {
			s := base()
			customSign(t, s.req, priv, httpsign.NewSignConfig().SetTag(TagWebBotAuth).SetKeyID(key.ID).SetExpiresAfter(60),
				httpsign.NewFields().AddHeaders("@authority", "@path"))
			return s
		}, CodeComponentNotCovered},
		{"payment header not covered", func() setup {
			s := sign(base())
			s.req.Header.Set(HeaderCrawlerExactPrice, "USD 0.01")
			in, err := ParseIntent(s.req.Header)
			if err != nil {
				t.Fatal(err)
			}
			s.intent = in
			return s
		}, CodeComponentNotCovered},
		{"replay", func() setup {
			s := sign(base())
			g := &memGuard{}
			sig, _ := selectSignature(s.req.Header, DefaultTags)
			_ = s.verifier.checkParams(sig, time.Now())
			g.record("op_1", ReplayIDs(key.ID, sig.nonce, sig.raw))
			s.verifier.Replay = g
			return s
		}, CodeReplay},
		{"bare-token Signature-Agent, strict profile", func() setup {
			s := sign(base())
			s.verifier.Policy.Profile = ProfileStrict
			s.req.Header.Set("Signature-Agent", "crawler.example")
			return s
		}, CodeAgentMalformed},
		{"Signature-Agent neither host nor URL, reference profile", func() setup {
			s := sign(base())
			s.req.Header.Set("Signature-Agent", "crawler.example/path")
			return s
		}, CodeAgentMalformed},
		{"no Signature-Agent", func() setup {
			s := sign(base())
			s.req.Header.Del("Signature-Agent")
			return s
		}, CodeAgentMissing},
		{"oversize Signature-Input", func() setup {
			s := sign(base())
			s.req.Header.Set("Signature-Input", s.req.Header.Get("Signature-Input")+strings.Repeat(";x=1", 1200))
			return s
		}, CodeHeaderTooLarge},
		{"malformed Signature-Input", func() setup {
			s := sign(base())
			s.req.Header.Set("Signature-Input", `sig1=("@authority" "@path";created=`)
			return s
		}, CodeSignatureMalformed},
		{"signature label missing", func() setup {
			s := sign(base())
			s.req.Header.Set("Signature", "other=:AAAA:")
			return s
		}, CodeSignatureMalformed},
		{"unsupported alg", func() setup {
			s := sign(base())
			s.req.Header.Set("Signature-Input", strings.Replace(s.req.Header.Get("Signature-Input"), `alg="ed25519"`, `alg="rsa-pss-sha512"`, 1))
			return s
		}, CodeUnsupportedAlg},
		{"nonce required", func() setup {
			s := base()
			customSign(t, s.req, priv, httpsign.NewSignConfig().SetTag(TagWebBotAuth).SetKeyID(key.ID).SetExpiresAfter(60), stdFields())
			s.verifier.Policy.RequireNonce = true
			return s
		}, CodeParamMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.make()
			_, err := s.verifier.Verify(context.Background(), s.req, "http", s.intent)
			if err == nil {
				t.Fatalf("verified; want %s", tt.want)
			}
			if CodeOf(err) != tt.want {
				t.Fatalf("got %v; want code %s", err, tt.want)
			}
			if !errors.Is(err, &Error{Code: tt.want}) {
				t.Fatalf("errors.Is does not match the code")
			}
			if tt.want.Status() >= 500 {
				t.Fatalf("bad input mapped to %d", tt.want.Status())
			}
		})
	}
}

func TestVerifyMissingPathMessage(t *testing.T) {
	priv, key, _ := testKey(t)
	r := httptest.NewRequest("GET", "http://news.example/article", nil)
	r.Header.Set(HeaderCrawlerMaxPrice, "USD 0.05")
	customSign(t, r, priv, httpsign.NewSignConfig().SetTag(TagWebBotAuth).SetKeyID(key.ID).SetExpiresAfter(60),
		httpsign.NewFields().AddHeaders("@authority").AddDictHeader("signature-agent", "agent1").AddHeader(HeaderCrawlerMaxPrice))
	intent, err := ParseIntent(r.Header)
	if err != nil {
		t.Fatal(err)
	}
	strict := &Verifier{Keys: staticKeys(key), Policy: Policy{Profile: ProfileStrict}}
	_, err = strict.Verify(context.Background(), r, "http", intent)
	if err == nil || !strings.Contains(err.Error(), "does not cover @path") {
		t.Fatalf("error %q does not say which component is missing", err)
	}
	// The same coverage without a payment only proves who signed: it is
	// never refused for its coverage.
	unpaid := httptest.NewRequest("GET", "http://news.example/article", nil)
	customSign(t, unpaid, priv, httpsign.NewSignConfig().SetTag(TagWebBotAuth).SetKeyID(key.ID).SetExpiresAfter(60),
		httpsign.NewFields().AddHeaders("@authority").AddDictHeader("signature-agent", "agent1"))
	if _, err := strict.Verify(context.Background(), unpaid, "http", nil); err != nil {
		t.Fatalf("an unpaid signature was refused: %v", err)
	}
}

func TestVerifyTargetURIStandsForAuthorityAndPath(t *testing.T) {
	priv, key, _ := testKey(t)
	r := httptest.NewRequest("GET", "http://news.example/article?q=1", nil)
	customSign(t, r, priv, httpsign.NewSignConfig().SetTag(TagWebBotAuth).SetKeyID(key.ID).SetExpiresAfter(60),
		httpsign.NewFields().AddHeaders("@target-uri").AddDictHeader("signature-agent", "agent1"))
	v, err := (&Verifier{Keys: staticKeys(key)}).Verify(context.Background(), r, "http", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Evidence.Verify(key.Public); err != nil {
		t.Fatalf("evidence with @target-uri: %v", err)
	}
}

func TestVerifyResolverFailureIsNotInternal(t *testing.T) {
	_, _, signer := testKey(t)
	r := httptest.NewRequest("GET", "http://news.example/a", nil)
	if err := signer.Sign(r); err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Keys: KeyResolverFunc(func(context.Context, string, string) (ResolvedKey, error) {
		return ResolvedKey{}, errors.New("connection refused")
	})}
	_, err := v.Verify(context.Background(), r, "http", nil)
	if CodeOf(err) != CodeDirectoryUnavailable {
		t.Fatalf("got %v, want %s", err, CodeDirectoryUnavailable)
	}
}

// The reference profile reads a bare-host Signature-Agent, as the x402
// batch-settlement binding's examples send it, as https://<host>.
func TestVerifyBareHostAgentReference(t *testing.T) {
	priv, key, _ := testKey(t)
	r := httptest.NewRequest("GET", "http://news.example/article", nil)
	r.Header.Set(HeaderCrawlerMaxPrice, "USD 0.05")
	r.Header.Set("Signature-Agent", strings.TrimPrefix(testAgent, "https://"))
	signer, err := httpsign.NewEd25519Signer(priv, httpsign.NewSignConfig().SetTag(TagWebBotAuth).SetKeyID(key.ID).SetExpiresAfter(60),
		*httpsign.NewFields().AddHeaders("@authority", "signature-agent", HeaderCrawlerMaxPrice))
	if err != nil {
		t.Fatal(err)
	}
	in, sig, err := httpsign.SignRequest("sig", *signer, r)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Signature-Input", in)
	r.Header.Set("Signature", sig)
	intent, err := ParseIntent(r.Header)
	if err != nil {
		t.Fatal(err)
	}
	v, err := (&Verifier{Keys: staticKeys(key)}).Verify(context.Background(), r, "http", intent)
	if err != nil {
		t.Fatal(err)
	}
	if v.Agent.URL != testAgent {
		t.Fatalf("agent %q, want %q", v.Agent.URL, testAgent)
	}
	if err := v.Evidence.Verify(key.Public); err != nil {
		t.Fatalf("evidence: %v", err)
	}
	strict := &Verifier{Keys: staticKeys(key), Policy: Policy{Profile: ProfileStrict}}
	if _, err := strict.Verify(context.Background(), r, "http", intent); CodeOf(err) != CodeAgentMalformed {
		t.Fatalf("strict profile: %v, want %s", err, CodeAgentMalformed)
	}
}

// Both tags of the sources are accepted by default, and only those.
func TestVerifyTags(t *testing.T) {
	priv, key, _ := testKey(t)
	for _, tt := range []struct {
		tag  string
		want Code
	}{{TagWebBotAuth, ""}, {TagAgentBrowserAuth, ""}, {"web-bot-auth-x", CodeWrongTag}, {TagDirectory, CodeWrongTag}} {
		t.Run(tt.tag, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://news.example/article", nil)
			customSign(t, r, priv, httpsign.NewSignConfig().SetTag(tt.tag).SetKeyID(key.ID).SetExpiresAfter(60), stdFields())
			_, err := (&Verifier{Keys: staticKeys(key)}).Verify(context.Background(), r, "http", nil)
			if CodeOf(err) != tt.want && !(tt.want == "" && err == nil) {
				t.Fatalf("tag %q: %v, want %q", tt.tag, err, tt.want)
			}
		})
	}
}

// The defaults of the zero Policy: 24 h of validity, 30 s of skew.
func TestPolicyDefaults(t *testing.T) {
	_, key, signer := testKey(t)
	now := time.Now()
	for _, tt := range []struct {
		name     string
		validity time.Duration
		clock    time.Time
		want     Code
	}{
		{"a minute", time.Minute, now, ""},
		{"24 hours", 24 * time.Hour, now, ""},
		{"over 24 hours", 24*time.Hour + time.Second, now, CodeValidityTooLong},
		{"created 20 s ahead", time.Minute, now.Add(-20 * time.Second), ""},
		{"created 40 s ahead, even with 24 h of validity", 24 * time.Hour, now.Add(-40 * time.Second), CodeSignatureNotYetValid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := *signer
			s.Validity = tt.validity
			s.Now = func() time.Time { return now }
			r := httptest.NewRequest("GET", "http://news.example/a", nil)
			if err := s.Sign(r); err != nil {
				t.Fatal(err)
			}
			_, err := (&Verifier{Keys: staticKeys(key), Now: func() time.Time { return tt.clock }}).Verify(context.Background(), r, "http", nil)
			if CodeOf(err) != tt.want && !(tt.want == "" && err == nil) {
				t.Fatalf("%v, want %q", err, tt.want)
			}
		})
	}
}

func TestAcceptSignature(t *testing.T) {
	maxPrice := &Intent{Header: HeaderCrawlerMaxPrice}
	for _, tt := range []struct {
		name   string
		policy Policy
		intent *Intent
		want   string
	}{
		{"reference, paid", Policy{}, maxPrice, `sig1=("@authority" "signature-agent" "crawler-max-price");created;expires;keyid;tag="web-bot-auth"`},
		{"strict, paid", Policy{Profile: ProfileStrict}, &Intent{Header: "payment-signature"}, `sig1=("@authority" "@path" "signature-agent" "payment-signature");created;expires;keyid;tag="web-bot-auth"`},
		{"strict, unpaid", Policy{Profile: ProfileStrict, RequireNonce: true}, nil, `sig1=("@authority" "signature-agent");created;expires;keyid;nonce;tag="web-bot-auth"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.AcceptSignature(tt.intent); got != tt.want {
				t.Fatalf("Accept-Signature\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParseProfile(t *testing.T) {
	for in, want := range map[string]Profile{"": ProfileReference, "reference": ProfileReference, "strict": ProfileStrict} {
		if got, err := ParseProfile(in); err != nil || got != want {
			t.Errorf("ParseProfile(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseProfile("lenient"); err == nil {
		t.Error("an unknown profile parsed")
	}
}
