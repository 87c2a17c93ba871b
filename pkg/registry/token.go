package registry

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// TokenPrefix starts every operator API token.
const TokenPrefix = "pct_"

// tokenBytes is the entropy of an API token.
const tokenBytes = 32

// tokenLen is the length of a token: the prefix and 32 bytes in unpadded
// base64url.
var tokenLen = len(TokenPrefix) + base64.RawURLEncoding.EncodedLen(tokenBytes)

// NewToken returns a fresh API token, "pct_" and 32 random bytes in base64url,
// and its digest (HashToken), the only form that is stored.
func NewToken(rand io.Reader) (token, digest string, err error) {
	b := make([]byte, tokenBytes)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", "", fmt.Errorf("registry: token: %w", err)
	}
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}

// HashToken is the lower-case hex SHA-256 of a token, the form tokens are
// stored and looked up by.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ParseToken checks that s has the shape of an API token and returns its
// digest. It says nothing about whether the token is known.
func ParseToken(s string) (digest string, err error) {
	if len(s) != tokenLen || !strings.HasPrefix(s, TokenPrefix) {
		return "", fmt.Errorf("%w: not a paycrawl API token (pct_…)", ErrUnauthorized)
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s[len(TokenPrefix):])
	if err != nil || len(b) != tokenBytes {
		return "", fmt.Errorf("%w: not a paycrawl API token (pct_…)", ErrUnauthorized)
	}
	return HashToken(s), nil
}

// OperatorIDPrefix starts every operator id.
const OperatorIDPrefix = "op_"

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewOperatorID returns "op_" and 10 random bytes in lower-case base32
// (16 characters).
func NewOperatorID(rand io.Reader) (string, error) {
	b := make([]byte, 10)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("registry: operator id: %w", err)
	}
	return OperatorIDPrefix + idEncoding.EncodeToString(b), nil
}

// ValidOperatorID reports whether s has the shape of an operator id.
func ValidOperatorID(s string) bool {
	if len(s) != len(OperatorIDPrefix)+16 || !strings.HasPrefix(s, OperatorIDPrefix) {
		return false
	}
	for _, c := range s[len(OperatorIDPrefix):] {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}
