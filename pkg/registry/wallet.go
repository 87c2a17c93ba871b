package registry

import (
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/crypto/sha3"
)

// ParseWallet reads an EVM address: "0x" and 40 hex digits (20 bytes),
// either all lower-case or in the mixed-case EIP-55 checksum form, whose
// checksum must then be right. The zero address is refused. It returns the
// address in checksum form. Errors wrap ErrInvalidBilling.
func ParseWallet(s string) (string, error) {
	if len(s) != 42 || !(strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X")) {
		return "", fmt.Errorf("%w: wallet %q is not 0x and 40 hex digits", ErrInvalidBilling, truncate(s, 64))
	}
	digits := s[2:]
	raw, err := hex.DecodeString(digits)
	if err != nil {
		return "", fmt.Errorf("%w: wallet %q is not 0x and 40 hex digits", ErrInvalidBilling, s)
	}
	allZero := true
	for _, b := range raw {
		if b != 0 {
			allZero = false
		}
	}
	if allZero {
		return "", fmt.Errorf("%w: the zero address cannot pay", ErrInvalidBilling)
	}
	sum := ChecksumAddress(raw)
	if digits != strings.ToLower(digits) && "0x"+digits != sum {
		return "", fmt.Errorf("%w: wallet %s fails its EIP-55 checksum (want %s); check for a typo, or give it in lower case", ErrInvalidBilling, s, sum)
	}
	return sum, nil
}

// ChecksumAddress formats a 20-byte address in EIP-55 mixed-case form.
func ChecksumAddress(addr []byte) string {
	lower := hex.EncodeToString(addr)
	h := sha3.NewLegacyKeccak256()
	h.Write([]byte(lower))
	hash := h.Sum(nil)
	out := []byte(lower)
	for i, c := range out {
		if c < 'a' {
			continue // a digit
		}
		nibble := hash[i/2]
		if i%2 == 0 {
			nibble >>= 4
		}
		if nibble&0x0f >= 8 {
			out[i] = c - 'a' + 'A'
		}
	}
	return "0x" + string(out)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
