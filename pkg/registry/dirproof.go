package registry

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/pkg/botauth"
)

// DefaultDirectoryProofValidity is how long the directory proofs that
// SignDirectoryProof's callers (crawlctl) make are valid: a year. The draft
// (draft-meunier-webbotauth-httpsig-protocol, "Directory Response Signature
// Lifetimes") advises long lifetimes: revocation is removing the key from
// the directory, which this service does at once, not the proof expiring.
const DefaultDirectoryProofValidity = 365 * 24 * time.Hour

// MaxDirectoryProofValidity bounds expires − created of a directory proof.
const MaxDirectoryProofValidity = 400 * 24 * time.Hour

// DirectoryProofSkew is how far in the future a directory proof's created
// may be at registration: the skew verifiers allow (pkg/deferred's).
const DirectoryProofSkew = 30 * time.Second

// DirectoryProof is an operator key's own possession proof for its hosted
// key directory: the RFC 9421 signature, by the key, of a response to
// GET /.well-known/http-message-signatures-directory from the operator's
// hosted authority, in the shape of Cloudflare's directoryResponseHeaders
// without content-digest (the directory's body changes as keys come and
// go; the proof binds the key to the authority, not to a body):
//
//	Signature-Input: binding0=("@authority";req);created=<Created>;keyid="<thumbprint>";alg="ed25519";expires=<Expires>;tag="http-message-signatures-directory"
//
// The signature base is
//
//	"@authority";req: <authority>
//	"@signature-params": ("@authority";req);created=…;keyid="…";alg="ed25519";expires=…;tag="http-message-signatures-directory"
//
// The label is not part of the base (RFC 9421 §2.5), so the key directory
// serves the proof under whatever label its position needs. Its JSON is
// the optional "directory_proof" of POST /v1/keys and /v1/keys/rotate, and
// the body of POST /v1/keys/{keyid}/directory-proof.
type DirectoryProof struct {
	// Authority is the host[:port] the proof was signed for: optional on
	// input (when given, it must be the operator's hosted authority, see
	// Store.DirectoryAuthority), always set on output.
	Authority string `json:"authority,omitempty"`
	// Created and Expires are the signature's created and expires, Unix
	// seconds.
	Created int64 `json:"created"`
	Expires int64 `json:"expires"`
	// Signature is the Ed25519 signature of the base, base64 (standard or
	// URL alphabet, padded or not; served in standard base64).
	Signature string `json:"signature"`
}

// Params is the proof's Signature-Input member value for key keyID.
func (p DirectoryProof) Params(keyID string) string {
	return botauth.DirectoryProofParams(keyID, time.Unix(p.Created, 0), time.Unix(p.Expires, 0), false)
}

// SignatureValue is the signature as a Signature member value wants it:
// standard base64 (the caller adds the label and the colons).
func (p DirectoryProof) SignatureValue() string {
	sig, err := decodeDirectorySignature(p.Signature)
	if err != nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// SignDirectoryProof makes priv's possession proof for the hosted directory
// at authority (host[:port], as verifiers send it), valid from created to
// expires.
func SignDirectoryProof(priv ed25519.PrivateKey, authority string, created, expires time.Time) (DirectoryProof, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return DirectoryProof{}, errors.New("registry: not an Ed25519 private key")
	}
	if authority == "" || !expires.After(created) {
		return DirectoryProof{}, errors.New("registry: a directory proof needs an authority and expires after created")
	}
	k, err := botauth.NewKey(priv.Public().(ed25519.PublicKey))
	if err != nil {
		return DirectoryProof{}, err
	}
	p := DirectoryProof{Authority: strings.ToLower(authority), Created: created.Unix(), Expires: expires.Unix()}
	sig := ed25519.Sign(priv, botauth.DirectoryProofBase(p.Authority, p.Params(k.ID), ""))
	p.Signature = base64.StdEncoding.EncodeToString(sig)
	return p, nil
}

// DirectoryAuthorityOf is the authority a directory proof for the hosted
// agent agentURL (the agent_url of GET /v1/operators/me) must be signed
// for: its host[:port], lower case, default port dropped. For an operator's
// own origin that is its host; for a /agents/<id> agent (no hosted agents
// base configured) the key directory's own authority.
func DirectoryAuthorityOf(agentURL string) (string, error) {
	u, err := url.Parse(agentURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("registry: %q is not an http(s) agent URL", agentURL)
	}
	return botauth.NormalizeAuthority(u.Host, u.Scheme), nil
}

// Verify checks the proof for key and the operator's hosted authority at
// time now: a well-formed Ed25519 signature by key over the base for
// authority, Authority (when set) equal to authority, created not later
// than now + DirectoryProofSkew, expires after now and at most
// MaxDirectoryProofValidity after created. Errors wrap
// ErrDirectoryProofAuthority, ErrDirectoryProofExpired or
// ErrBadDirectoryProof.
func (p DirectoryProof) Verify(key botauth.Key, authority string, now time.Time) error {
	authority = strings.ToLower(authority)
	if p.Authority != "" && !strings.EqualFold(p.Authority, authority) {
		return fmt.Errorf("%w: the proof is for %q; this operator's hosted directory is at %q (the host of its agent_url)",
			ErrDirectoryProofAuthority, truncate(p.Authority, 64), authority)
	}
	switch {
	case p.Created <= 0 || p.Expires <= 0:
		return fmt.Errorf("%w: created and expires must be positive Unix seconds", ErrBadDirectoryProof)
	case p.Expires <= p.Created:
		return fmt.Errorf("%w: expires %d is not after created %d", ErrBadDirectoryProof, p.Expires, p.Created)
	case time.Duration(p.Expires-p.Created) > MaxDirectoryProofValidity/time.Second:
		return fmt.Errorf("%w: valid %d s, longer than %s", ErrBadDirectoryProof, p.Expires-p.Created, MaxDirectoryProofValidity)
	case time.Unix(p.Created, 0).After(now.Add(DirectoryProofSkew)):
		return fmt.Errorf("%w: created %d is in the future (the server's clock says %d)", ErrBadDirectoryProof, p.Created, now.Unix())
	case !time.Unix(p.Expires, 0).After(now):
		return fmt.Errorf("%w: expired at %d (the server's clock says %d); sign a new one", ErrDirectoryProofExpired, p.Expires, now.Unix())
	}
	sig, err := decodeDirectorySignature(p.Signature)
	if err != nil {
		return err
	}
	if !ed25519.Verify(key.Public, botauth.DirectoryProofBase(authority, p.Params(key.ID), ""), sig) {
		return fmt.Errorf("%w: the signature does not verify with key %s over authority %q and parameters %s",
			ErrBadDirectoryProof, key.ID, authority, p.Params(key.ID))
	}
	return nil
}

func decodeDirectorySignature(s string) ([]byte, error) {
	b, err := botauth.DecodeSignature(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadDirectoryProof, err)
	}
	return b, nil
}

// encodeDirectoryProof is the stored form of a verified proof.
func encodeDirectoryProof(p DirectoryProof, authority string) (string, error) {
	p.Authority = authority
	p.Signature = p.SignatureValue()
	b, err := json.Marshal(p)
	return string(b), err
}

// decodeDirectoryProof reads a stored proof; "" or garbage is none.
func decodeDirectoryProof(s string) *DirectoryProof {
	if s == "" {
		return nil
	}
	var p DirectoryProof
	if err := json.Unmarshal([]byte(s), &p); err != nil || p.Authority == "" || p.Signature == "" {
		return nil
	}
	return &p
}
