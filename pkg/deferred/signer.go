package deferred

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"
	"github.com/yaronf/httpsign"
)

// Signer signs a crawler's requests the Web Bot Auth way: the dictionary
// form of Signature-Agent, a fresh 64-byte nonce, a short expiry, and
// coverage of @method, @authority, @path, signature-agent and any payment
// header.
type Signer struct {
	key   ed25519.PrivateKey
	keyID string
	agent SignatureAgent
	// Validity is how long a signature stays valid; 0 means one minute.
	Validity time.Duration
	// Label is the signature label; "" means "sig1".
	Label string
	// Rand is the nonce source; nil means crypto/rand.
	Rand io.Reader
}

// NewSigner returns a signer for key, publishing agentURL (the directory that
// lists the key) under the dictionary member "agent1".
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
	return &Signer{key: key, keyID: k.ID, agent: SignatureAgent{Member: "agent1", URL: agentURL}}, nil
}

// KeyID is the RFC 7638 thumbprint of the signer's key.
func (s *Signer) KeyID() string { return s.keyID }

// Agent is the agent URL the signer names.
func (s *Signer) Agent() string { return s.agent.URL }

// Sign adds Signature-Agent, Signature-Input and Signature to r, covering
// the payment headers named in extra (lower-case names) as well. Any earlier
// signature headers are replaced.
func (s *Signer) Sign(r *http.Request, extra ...string) error {
	validity := s.Validity
	if validity <= 0 {
		validity = time.Minute
	}
	label := s.Label
	if label == "" {
		label = "sig1"
	}
	rnd := s.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	nonce := make([]byte, 64)
	if _, err := io.ReadFull(rnd, nonce); err != nil {
		return fmt.Errorf("deferred: nonce: %w", err)
	}
	dict := httpsfv.NewDictionary()
	dict.Add(s.agent.Member, httpsfv.NewItem(s.agent.URL))
	agentHeader, err := httpsfv.Marshal(dict)
	if err != nil {
		return err
	}
	r.Header.Set(HeaderSignatureAgent, agentHeader)
	r.Header.Del("Signature-Input")
	r.Header.Del("Signature")

	cfg := httpsign.NewSignConfig().
		SetTag(TagWebBotAuth).
		SetKeyID(s.keyID).
		SetNonce(base64.StdEncoding.EncodeToString(nonce)).
		SetExpiresAfter(int64(validity / time.Second))
	fields := httpsign.NewFields().AddHeaders("@method", "@authority", "@path").
		AddDictHeader("signature-agent", s.agent.Member)
	for _, h := range extra {
		fields.AddHeader(strings.ToLower(h))
	}
	signer, err := httpsign.NewEd25519Signer(s.key, cfg, *fields)
	if err != nil {
		return err
	}
	// httpsign covers req.Host as @authority: give it the normalized form.
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	scheme := r.URL.Scheme
	if scheme == "" {
		scheme = "https"
	}
	view := *r
	view.Host = NormalizeAuthority(host, scheme)
	in, sig, err := httpsign.SignRequest(label, *signer, &view)
	if err != nil {
		return fmt.Errorf("deferred: signing: %w", err)
	}
	r.Header.Set("Signature-Input", in)
	r.Header.Set("Signature", sig)
	return nil
}
