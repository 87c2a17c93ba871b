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
	// Both ids are cut from one string.
	var b [2 * replayIDLen]byte
	out := b[:0]
	if nonce != "" {
		var sum [sha256.Size]byte
		if n := len(keyID) + 1 + len(nonce); n <= 512 {
			var in [512]byte
			copy(in[copy(in[:], keyID)+1:], nonce)
			sum = sha256.Sum256(in[:n])
		} else {
			h := sha256.New()
			h.Write([]byte(keyID))
			h.Write([]byte{0})
			h.Write([]byte(nonce))
			h.Sum(sum[:0])
		}
		out = base64.RawURLEncoding.AppendEncode(append(out, "n:"...), sum[:16])
	}
	out = appendSignatureID(out, sig)
	all := string(out)
	if nonce == "" {
		return []string{all}
	}
	return []string{all[:replayIDLen], all[replayIDLen:]}
}

// replayIDLen is the length of a replay id: a prefix of two bytes and the
// base64url of 16 bytes.
const replayIDLen = 2 + 22

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
	var b [replayIDLen]byte
	return string(appendSignatureID(b[:0], sig))
}

func appendSignatureID(b, sig []byte) []byte {
	s := sha256.Sum256(sig)
	return base64.RawURLEncoding.AppendEncode(append(b, "s:"...), s[:16])
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
