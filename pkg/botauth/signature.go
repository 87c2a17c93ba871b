package botauth

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
)

// DecodeSignature reads an Ed25519 signature written in base64 with either
// alphabet, padded or not (strictly: no stray bits), and checks its length.
// Callers wrap the error in their own refusal.
func DecodeSignature(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.Strict().DecodeString(s); err == nil {
			if len(b) != ed25519.SignatureSize {
				return nil, fmt.Errorf("signature is %d bytes, want %d", len(b), ed25519.SignatureSize)
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("signature is not base64")
}
