package registry

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/pkg/botauth"
)

// ProofContext starts every proof-of-possession message; the version lets
// the format change without ever making an old signature mean something new.
const ProofContext = "paycrawl-key-registration:v1"

// ProofWindow is how far a proof's timestamp may lie from the server's clock,
// either way.
const ProofWindow = 5 * time.Minute

// maxJWK bounds a JWK accepted for registration.
const maxJWK = 4096

// ProofMessage is what a key's owner signs, with the Ed25519 private key, to
// register the key for an operator:
//
//	paycrawl-key-registration:v1:<operator id>:<keyid>:<unix seconds>
//
// keyid is the key's RFC 7638 thumbprint (base64url, as botauth.NewKey
// computes it). Binding the operator id means a proof cannot be replayed for
// another operator; binding the time means it cannot be kept for later. The
// server keeps no challenge state.
func ProofMessage(operatorID, keyID string, unix int64) []byte {
	return []byte(ProofContext + ":" + operatorID + ":" + keyID + ":" + strconv.FormatInt(unix, 10))
}

// ParseProofMessage splits a proof message into its parts, checking each:
// an operator id, a 43-character base64url thumbprint and a non-negative
// decimal time in seconds.
func ParseProofMessage(b []byte) (operatorID, keyID string, unix int64, err error) {
	if len(b) > 256 {
		return "", "", 0, fmt.Errorf("%w: proof message too long", ErrBadProof)
	}
	rest, ok := bytes.CutPrefix(b, []byte(ProofContext+":"))
	if !ok {
		return "", "", 0, fmt.Errorf("%w: proof message does not start with %q", ErrBadProof, ProofContext)
	}
	parts := strings.Split(string(rest), ":")
	if len(parts) != 3 {
		return "", "", 0, fmt.Errorf("%w: proof message has %d fields after the context, want 3", ErrBadProof, len(parts))
	}
	if !ValidOperatorID(parts[0]) {
		return "", "", 0, fmt.Errorf("%w: %q is not an operator id", ErrBadProof, parts[0])
	}
	if !ValidKeyID(parts[1]) {
		return "", "", 0, fmt.Errorf("%w: %q is not a key thumbprint", ErrBadProof, parts[1])
	}
	ts := parts[2]
	if ts == "" || len(ts) > 18 || (len(ts) > 1 && ts[0] == '0') || strings.TrimLeft(ts, "0123456789") != "" {
		return "", "", 0, fmt.Errorf("%w: %q is not a time in seconds", ErrBadProof, ts)
	}
	unix, _ = strconv.ParseInt(ts, 10, 64)
	return parts[0], parts[1], unix, nil
}

// ValidKeyID reports whether s has the shape of a SHA-256 JWK thumbprint in
// unpadded base64url.
func ValidKeyID(s string) bool {
	if len(s) != 43 {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == 32
}

// Proof is a key registration: the public JWK, the time the proof was made
// and the signature of ProofMessage by the key's private half.
type Proof struct {
	// JWK is the Ed25519 public key (kty OKP, crv Ed25519, x). A "kid" in
	// it is ignored: the keyid is always the computed thumbprint.
	JWK json.RawMessage `json:"jwk"`
	// Timestamp is the proof's time in Unix seconds.
	Timestamp int64 `json:"timestamp"`
	// Signature is the Ed25519 signature of ProofMessage in base64 (standard
	// or URL alphabet, padded or not).
	Signature string `json:"signature"`
	// DirectoryProof, optional, is the key's own possession proof for the
	// operator's hosted directory (see DirectoryProof); without one, the
	// key is served unproven and verifiers that use proven keys only
	// (Cloudflare's) do not use it. Proof.Verify does not check it; the
	// store does.
	DirectoryProof *DirectoryProof `json:"directory_proof,omitempty"`
}

// SignProof makes the proof that registers priv's public key for operatorID
// at time now.
func SignProof(priv ed25519.PrivateKey, operatorID string, now time.Time) (Proof, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return Proof{}, errors.New("registry: not an Ed25519 private key")
	}
	k, err := botauth.NewKey(priv.Public().(ed25519.PublicKey))
	if err != nil {
		return Proof{}, err
	}
	ts := now.Unix()
	sig := ed25519.Sign(priv, ProofMessage(operatorID, k.ID, ts))
	return Proof{JWK: k.JWK(), Timestamp: ts, Signature: base64.StdEncoding.EncodeToString(sig)}, nil
}

// Verify checks the proof for operatorID at time now and returns the key.
// Errors wrap ErrInvalidJWK, ErrNotEd25519 or ErrBadProof.
func (p Proof) Verify(operatorID string, now time.Time) (botauth.Key, error) {
	key, err := ParsePublicJWK(p.JWK)
	if err != nil {
		return botauth.Key{}, err
	}
	at := time.Unix(p.Timestamp, 0)
	if d := now.Sub(at); d > ProofWindow || d < -ProofWindow {
		return botauth.Key{}, fmt.Errorf("%w: timestamp %d is %s away from the server's clock (%d); sign a fresh proof (at most %s either way)",
			ErrBadProof, p.Timestamp, d.Round(time.Second).Abs(), now.Unix(), ProofWindow)
	}
	sig, err := decodeSignature(p.Signature)
	if err != nil {
		return botauth.Key{}, err
	}
	if !ed25519.Verify(key.Public, ProofMessage(operatorID, key.ID, p.Timestamp), sig) {
		return botauth.Key{}, fmt.Errorf("%w: the signature does not verify with key %s over %q",
			ErrBadProof, key.ID, ProofMessage(operatorID, key.ID, p.Timestamp))
	}
	return key, nil
}

func decodeSignature(s string) ([]byte, error) {
	b, err := botauth.DecodeSignature(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadProof, err)
	}
	return b, nil
}

// ParsePublicJWK reads an Ed25519 public JWK and computes its keyid. A JWK
// that is not a JSON object, lacks kty, carries private material ("d") or
// has a bad "x" wraps ErrInvalidJWK; a well-formed key of another type or
// curve wraps ErrNotEd25519.
func ParsePublicJWK(b []byte) (botauth.Key, error) {
	if len(b) == 0 {
		return botauth.Key{}, fmt.Errorf("%w: no JWK given", ErrInvalidJWK)
	}
	if len(b) > maxJWK {
		return botauth.Key{}, fmt.Errorf("%w: JWK over %d bytes", ErrInvalidJWK, maxJWK)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(b, &probe); err != nil || probe == nil {
		return botauth.Key{}, fmt.Errorf("%w: not a JSON object", ErrInvalidJWK)
	}
	if _, ok := probe["d"]; ok {
		return botauth.Key{}, fmt.Errorf("%w: the JWK carries a private key (\"d\"); send only the public key and never share the private one", ErrInvalidJWK)
	}
	var kty, crv string
	if err := json.Unmarshal(probe["kty"], &kty); err != nil || kty == "" {
		return botauth.Key{}, fmt.Errorf("%w: missing or non-string \"kty\"", ErrInvalidJWK)
	}
	if raw, ok := probe["crv"]; ok {
		if err := json.Unmarshal(raw, &crv); err != nil {
			return botauth.Key{}, fmt.Errorf("%w: non-string \"crv\"", ErrInvalidJWK)
		}
	}
	if kty != "OKP" || crv != "Ed25519" {
		return botauth.Key{}, fmt.Errorf("%w: got kty %q crv %q, want kty \"OKP\" crv \"Ed25519\"", ErrNotEd25519, kty, crv)
	}
	k, err := botauth.ParseKey(b)
	if err != nil {
		return botauth.Key{}, fmt.Errorf("%w: %v", ErrInvalidJWK, err)
	}
	return k, nil
}
