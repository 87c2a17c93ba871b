package deferred

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/dunglas/httpsfv"
)

// HeaderSignatureAgent is the request header that names the crawler's key
// directory.
const HeaderSignatureAgent = "Signature-Agent"

// maxFieldLen bounds each signature-related header this package parses.
const maxFieldLen = 4096

// SignatureAgent is one agent named by a Signature-Agent header.
type SignatureAgent struct {
	// Member is the dictionary key ("agent2") of the dictionary form, or ""
	// for the sf-string form.
	Member string
	// URL is the agent's https (or, where allowed, loopback http) URL: an
	// origin whose well-known directory holds the keys, or a JWKS URL.
	URL string
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
	// Legacy is true for the sf-string form (`"https://signer.example"`).
	Legacy bool
	// Agents lists the agents in header order; one for the legacy form.
	Agents []SignatureAgent
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

// ParseSignatureAgent parses the values of a Signature-Agent header in the two
// current forms: an sf-string (`"https://signer.example"`) and a dictionary
// whose members are sf-strings (`agent2="https://signer.example"`). The
// bare-token form of the oldest drafts (`signer.example`) is refused, as is
// anything that is not an absolute http(s) URL. It returns (AgentHeader{},
// nil) when the header is absent.
func ParseSignatureAgent(h http.Header) (AgentHeader, error) {
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
		item, err := httpsfv.UnmarshalItem(values)
		if err != nil {
			return AgentHeader{}, Errorf(CodeAgentMalformed, "Signature-Agent: not a structured-field string: %v", err)
		}
		s, ok := item.Value.(string)
		if !ok {
			return AgentHeader{}, Errorf(CodeAgentMalformed, "Signature-Agent: not a string")
		}
		u, err := checkAgentURL(s)
		if err != nil {
			return AgentHeader{}, err
		}
		return AgentHeader{Legacy: true, Agents: []SignatureAgent{{URL: u}}}, nil
	}
	dict, err := httpsfv.UnmarshalDictionary(values)
	if err != nil || len(dict.Names()) == 0 {
		return AgentHeader{}, Errorf(CodeAgentMalformed,
			"Signature-Agent %q is neither a quoted URL nor a dictionary of quoted URLs; the bare-token form is not accepted: send Signature-Agent: agent1=\"https://…\"", values[0])
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
				"Signature-Agent member %s is not a quoted URL; the bare-token form is not accepted: send Signature-Agent: agent1=\"https://…\"", name)
		}
		u, err := checkAgentURL(s)
		if err != nil {
			return AgentHeader{}, err
		}
		out.Agents = append(out.Agents, SignatureAgent{Member: name, URL: u})
	}
	return out, nil
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
