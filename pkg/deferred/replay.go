package deferred

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
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
	s := sha256.Sum256(sig)
	ids = append(ids, "s:"+base64.RawURLEncoding.EncodeToString(s[:16]))
	return ids
}
