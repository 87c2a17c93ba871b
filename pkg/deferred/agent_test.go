package deferred

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestParseSignatureAgent(t *testing.T) {
	bare := AgentParseOptions{AllowBareHost: true}
	dir := func(member, u string) SignatureAgent {
		return SignatureAgent{Member: member, URL: u, Type: AgentDirectory}
	}
	tests := []struct {
		name   string
		values []string
		opts   AgentParseOptions
		want   AgentHeader
		code   Code
	}{
		{"absent", nil, AgentParseOptions{}, AgentHeader{}, ""},
		{"sf-string (Cloudflare production)", []string{`"https://signer.example"`}, AgentParseOptions{}, AgentHeader{Legacy: true, Agents: []SignatureAgent{dir("", "https://signer.example")}}, ""},
		{"sf-string with a path is still type directory", []string{`"https://signer.example/jwks.json"`}, AgentParseOptions{}, AgentHeader{Legacy: true, Agents: []SignatureAgent{dir("", "https://signer.example/jwks.json")}}, ""},
		{"dictionary", []string{`agent2="https://signer.example"`}, AgentParseOptions{}, AgentHeader{Agents: []SignatureAgent{dir("agent2", "https://signer.example")}}, ""},
		{"dictionary of two, no type guessed from the path", []string{`a="https://one.example", b="https://two.example/jwks.json"`}, AgentParseOptions{},
			AgentHeader{Agents: []SignatureAgent{dir("a", "https://one.example"), dir("b", "https://two.example/jwks.json")}}, ""},
		{"dictionary over two lines", []string{`a="https://one.example"`, `b="https://two.example"`}, AgentParseOptions{},
			AgentHeader{Agents: []SignatureAgent{dir("a", "https://one.example"), dir("b", "https://two.example")}}, ""},
		{"type=directory", []string{`sig1="https://signer.example";type=directory`}, AgentParseOptions{}, AgentHeader{Agents: []SignatureAgent{dir("sig1", "https://signer.example")}}, ""},
		{"type=jwks_uri", []string{`sig1="https://signer.example/jwks.json";type=jwks_uri`}, AgentParseOptions{},
			AgentHeader{Agents: []SignatureAgent{{Member: "sig1", URL: "https://signer.example/jwks.json", Type: AgentJWKS}}}, ""},
		{"type=cimd", []string{`sig1="https://signer.example/card";type=cimd`}, AgentParseOptions{},
			AgentHeader{Agents: []SignatureAgent{{Member: "sig1", URL: "https://signer.example/card", Type: AgentCIMD}}}, ""},
		{"type as a string", []string{`sig1="https://signer.example/jwks.json";type="jwks_uri"`}, AgentParseOptions{},
			AgentHeader{Agents: []SignatureAgent{{Member: "sig1", URL: "https://signer.example/jwks.json", Type: AgentJWKS}}}, ""},
		{"unknown type is ignored", []string{`a="https://one.example";type=carrier-pigeon, b="https://two.example"`}, AgentParseOptions{},
			AgentHeader{Agents: []SignatureAgent{dir("b", "https://two.example")}, Ignored: []string{"a"}}, ""},
		{"only unknown types", []string{`a="https://one.example";type=carrier-pigeon`}, AgentParseOptions{}, AgentHeader{}, CodeAgentMalformed},
		{"type of another kind", []string{`a="https://one.example";type=1`}, AgentParseOptions{}, AgentHeader{}, CodeAgentMalformed},
		{"bare host refused by default", []string{`mycrawler.com`}, AgentParseOptions{}, AgentHeader{}, CodeAgentMalformed},
		{"bare host when allowed", []string{`mycrawler.com`}, bare, AgentHeader{Legacy: true, BareHost: true, Agents: []SignatureAgent{dir("", "https://mycrawler.com")}}, ""},
		{"bare host with a port", []string{` mycrawler.com:8443 `}, bare, AgentHeader{Legacy: true, BareHost: true, Agents: []SignatureAgent{dir("", "https://mycrawler.com:8443")}}, ""},
		{"bare host in upper case", []string{`MyCrawler.COM`}, bare, AgentHeader{Legacy: true, BareHost: true, Agents: []SignatureAgent{dir("", "https://mycrawler.com")}}, ""},
		{"bare host options keep the other forms", []string{`a="https://one.example"`}, bare, AgentHeader{Agents: []SignatureAgent{dir("a", "https://one.example")}}, ""},
		{"bare URL is not a host", []string{`https://signer.example`}, bare, AgentHeader{}, CodeAgentMalformed},
		{"bare host with a path", []string{`signer.example/keys`}, bare, AgentHeader{}, CodeAgentMalformed},
		{"bare host with user info", []string{`u@signer.example`}, bare, AgentHeader{}, CodeAgentMalformed},
		{"bare host, empty label", []string{`signer..example`}, bare, AgentHeader{}, CodeAgentMalformed},
		{"bare host, bad port", []string{`signer.example:0`}, bare, AgentHeader{}, CodeAgentMalformed},
		{"bare host, port out of range", []string{`signer.example:70000`}, bare, AgentHeader{}, CodeAgentMalformed},
		{"bare host, underscore", []string{`op_x.example`}, bare, AgentHeader{}, CodeAgentMalformed},
		{"two bare hosts", []string{`a.example`, `b.example`}, bare, AgentHeader{}, CodeAgentMalformed},
		{"bare token", []string{`signer.example`}, AgentParseOptions{}, AgentHeader{}, CodeAgentMalformed},
		{"member token", []string{`a=signer`}, AgentParseOptions{}, AgentHeader{}, CodeAgentMalformed},
		{"member list", []string{`a=("https://x.example")`}, AgentParseOptions{}, AgentHeader{}, CodeAgentMalformed},
		{"relative URL", []string{`"/keys"`}, AgentParseOptions{}, AgentHeader{}, CodeAgentMalformed},
		{"other scheme", []string{`"ftp://signer.example"`}, AgentParseOptions{}, AgentHeader{}, CodeAgentMalformed},
		{"user info", []string{`"https://user:pw@signer.example"`}, AgentParseOptions{}, AgentHeader{}, CodeAgentMalformed},
		{"two strings", []string{`"https://a.example"`, `"https://b.example"`}, AgentParseOptions{}, AgentHeader{}, CodeAgentMalformed},
		{"unterminated", []string{`"https://a.example`}, AgentParseOptions{}, AgentHeader{}, CodeAgentMalformed},
		{"oversize", []string{`"https://a.example/` + strings.Repeat("a", 5000) + `"`}, AgentParseOptions{}, AgentHeader{}, CodeHeaderTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.values {
				h.Add("Signature-Agent", v)
			}
			got, err := ParseSignatureAgentWith(h, tt.opts)
			if tt.code != "" {
				if CodeOf(err) != tt.code {
					t.Fatalf("got %+v, %v; want %s", got, err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if tt.opts == (AgentParseOptions{}) {
				if plain, err := ParseSignatureAgent(h); err != nil || !reflect.DeepEqual(plain, got) {
					t.Fatalf("ParseSignatureAgent = %+v, %v; want what ParseSignatureAgentWith says", plain, err)
				}
			}
		})
	}
	if c := (SignatureAgent{Member: "agent2"}).Component(); c != `"signature-agent";key="agent2"` {
		t.Errorf("Component = %s", c)
	}
	if k := (SignatureAgent{}).Kind(); k != AgentDirectory {
		t.Errorf("Kind of an untyped agent = %q", k)
	}
}

// typedResolver records what ResolveAgentKey is asked.
type typedResolver struct{ got SignatureAgent }

func (r *typedResolver) ResolveKey(_ context.Context, agentURL, _ string) (ResolvedKey, error) {
	r.got = SignatureAgent{URL: agentURL, Type: "untyped"}
	return ResolvedKey{}, nil
}

func (r *typedResolver) ResolveAgentKey(_ context.Context, a SignatureAgent, _ string) (ResolvedKey, error) {
	r.got = a
	return ResolvedKey{}, nil
}

func TestResolveAgentKeyPassesTheType(t *testing.T) {
	a := SignatureAgent{Member: "sig1", URL: "https://signer.example/jwks.json", Type: AgentJWKS}
	r := &typedResolver{}
	if _, _ = ResolveAgentKey(context.Background(), r, a, "k"); r.got != a {
		t.Fatalf("AgentKeyResolver asked %+v, want %+v", r.got, a)
	}
	var plain string
	f := KeyResolverFunc(func(_ context.Context, u, _ string) (ResolvedKey, error) { plain = u; return ResolvedKey{}, nil })
	if _, _ = ResolveAgentKey(context.Background(), f, a, "k"); plain != a.URL {
		t.Fatalf("plain resolver asked %q", plain)
	}
}
