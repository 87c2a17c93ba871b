package deferred

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/dunglas/httpsfv"
)

// HeaderSignatureAgent is the request header that names the crawler's key
// directory.
const HeaderSignatureAgent = "Signature-Agent"

// maxFieldLen bounds each signature-related header this package parses.
const maxFieldLen = 4096

// AgentType is the discovery mechanism of a Signature-Agent member: its
// `type` parameter (draft-meunier-webbotauth-httpsig-protocol, "Key
// Distribution and Discovery"). A member without one is AgentDirectory.
type AgentType string

// The discovery mechanisms the drafts define.
const (
	// AgentDirectory: the value is an origin; its keys are at
	// WellKnownDirectoryPath on it. The default, and the only type of the
	// sf-string form.
	AgentDirectory AgentType = "directory"
	// AgentJWKS: the value is the URL of a JWK Set.
	AgentJWKS AgentType = "jwks_uri"
	// AgentCIMD: the value is the client_id of a Signature Agent Card
	// (draft-meunier-webbotauth-registry), which carries its keys inline
	// (jwks) or names a JWK Set (jwks_uri).
	AgentCIMD AgentType = "cimd"
)

// Known reports whether t is a type this package resolves.
func (t AgentType) Known() bool {
	return t == AgentDirectory || t == AgentJWKS || t == AgentCIMD
}

// SignatureAgent is one agent named by a Signature-Agent header.
type SignatureAgent struct {
	// Member is the dictionary key ("agent2") of the dictionary form, or ""
	// for the sf-string and bare-host forms.
	Member string
	// URL is the agent's https (or, where allowed, loopback http) URL, as
	// sent (a bare host becomes "https://<host>"). What it points at is
	// Type's business, never guessed from its path.
	URL string
	// Type is the member's discovery mechanism; "" reads as AgentDirectory.
	Type AgentType
}

// Kind is the agent's type, AgentDirectory when none was given.
func (a SignatureAgent) Kind() AgentType {
	if a.Type == "" {
		return AgentDirectory
	}
	return a.Type
}

// Component is the covered-component identifier a signature over this agent
// carries: `"signature-agent"` or `"signature-agent";key="agent2"`.
func (a SignatureAgent) Component() string {
	if a.Member == "" {
		return `"signature-agent"`
	}
	return `"signature-agent";key="` + a.Member + `"`
}

// AgentHeader is a parsed Signature-Agent header.
type AgentHeader struct {
	// Legacy is true for the sf-string form (`"https://signer.example"`)
	// and the bare-host form: one agent, covered as "signature-agent".
	Legacy bool
	// BareHost is true when the header was a bare host
	// (`Signature-Agent: mycrawler.com`, accepted only with
	// AgentParseOptions.AllowBareHost); Legacy is then true too.
	BareHost bool
	// Agents lists the agents in header order; one for the legacy forms.
	// Members whose type this package does not know are not in it.
	Agents []SignatureAgent
	// Ignored lists the dictionary members left out of Agents because
	// their type is unknown: the draft says a verifier MUST ignore them.
	Ignored []string
}

// Lookup returns the agent under a dictionary key, or the only agent of the
// legacy form when member is "".
func (h AgentHeader) Lookup(member string) (SignatureAgent, bool) {
	if member == "" {
		if len(h.Agents) == 1 {
			return h.Agents[0], true
		}
		return SignatureAgent{}, false
	}
	for _, a := range h.Agents {
		if a.Member == member {
			return a, true
		}
	}
	return SignatureAgent{}, false
}

// AgentParseOptions relax ParseSignatureAgentWith. The zero value is
// ParseSignatureAgent's behaviour.
type AgentParseOptions struct {
	// AllowBareHost accepts a bare host (`Signature-Agent: mycrawler.com`,
	// as the Cloudflare batch-settlement binding's examples send) as the
	// agent "https://<host>" of type directory, covered as
	// "signature-agent". Only a DNS name or IPv4 literal, optionally with a
	// port, passes; anything else is still refused.
	AllowBareHost bool
}

// ParseSignatureAgent parses a Signature-Agent header with the zero
// AgentParseOptions; see ParseSignatureAgentWith.
func ParseSignatureAgent(h http.Header) (AgentHeader, error) {
	return ParseSignatureAgentWith(h, AgentParseOptions{})
}

// ParseSignatureAgentWith parses the values of a Signature-Agent header in
// its current forms: an sf-string (`"https://signer.example"`, the form
// Cloudflare's verifier reads: type directory), and a dictionary whose
// members are sf-strings, each with an optional `type` parameter
// (`agent2="https://signer.example/jwks.json";type=jwks_uri`). Members of an
// unknown type are left out (AgentHeader.Ignored); a header of nothing else
// is refused. The bare-token form (`signer.example`) is refused unless
// opts.AllowBareHost, as is anything that is not an absolute http(s) URL.
// Errors are *Error with CodeAgentMalformed or CodeHeaderTooLarge. It
// returns (AgentHeader{}, nil) when the header is absent.
func ParseSignatureAgentWith(h http.Header, opts AgentParseOptions) (AgentHeader, error) {
	values := h.Values(HeaderSignatureAgent)
	if len(values) == 0 {
		return AgentHeader{}, nil
	}
	total := 0
	for _, v := range values {
		total += len(v)
	}
	if total > maxFieldLen {
		return AgentHeader{}, Errorf(CodeHeaderTooLarge, "Signature-Agent is %d bytes, over the %d-byte limit", total, maxFieldLen)
	}
	first := strings.TrimLeft(values[0], " \t")
	if strings.HasPrefix(first, `"`) {
		if len(values) > 1 {
			return AgentHeader{}, Errorf(CodeAgentMalformed, "Signature-Agent: several values; the string form carries exactly one URL")
		}
		s, ok := plainSFString(values[0])
		if !ok {
			item, err := httpsfv.UnmarshalItem(values)
			if err != nil {
				return AgentHeader{}, Errorf(CodeAgentMalformed, "Signature-Agent: not a structured-field string: %v", err)
			}
			if s, ok = item.Value.(string); !ok {
				return AgentHeader{}, Errorf(CodeAgentMalformed, "Signature-Agent: not a string")
			}
		}
		u, err := checkAgentURL(s)
		if err != nil {
			return AgentHeader{}, err
		}
		return AgentHeader{Legacy: true, Agents: []SignatureAgent{{URL: u, Type: AgentDirectory}}}, nil
	}
	if opts.AllowBareHost && len(values) == 1 {
		if host, ok := bareHost(strings.TrimSpace(values[0])); ok {
			return AgentHeader{Legacy: true, BareHost: true, Agents: []SignatureAgent{{URL: "https://" + host, Type: AgentDirectory}}}, nil
		}
	}
	dict, err := httpsfv.UnmarshalDictionary(values)
	if err != nil || len(dict.Names()) == 0 {
		return AgentHeader{}, Errorf(CodeAgentMalformed,
			"Signature-Agent %q is neither a quoted URL nor a dictionary of quoted URLs; the bare-token form is not accepted: send Signature-Agent: \"https://…\"", values[0])
	}
	var out AgentHeader
	for _, name := range dict.Names() {
		m, _ := dict.Get(name)
		item, ok := m.(httpsfv.Item)
		if !ok {
			return AgentHeader{}, Errorf(CodeAgentMalformed, "Signature-Agent member %s is an inner list, want a quoted URL", name)
		}
		s, ok := item.Value.(string)
		if !ok {
			return AgentHeader{}, Errorf(CodeAgentMalformed,
				"Signature-Agent member %s is not a quoted URL; the bare-token form is not accepted: send Signature-Agent: \"https://…\"", name)
		}
		u, err := checkAgentURL(s)
		if err != nil {
			return AgentHeader{}, err
		}
		typ := AgentDirectory
		if p, ok := item.Params.Get("type"); ok {
			switch v := p.(type) {
			case httpsfv.Token:
				typ = AgentType(v)
			case string: // a String where the draft says Token: read it the same (as Cloudflare's parser does)
				typ = AgentType(v)
			default:
				return AgentHeader{}, Errorf(CodeAgentMalformed, "Signature-Agent member %s: type must be a token (directory, jwks_uri or cimd)", name)
			}
		}
		if !typ.Known() {
			out.Ignored = append(out.Ignored, name)
			continue
		}
		out.Agents = append(out.Agents, SignatureAgent{Member: name, URL: u, Type: typ})
	}
	if len(out.Agents) == 0 {
		return AgentHeader{}, Errorf(CodeAgentMalformed, "Signature-Agent: no member of a known type (directory, jwks_uri, cimd)")
	}
	return out, nil
}

// plainSFString returns the content of v when v is exactly a structured
// field string without escapes (as a Signer sends Signature-Agent), which
// httpsfv would parse to the same; false for anything else.
func plainSFString(v string) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	in := v[1 : len(v)-1]
	for i := 0; i < len(in); i++ {
		if c := in[i]; c == '"' || c == '\\' || c < 0x20 || c > 0x7e {
			return "", false
		}
	}
	return in, true
}

// bareHost accepts a DNS name or an IPv4 literal, optionally with a port,
// and returns it in lower case.
func bareHost(s string) (string, bool) {
	if s == "" || len(s) > 253+6 {
		return "", false
	}
	host, port := s, ""
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 || port[0] == '0' {
			return "", false
		}
	}
	host = strings.ToLower(host)
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", false
			}
		}
	}
	if port != "" {
		return host + ":" + port, true
	}
	return host, true
}

// checkAgentURL accepts absolute http(s) URLs without user info or fragment.
// Whether plain http is allowed is the directory client's decision.
func checkAgentURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", Errorf(CodeAgentMalformed, "Signature-Agent URL %q: %v", s, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return "", Errorf(CodeAgentMalformed, "Signature-Agent %q is not an absolute https URL", s)
	}
	return s, nil
}

// AgentKeyResolver is a KeyResolver that also takes the agent's type, so
// that a jwks_uri or cimd agent is resolved by its mechanism rather than
// as a directory origin. The gateway's resolver (pkg/paywall/keys) implements it.
type AgentKeyResolver interface {
	KeyResolver
	// ResolveAgentKey is ResolveKey for an agent of any type.
	ResolveAgentKey(ctx context.Context, agent SignatureAgent, keyID string) (ResolvedKey, error)
}

// ResolveAgentKey resolves keyID of agent with r: through ResolveAgentKey
// when r is an AgentKeyResolver, else through ResolveKey with the agent's
// URL (such a resolver decides on its own what the URL means).
func ResolveAgentKey(ctx context.Context, r KeyResolver, agent SignatureAgent, keyID string) (ResolvedKey, error) {
	if ar, ok := r.(AgentKeyResolver); ok {
		return ar.ResolveAgentKey(ctx, agent, keyID)
	}
	return r.ResolveKey(ctx, agent.URL, keyID)
}
