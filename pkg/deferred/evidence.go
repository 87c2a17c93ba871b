package deferred

import (
	"crypto/ed25519"
	"fmt"
	"net/http"
	"net/url"

	"github.com/paycrawl/paycrawl/pkg/botauth"
	"github.com/yaronf/httpsign"
)

// Evidence is everything needed to verify a request signature again, later
// and offline: the covered parts of the request and the signature itself. The
// ledger keeps it with every commitment; Verify checks it with the archived
// public key. Live verification checks the very same Evidence, so what is
// stored is exactly what was verified.
type Evidence struct {
	Label          string            `json:"label"`
	Method         string            `json:"method"`
	Scheme         string            `json:"scheme"`
	Authority      string            `json:"authority"`
	RequestURI     string            `json:"uri"`
	SignatureInput string            `json:"sig_input"`
	Signature      string            `json:"sig"`
	Headers        map[string]string `json:"headers,omitempty"`
}

// Verify checks the signature of e with pub. It checks the cryptography
// only: validity times, tags and policy were judged when the request arrived.
func (e Evidence) Verify(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("deferred: public key is %d bytes", len(pub))
	}
	u, err := url.ParseRequestURI(e.RequestURI)
	if err != nil {
		return fmt.Errorf("deferred: evidence request URI %q: %w", e.RequestURI, err)
	}
	h := make(http.Header, len(e.Headers)+2)
	for name, v := range e.Headers {
		h[http.CanonicalHeaderKey(name)] = []string{v}
	}
	h["Signature-Input"] = []string{e.Label + "=" + e.SignatureInput}
	h["Signature"] = []string{e.Label + "=" + e.Signature}
	msg, err := httpsign.NewMessage(httpsign.NewMessageConfig().
		WithMethod(e.Method).WithURL(u).WithHeaders(h).
		WithAuthority(e.Authority).WithScheme(e.Scheme))
	if err != nil {
		return err
	}
	cfg := httpsign.NewVerifyConfig().SetVerifyCreated(false).SetRejectExpired(false)
	v, err := httpsign.NewEd25519Verifier(pub, cfg, *httpsign.NewFields())
	if err != nil {
		return err
	}
	_, err = msg.Verify(e.Label, *v)
	return err
}

// NormalizeAuthority returns host[:port] as RFC 9421 §2.2.3 covers it:
// lower-case, without the scheme's default port.
func NormalizeAuthority(hostport, scheme string) string {
	return botauth.NormalizeAuthority(hostport, scheme)
}
