package deferred

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"
	"github.com/paycrawl/paycrawl/pkg/botauth"
	"github.com/yaronf/httpsign"
)

// ProofPolicy decides which keys of a directory response a DirectoryClient
// uses, by their possession proofs: signatures of the response with tag
// http-message-signatures-directory, one per key, made by the key itself
// (draft-meunier-webbotauth-httpsig-protocol, "Validating the Domain
// Binding"). A key whose proof is present and fails is never used; the
// policy decides about keys without a valid proof.
type ProofPolicy string

// The proof policies.
const (
	// ProofIfSigned, the default (""), uses only proven keys when the
	// response carries a proof for any key it lists, as Cloudflare does
	// ("only keys for which you provide a signature are used"), and every
	// key of a response that carries none: the draft lets a verifier use
	// keys it resolved itself with or without proof, and unsigned
	// directories (older agents, ours until late 2026) keep working.
	// Signatures by keys the directory does not list prove nothing about
	// its keys and do not make it signed.
	ProofIfSigned ProofPolicy = "if_signed"
	// ProofRequired uses proven keys only: an unsigned directory yields
	// none. That is Cloudflare's production rule.
	ProofRequired ProofPolicy = "required"
	// ProofOptional uses every key that has no failing proof.
	ProofOptional ProofPolicy = "optional"
)

// ParseProofPolicy reads a policy name; "" is ProofIfSigned.
func ParseProofPolicy(s string) (ProofPolicy, error) {
	switch p := ProofPolicy(s); p {
	case "", ProofIfSigned:
		return ProofIfSigned, nil
	case ProofRequired, ProofOptional:
		return p, nil
	}
	return "", fmt.Errorf("deferred: directory proof policy %q: want %s, %s or %s", s, ProofIfSigned, ProofRequired, ProofOptional)
}

// proofSkew is how far in the future a proof's created may be.
const proofSkew = 30 * time.Second

// proofs is what checkProofs found out about a directory response.
type proofs struct {
	// valid and invalid hold the ids of keys with a valid proof and with a
	// failing one (a key may have both; valid wins).
	valid, invalid map[string]bool
	// digested holds the ids of keys with a valid proof that covers
	// content-digest, binding the body.
	digested map[string]bool
	// signed: the response carries a proof for a key it lists, or
	// signature fields that do not parse.
	signed bool
	// problems describe each failure, for the logs.
	problems []string
}

// use reports whether policy p uses key id.
func (pr proofs) use(p ProofPolicy, id string) bool {
	switch {
	case pr.valid[id]:
		return true
	case pr.invalid[id]:
		return false
	case p == ProofRequired:
		return false
	case p == ProofOptional:
		return true
	}
	return !pr.signed
}

// checkProofs judges the possession proofs of a directory response, each
// key on its own: a proof is a signature with tag
// http-message-signatures-directory, keyid naming a key the response lists,
// covering "@authority";req (Cloudflare's library covers only that) and,
// when it covers content-digest too (draft -02's MUST), with a
// Content-Digest that matches body; created must not be later than now
// plus skew and expires must be present and not past.
func checkProofs(resp http.Header, body []byte, reqURL *url.URL, keys []Key, now time.Time, skew time.Duration) proofs {
	pr := proofs{valid: map[string]bool{}, invalid: map[string]bool{}, digested: map[string]bool{}}
	inputs, sigs := resp.Values("Signature-Input"), resp.Values("Signature")
	if len(inputs) == 0 {
		if len(sigs) > 0 {
			pr.signed = true
			pr.problems = append(pr.problems, "Signature without Signature-Input")
		}
		return pr
	}
	inDict, err := httpsfv.UnmarshalDictionary(inputs)
	if err != nil {
		pr.signed = true
		pr.problems = append(pr.problems, "Signature-Input: "+err.Error())
		return pr
	}
	byID := make(map[string]Key, len(keys))
	for _, k := range keys {
		byID[k.ID] = k
	}
	digestChecked, digestErr := false, error(nil)
	for _, label := range inDict.Names() {
		m, _ := inDict.Get(label)
		list, ok := m.(httpsfv.InnerList)
		if !ok {
			continue
		}
		if t, _ := list.Params.Get("tag"); t != TagDirectory {
			continue
		}
		kid, _ := list.Params.Get("keyid")
		keyID, _ := kid.(string)
		key, ok := byID[keyID]
		if !ok {
			pr.problems = append(pr.problems, fmt.Sprintf("%s: signed by key %q, which the directory does not list: no proof for any of its keys", label, keyID))
			continue
		}
		pr.signed = true
		fail := func(err error) {
			pr.invalid[keyID] = true
			pr.problems = append(pr.problems, fmt.Sprintf("%s (key %s): %v", label, keyID, err))
		}
		digest, err := checkProofShape(list, now, skew)
		if err != nil {
			fail(err)
			continue
		}
		if digest {
			if !digestChecked {
				digestChecked = true
				rc := io.NopCloser(bytes.NewReader(body))
				digestErr = httpsign.ValidateContentDigestHeader(resp.Values("Content-Digest"), &rc, []string{httpsign.DigestSha256, httpsign.DigestSha512})
			}
			if digestErr != nil {
				fail(fmt.Errorf("Content-Digest: %v", digestErr))
				continue
			}
		}
		if err := verifyProof(resp, label, reqURL, key.Public); err != nil {
			fail(err)
			continue
		}
		pr.valid[keyID] = true
		if digest {
			pr.digested[keyID] = true
		}
	}
	return pr
}

// VerifyDirectoryProof checks that a directory response (headers and body,
// fetched from reqURL) carries a valid signature by key with tag
// http-message-signatures-directory, covering "@authority";req and
// content-digest, whether or not the body lists key: a verifier that
// trusts the signer of a hosted directory (such as a key directory's own
// key, published at its well-known directory) checks its signature so.
// Unlike a possession proof it must cover content-digest, since the key
// vouches for the body, not for itself.
func VerifyDirectoryProof(resp http.Header, body []byte, reqURL *url.URL, key Key, now time.Time) error {
	pr := checkProofs(resp, body, reqURL, []Key{key}, now, proofSkew)
	switch {
	case pr.digested[key.ID]:
		return nil
	case pr.valid[key.ID]:
		return fmt.Errorf("deferred: the signature by %s does not cover content-digest", key.ID)
	case len(pr.problems) > 0:
		return fmt.Errorf("deferred: no valid signature by %s: %s", key.ID, strings.Join(pr.problems, "; "))
	}
	return fmt.Errorf("deferred: no signature by %s", key.ID)
}

// checkProofShape requires created (not in the future beyond skew),
// expires (not past) and coverage of "@authority";req; it reports whether
// content-digest is covered too. Other covered components are left to the
// signature check, which fails when the response lacks them.
func checkProofShape(list httpsfv.InnerList, now time.Time, skew time.Duration) (digest bool, err error) {
	c, _ := list.Params.Get("created")
	created, ok := c.(int64)
	if !ok {
		return false, fmt.Errorf("no created parameter")
	}
	if time.Unix(created, 0).After(now.Add(skew)) {
		return false, fmt.Errorf("created %d is in the future", created)
	}
	e, ok := list.Params.Get("expires")
	exp, isInt := e.(int64)
	if !ok || !isInt {
		return false, fmt.Errorf("no expires parameter: a directory proof must expire")
	}
	if exp < created {
		return false, fmt.Errorf("expires %d is before created %d", exp, created)
	}
	if now.After(time.Unix(exp, 0).Add(skew)) {
		return false, fmt.Errorf("proof expired at %d", exp)
	}
	var authority bool
	for _, it := range list.Items {
		name, _ := it.Value.(string)
		req, _ := it.Params.Get("req")
		switch {
		case name == "@authority" && req == true:
			authority = true
		case name == "content-digest":
			digest = true
		}
	}
	if !authority {
		return false, fmt.Errorf("proof must cover \"@authority\";req")
	}
	return digest, nil
}

func verifyProof(resp http.Header, label string, reqURL *url.URL, pub ed25519.PublicKey) error {
	u := *reqURL
	msg, err := httpsign.NewMessage(httpsign.NewMessageConfig().
		WithStatusCode(http.StatusOK).
		WithHeaders(resp).
		WithAssociatedRequest(http.MethodGet, &u, http.Header{}, NormalizeAuthority(reqURL.Host, reqURL.Scheme), reqURL.Scheme))
	if err != nil {
		return err
	}
	cfg := httpsign.NewVerifyConfig().SetVerifyCreated(false).SetRejectExpired(false)
	v, err := httpsign.NewEd25519Verifier(pub, cfg, *httpsign.NewFields())
	if err != nil {
		return err
	}
	_, err = msg.Verify(label, *v)
	return err
}

// DirectoryProof says how SignDirectoryProofs signs a directory response.
type DirectoryProof struct {
	// Authority is the directory's host[:port] as verifiers reach it (the
	// request's @authority: lower case, default port dropped).
	Authority string
	// Created and Expires bound the proof; Expires must be after Created.
	Created, Expires time.Time
	// NoDigest leaves content-digest uncovered and no Content-Digest set:
	// exactly what Cloudflare's library (directoryResponseHeaders) signs.
	// By default content-digest is covered, as draft -02 requires.
	NoDigest bool
	// Label names the signatures: "" labels the i-th "binding<i>", as
	// Cloudflare's library does; otherwise the first is Label and the
	// i-th (i > 0) Label<i>. A label is not part of the signature base
	// (RFC 9421 §2.5, §7.2.5), so a signature can be relabelled.
	Label string
}

// DirectoryProofParams is the Signature-Input member value (inner list and
// parameters, no label) of a directory proof by keyID in Cloudflare's
// order: ("@authority";req) or ("@authority";req "content-digest"), then
// created, keyid, alg="ed25519", expires and
// tag="http-message-signatures-directory".
func DirectoryProofParams(keyID string, created, expires time.Time, digest bool) string {
	return botauth.DirectoryProofParams(keyID, created, expires, digest)
}

// DirectoryProofBase is the RFC 9421 signature base of a directory proof
// with the given Signature-Input member value (DirectoryProofParams) over a
// response to a request for authority (lower-cased here); contentDigest is
// the Content-Digest field value when params cover content-digest, else "".
func DirectoryProofBase(authority, params, contentDigest string) []byte {
	return botauth.DirectoryProofBase(authority, params, contentDigest)
}

// ProofLabel is the label of the i-th signature SignDirectoryProofs makes
// with label prefix label ("" for Cloudflare's binding<i>).
func ProofLabel(label string, i int) string {
	switch {
	case label == "":
		return "binding" + strconv.Itoa(i)
	case i == 0:
		return label
	}
	return label + strconv.Itoa(i)
}

// SignDirectoryProofs adds proofs to a directory response in the shape of
// Cloudflare's directoryResponseHeaders: for the i-th key, a signature
// labelled "binding<i>" (or as p.Label says) with tag http-message-signatures-directory, the
// parameters created, keyid (the key's thumbprint), alg="ed25519" and
// expires, covering "@authority";req and, unless p.NoDigest,
// content-digest (set here from body, sha-256). Several signatures share
// one Signature-Input and one Signature field, joined with ", ".
func SignDirectoryProofs(h http.Header, body []byte, keys []ed25519.PrivateKey, p DirectoryProof) error {
	if p.Authority == "" || !p.Expires.After(p.Created) {
		return fmt.Errorf("deferred: a directory proof needs an authority and expires after created")
	}
	var digest string
	if !p.NoDigest {
		sum := sha256.Sum256(body)
		digest = "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
		h.Set("Content-Digest", digest)
	}
	var inputs, sigs []string
	for i, priv := range keys {
		pub, ok := priv.Public().(ed25519.PublicKey)
		if !ok || len(priv) != ed25519.PrivateKeySize {
			return fmt.Errorf("deferred: directory key %d is not an Ed25519 private key", i)
		}
		k, err := NewKey(pub)
		if err != nil {
			return err
		}
		params := DirectoryProofParams(k.ID, p.Created, p.Expires, !p.NoDigest)
		label := ProofLabel(p.Label, i)
		inputs = append(inputs, label+"="+params)
		sigs = append(sigs, label+"=:"+base64.StdEncoding.EncodeToString(ed25519.Sign(priv, DirectoryProofBase(p.Authority, params, digest)))+":")
	}
	h.Set("Signature-Input", strings.Join(inputs, ", "))
	h.Set("Signature", strings.Join(sigs, ", "))
	return nil
}

// SignDirectory adds possession proofs to a directory response: a
// Content-Digest of body and, for each private key, a signature covering
// "@authority";req and content-digest, created now and valid for validity
// (see SignDirectoryProofs, which it calls). authority is the directory's
// host[:port] as clients reach it. Operators who host their own directory
// use it; so do tests.
func SignDirectory(h http.Header, body []byte, authority string, keys []ed25519.PrivateKey, validity time.Duration) error {
	now := time.Now()
	return SignDirectoryProofs(h, body, keys, DirectoryProof{Authority: authority, Created: now, Expires: now.Add(validity)})
}
