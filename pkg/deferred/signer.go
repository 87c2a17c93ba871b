package deferred

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"
)

// AgentForm is the form in which a Signer sends Signature-Agent.
type AgentForm int

// The Signature-Agent forms a Signer can send.
const (
	// AgentString sends the sf-string form, `"https://signer.example"`,
	// covered as "signature-agent". It is the zero value: Cloudflare's
	// verifier refuses the dictionary form and the key component parameter.
	AgentString AgentForm = iota
	// AgentDictionary sends the dictionary form of the Web Bot Auth draft,
	// `sig1="https://signer.example";type=directory`, keyed by the signature
	// label and covered as "signature-agent";key="sig1".
	AgentDictionary
)

// Signer signs a crawler's requests the Web Bot Auth way: Signature-Agent in
// the sf-string form (or the dictionary form, see AgentForm), a fresh 64-byte
// nonce, a short expiry, and the components its coverage profile needs plus
// any payment header. It builds the RFC 9421 signature base itself, so what
// it signs is exactly what this file says.
type Signer struct {
	key   ed25519.PrivateKey
	keyID string
	agent string
	// Validity is how long a signature stays valid; 0 means one minute.
	Validity time.Duration
	// Label is the signature label; "" means "sig1".
	Label string
	// Rand is the nonce source; nil means crypto/rand.
	Rand io.Reader
	// Profile is the coverage to sign: ProfileReference (the zero value)
	// covers @authority and signature-agent, as Cloudflare's library does;
	// ProfileStrict adds @method and @path.
	Profile Profile
	// AgentForm is the form of Signature-Agent; the zero value is AgentString.
	AgentForm AgentForm
	// AgentType is the type parameter of the dictionary member ("directory",
	// "jwks_uri" or "cimd"); "" sends none, which a verifier reads as
	// "directory". The string form carries no parameters and ignores it.
	AgentType string
	// Tag is the tag parameter; "" means TagWebBotAuth.
	Tag string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NewSigner returns a signer for key, naming agentURL (the directory that
// lists the key) in Signature-Agent.
func NewSigner(key ed25519.PrivateKey, agentURL string) (*Signer, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("deferred: not an Ed25519 private key")
	}
	if _, err := checkAgentURL(agentURL); err != nil {
		return nil, err
	}
	k, err := NewKey(key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	return &Signer{key: key, keyID: k.ID, agent: agentURL}, nil
}

// KeyID is the RFC 7638 thumbprint of the signer's key.
func (s *Signer) KeyID() string { return s.keyID }

// Agent is the agent URL the signer names.
func (s *Signer) Agent() string { return s.agent }

// Sign adds Signature-Agent, Signature-Input and Signature to r, covering
// the payment headers named in extra as well. Any earlier signature headers
// are replaced.
func (s *Signer) Sign(r *http.Request, extra ...string) error {
	if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
		return fmt.Errorf("deferred: the query %q is not well-formed, so no verifier can check the signature: %w", r.URL.RawQuery, err)
	}
	p, err := s.prepare(r, extra)
	if err != nil {
		return err
	}
	sig := ed25519.Sign(s.key, []byte(p.base))
	d := httpsfv.NewDictionary()
	d.Add(p.label, httpsfv.NewItem(sig))
	sigHeader, err := httpsfv.Marshal(d)
	if err != nil {
		return fmt.Errorf("deferred: signing: %w", err)
	}
	r.Header.Set(HeaderSignatureAgent, p.agentHeader)
	r.Header.Set("Signature-Input", p.label+"="+p.params)
	r.Header.Set("Signature", sigHeader)
	return nil
}

// prepared is a signature about to be made.
type prepared struct {
	label       string
	agentHeader string
	// params is the serialized inner list of Signature-Input, which is also
	// the value of the base's @signature-params line.
	params string
	// base is the RFC 9421 §2.5 signature base.
	base string
}

// prepare builds the Signature-Agent value, the signature parameters and the
// signature base of r.
func (s *Signer) prepare(r *http.Request, extra []string) (*prepared, error) {
	validity := s.Validity
	if validity <= 0 {
		validity = time.Minute
	}
	label := s.Label
	if label == "" {
		label = "sig1"
	}
	tag := s.Tag
	if tag == "" {
		tag = TagWebBotAuth
	}
	rnd := s.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	nonce := make([]byte, 64)
	if _, err := io.ReadFull(rnd, nonce); err != nil {
		return nil, fmt.Errorf("deferred: nonce: %w", err)
	}

	// Signature-Agent, and how the base covers it.
	agentItem := httpsfv.NewItem(s.agent)
	agentComponent := httpsfv.NewItem("signature-agent")
	var agentHeader string
	var err error
	switch s.AgentForm {
	case AgentString:
		agentHeader, err = httpsfv.Marshal(agentItem)
	case AgentDictionary:
		if s.AgentType != "" {
			agentItem.Params.Add("type", httpsfv.Token(s.AgentType))
		}
		d := httpsfv.NewDictionary()
		d.Add(label, agentItem)
		agentHeader, err = httpsfv.Marshal(d)
		agentComponent.Params.Add("key", label)
	default:
		return nil, fmt.Errorf("deferred: unknown Signature-Agent form %d", s.AgentForm)
	}
	if err != nil {
		return nil, fmt.Errorf("deferred: Signature-Agent: %w", err)
	}
	// The value a dictionary member contributes to the base is the member
	// serialized as an item, quotes and parameters included (RFC 9421
	// §2.1.2); the string form contributes the field value as sent.
	agentValue, err := httpsfv.Marshal(agentItem)
	if err != nil {
		return nil, err
	}

	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	if host == "" {
		return nil, errors.New("deferred: signing: the request has no host")
	}
	scheme := r.URL.Scheme
	if scheme == "" {
		scheme = "https"
	}
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}

	type line struct {
		id    httpsfv.Item
		value string
	}
	var lines []line
	derived := func(name, value string) { lines = append(lines, line{httpsfv.NewItem(name), value}) }
	if s.Profile == ProfileStrict {
		derived("@method", method)
	}
	derived("@authority", NormalizeAuthority(host, scheme))
	if s.Profile == ProfileStrict {
		derived("@path", path)
	}
	lines = append(lines, line{agentComponent, agentValue})
	for _, h := range extra {
		name := strings.ToLower(h)
		vals := slices.Clone(r.Header.Values(name))
		if len(vals) == 0 {
			return nil, fmt.Errorf("deferred: signing: the request has no %s header to cover", name)
		}
		for i := range vals {
			vals[i] = strings.TrimSpace(vals[i])
		}
		lines = append(lines, line{httpsfv.NewItem(name), strings.Join(vals, ", ")})
	}

	created := now().Unix()
	params := httpsfv.NewParams()
	params.Add("created", created)
	params.Add("expires", created+int64(validity/time.Second))
	params.Add("keyid", s.keyID)
	params.Add("alg", "ed25519")
	params.Add("nonce", base64.StdEncoding.EncodeToString(nonce))
	params.Add("tag", tag)
	list := httpsfv.InnerList{Params: params}
	var b strings.Builder
	for _, l := range lines {
		list.Items = append(list.Items, l.id)
		id, err := httpsfv.Marshal(l.id)
		if err != nil {
			return nil, err
		}
		b.WriteString(id + ": " + l.value + "\n")
	}
	sigParams, err := httpsfv.Marshal(list)
	if err != nil {
		return nil, fmt.Errorf("deferred: signing: %w", err)
	}
	b.WriteString(`"@signature-params": ` + sigParams)
	return &prepared{label: label, agentHeader: agentHeader, params: sigParams, base: b.String()}, nil
}
