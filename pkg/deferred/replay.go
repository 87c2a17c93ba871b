package deferred

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"

	"github.com/dunglas/httpsfv"
)

// ReplayGuard tells whether a signature was already used. Verification asks
// it read-only; the ledger records the ids atomically with the commitment, so
// two racing copies of one signature can never both be charged.
type ReplayGuard interface {
	// Seen reports whether any of ids was recorded for account within its
	// signature's validity window.
	Seen(ctx context.Context, account string, ids []string) (bool, error)
}

// ReplayIDs returns the replay ids of a signature: one for (keyid, nonce) when
// there is a nonce, and one for the signature bytes. Both are short opaque
// strings fit for a storage key.
func ReplayIDs(keyID, nonce string, sig []byte) []string {
	ids := make([]string, 0, 2)
	if nonce != "" {
		h := sha256.New()
		h.Write([]byte(keyID))
		h.Write([]byte{0})
		h.Write([]byte(nonce))
		ids = append(ids, "n:"+base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16]))
	}
	return append(ids, SignatureID(sig))
}

// ReplayKeys returns how many of a signature's ReplayIDs, from the first,
// the replay guard must record (pkg/ledger's Commitment.ReplayKeys): 1 when
// the signature has a nonce, 0 (all) otherwise. The (keyid, nonce) id alone
// catches every copy of a signature with a nonce: the nonce and the key are
// among what the signature covers, so a copy, however its bytes are encoded,
// names them again. Without a nonce only the signature's bytes identify it.
// The signature id is still kept with the commitment, for reconciliation.
func ReplayKeys(nonce string) int {
	if nonce != "" {
		return 1
	}
	return 0
}

// SignatureID is the replay id of a signature's bytes: "s:" and the
// base64url of the first 16 bytes of their SHA-256. The ledger keeps it with
// each commitment, so that a crawler can match the requests it signed with
// what it was charged (SentSignatureID) without storing signatures whole.
func SignatureID(sig []byte) string {
	s := sha256.Sum256(sig)
	return "s:" + base64.RawURLEncoding.EncodeToString(s[:16])
}

// SentSignatureID returns the SignatureID of the first signature in a signed
// request's Signature header (the one Signer adds), or an error when the
// header holds no signature.
func SentSignatureID(h http.Header) (string, error) {
	d, err := httpsfv.UnmarshalDictionary(h.Values("Signature"))
	if err != nil {
		return "", fmt.Errorf("deferred: Signature header: %w", err)
	}
	names := d.Names()
	if len(names) == 0 {
		return "", errors.New("deferred: the request carries no signature")
	}
	m, _ := d.Get(names[0])
	it, ok := m.(httpsfv.Item)
	if !ok {
		return "", errors.New("deferred: the Signature member is not a byte sequence")
	}
	b, ok := it.Value.([]byte)
	if !ok {
		return "", errors.New("deferred: the Signature member is not a byte sequence")
	}
	return SignatureID(b), nil
}
