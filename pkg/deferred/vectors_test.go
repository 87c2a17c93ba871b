package deferred

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The key of RFC 9421 B.1.4 and PROTOCOL.md §6.
const (
	vectorJWK   = `{"kty":"OKP","crv":"Ed25519","kid":"test-key-ed25519","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"}`
	vectorKeyID = "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U"
	vectorAgent = "https://signature-agent.test"
)

type vector struct {
	name, agent, input, sig string
}

var (
	vectorA = vector{"A dictionary form", `agent2="https://signature-agent.test"`,
		`sig2=("@authority" "signature-agent";key="agent2");created=1735689600;keyid="poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";alg="ed25519";expires=4889289600;nonce="n9p433xm+NJ3ph3upfBIGmsuwHw387YV7Q/F+6BSpGCVjYCqQw6rznNA8PVVLySrAWsv0hQtFioQb6E1YsauiA==";tag="web-bot-auth"`,
		`sig2=:RdNFx5Bj6au3YgAMQL/RzmUlZE8QZLIaXGRpw985hWnwPfMxT228NMk6ehRS1PSl4e8PhbNZACSanGdhEwYCCg==:`}
	vectorB = vector{"B legacy sf-string form", `"https://signature-agent.test"`,
		`sig2=("@authority" "signature-agent");created=1735689600;keyid="poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";alg="ed25519";expires=1735693200;nonce="e8N7S2MFd/qrd6T2R3tdfAuuANngKI7LFtKYI/vowzk4lAZYadIX6wW25MwG7DCT9RUKAJ0qVkU0mEeLElW1qg==";tag="web-bot-auth"`,
		`sig2=:jdq0SqOwHdyHr9+r5jw3iYZH6aNGKijYp/EstF4RQTQdi5N5YYKrD+mCT1HA1nZDsi6nJKuHxUi/5Syp3rLWBA==:`}
	vectorC = vector{"C authority only", "",
		`sig1=("@authority");created=1735689600;keyid="poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";alg="ed25519";expires=4889289600;nonce="zIW8+cdmA3vdYagbxojpONwa/l0EKJ/O3/wD486VvsQjO/RxPaSt6ZxvQaMcQzNnqKN/mQ6hpGiFro2L2qkz5A==";tag="web-bot-auth"`,
		`sig1=:QKN4fTdIYfh82fvoZCQiQA1weuozfCS/Led2zTMbewMMqH8PI2Wsy/5c4ao6B6D09nraNQdBNOADg8aM1MqfCg==:`}
	// draft-meunier-web-bot-auth-architecture-05 A.2.2: signed over an
	// unquoted member value, so it must not verify.
	vectorArch05 = vector{"architecture-05 A.2.2", `agent2="https://signature-agent.test"`,
		`sig2=("@authority" "signature-agent";key="agent2");created=1735689600;keyid="poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";alg="ed25519";expires=4889289600;nonce="XeP72svPKNiGEg3aDE7WJuTpN69H08oMFqC8NLFy1MptpENAT3WZTYwK+MYdsFMlaqHCJGo9ZAhqer1NWY9Epg==";tag="web-bot-auth"`,
		`sig2=:DGiW2ErlQh0hc8wY2FQdbnFd6CEmonyY8nlvECIJFaUSYYNvNvSsGyP99BUGtq51gA4ouXlkUwjnta084bpjCg==:`}
)

func (v vector) request() *http.Request {
	r := httptest.NewRequest("GET", "https://example.com/path/to/resource", nil)
	if v.agent != "" {
		r.Header.Set("Signature-Agent", v.agent)
	}
	r.Header.Set("Signature-Input", v.input)
	r.Header.Set("Signature", v.sig)
	return r
}

func vectorKey(t testing.TB) Key {
	t.Helper()
	k, err := ParseKey([]byte(vectorJWK))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// vectorVerifier trusts the vector key under the vector agent, with a clock
// at the vectors' created time and the vectors' century-long validity allowed.
func vectorVerifier(t testing.TB) *Verifier {
	k := vectorKey(t)
	return &Verifier{
		Keys: KeyResolverFunc(func(_ context.Context, agent, keyID string) (ResolvedKey, error) {
			if agent != vectorAgent {
				return ResolvedKey{}, Errorf(CodeAgentUnknown, "agent %s", agent)
			}
			if keyID != k.ID {
				return ResolvedKey{}, Errorf(CodeUnknownKey, "key %s", keyID)
			}
			return ResolvedKey{Key: k, Account: "op_test"}, nil
		}),
		Policy: Policy{
			MaxValidity: 200 * 365 * 24 * time.Hour,
			Required:    [][]string{{"@authority"}, {"signature-agent"}},
		},
		Now: func() time.Time { return time.Unix(1735689600+5, 0) },
	}
}

func TestVectorKeyThumbprint(t *testing.T) {
	if got := vectorKey(t).ID; got != vectorKeyID {
		t.Fatalf("thumbprint = %s, want %s", got, vectorKeyID)
	}
}

func TestVectorsVerify(t *testing.T) {
	for _, v := range []vector{vectorA, vectorB} {
		t.Run(v.name, func(t *testing.T) {
			verdict, err := vectorVerifier(t).Verify(context.Background(), v.request(), "https", nil)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if verdict.Key.ID != vectorKeyID || verdict.Agent.URL != vectorAgent || verdict.Key.Account != "op_test" {
				t.Fatalf("verdict = %+v", verdict)
			}
			// The evidence verifies again offline.
			if err := verdict.Evidence.Verify(vectorKey(t).Public); err != nil {
				t.Fatalf("evidence: %v", err)
			}
		})
	}
}

func TestVectorCCryptography(t *testing.T) {
	// Vector C covers only @authority: its signature is good…
	ev := Evidence{Label: "sig1", Method: "GET", Scheme: "https", Authority: "example.com", RequestURI: "/",
		SignatureInput: vectorC.input[len("sig1="):], Signature: vectorC.sig[len("sig1="):]}
	if err := ev.Verify(vectorKey(t).Public); err != nil {
		t.Fatalf("vector C does not verify: %v", err)
	}
	// …but without signature-agent it names no directory, so the verifier refuses it.
	_, err := vectorVerifier(t).Verify(context.Background(), vectorC.request(), "https", nil)
	if CodeOf(err) != CodeAgentMissing {
		t.Fatalf("vector C: got %v, want %s", err, CodeAgentMissing)
	}
}

func TestVectorArch05DoesNotVerify(t *testing.T) {
	_, err := vectorVerifier(t).Verify(context.Background(), vectorArch05.request(), "https", nil)
	if CodeOf(err) != CodeSignatureInvalid {
		t.Fatalf("architecture-05 vector: got %v, want %s", err, CodeSignatureInvalid)
	}
}

func TestVectorAuthorityNormalized(t *testing.T) {
	// The same request seen with an upper-case host and the default port.
	r := vectorA.request()
	r.Host = "EXAMPLE.com:443"
	if _, err := vectorVerifier(t).Verify(context.Background(), r, "https", nil); err != nil {
		t.Fatalf("Verify with un-normalized authority: %v", err)
	}
	r.Host = "example.org"
	if _, err := vectorVerifier(t).Verify(context.Background(), r, "https", nil); !errors.Is(err, &Error{Code: CodeSignatureInvalid}) {
		t.Fatalf("another authority verified: %v", err)
	}
}
