package deferred

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/dunglas/httpsfv"
	"github.com/yaronf/httpsign"
)

// checkProofs verifies the possession proofs of a directory response: one
// signature per key, tag http-message-signatures-directory, covering
// "@authority";req and content-digest, with Content-Digest matching the body.
// It returns the ids of the keys whose proof is valid, and whether the
// response carried any proof at all.
func checkProofs(resp http.Header, body []byte, reqURL *url.URL, keys []Key, now time.Time, skew time.Duration) (valid map[string]bool, signed bool, problems []string) {
	valid = map[string]bool{}
	inputs, sigs := resp.Values("Signature-Input"), resp.Values("Signature")
	if len(inputs) == 0 && len(sigs) == 0 {
		return valid, false, nil
	}
	signed = true
	inDict, err := httpsfv.UnmarshalDictionary(inputs)
	if err != nil {
		return valid, true, []string{"Signature-Input: " + err.Error()}
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
			problems = append(problems, label+": not an inner list")
			continue
		}
		if t, _ := list.Params.Get("tag"); t != TagDirectory {
			continue
		}
		kid, _ := list.Params.Get("keyid")
		keyID, _ := kid.(string)
		key, ok := byID[keyID]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: proof for key %q that the directory does not list", label, keyID))
			continue
		}
		if err := checkProofShape(list, now, skew); err != nil {
			problems = append(problems, fmt.Sprintf("%s (key %s): %v", label, keyID, err))
			continue
		}
		if !digestChecked {
			digestChecked = true
			rc := io.NopCloser(bytes.NewReader(body))
			digestErr = httpsign.ValidateContentDigestHeader(resp.Values("Content-Digest"), &rc, []string{httpsign.DigestSha256, httpsign.DigestSha512})
		}
		if digestErr != nil {
			problems = append(problems, fmt.Sprintf("%s (key %s): Content-Digest: %v", label, keyID, digestErr))
			continue
		}
		if err := verifyProof(resp, label, reqURL, key.Public); err != nil {
			problems = append(problems, fmt.Sprintf("%s (key %s): %v", label, keyID, err))
			continue
		}
		valid[keyID] = true
	}
	return valid, true, problems
}

// checkProofShape requires created (not in the future), expires (not past)
// and coverage of "@authority";req and content-digest.
func checkProofShape(list httpsfv.InnerList, now time.Time, skew time.Duration) error {
	c, _ := list.Params.Get("created")
	created, ok := c.(int64)
	if !ok {
		return fmt.Errorf("no created parameter")
	}
	if time.Unix(created, 0).After(now.Add(skew)) {
		return fmt.Errorf("created %d is in the future", created)
	}
	if e, ok := list.Params.Get("expires"); ok {
		exp, isInt := e.(int64)
		if !isInt || now.After(time.Unix(exp, 0).Add(skew)) {
			return fmt.Errorf("proof expired")
		}
	}
	var authority, digest bool
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
	if !authority || !digest {
		return fmt.Errorf("proof must cover \"@authority\";req and \"content-digest\"")
	}
	return nil
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

// SignDirectory adds possession proofs to a directory response: a
// Content-Digest of body and, for each private key, a signature labelled
// "proof<i>" covering "@authority";req and content-digest, valid for
// validity. authority is the directory's host[:port] as clients reach it.
// Operators who host their own directory use it; so do tests.
func SignDirectory(h http.Header, body []byte, authority string, keys []ed25519.PrivateKey, validity time.Duration) error {
	rc := io.NopCloser(bytes.NewReader(body))
	digest, err := httpsign.GenerateContentDigestHeader(&rc, []string{httpsign.DigestSha256})
	if err != nil {
		return err
	}
	h.Set("Content-Digest", digest)
	req := &http.Request{Method: http.MethodGet, Host: authority, URL: &url.URL{Scheme: "https", Host: authority, Path: WellKnownDirectoryPath}, Header: http.Header{}}
	for i, priv := range keys {
		k, err := NewKey(priv.Public().(ed25519.PublicKey))
		if err != nil {
			return err
		}
		cfg := httpsign.NewSignConfig().SignAlg(false).SetTag(TagDirectory).SetKeyID(k.ID).SetExpiresAfter(int64(validity / time.Second))
		fields := httpsign.NewFields().AddHeaderExt("@authority", false, false, true, false).AddHeader("content-digest")
		signer, err := httpsign.NewEd25519Signer(priv, cfg, *fields)
		if err != nil {
			return err
		}
		res := &http.Response{StatusCode: http.StatusOK, Header: h}
		label := fmt.Sprintf("proof%d", i)
		in, sig, err := httpsign.SignResponse(label, *signer, res, req)
		if err != nil {
			return err
		}
		h.Add("Signature-Input", in)
		h.Add("Signature", sig)
	}
	return nil
}
