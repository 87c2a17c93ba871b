package deferred

import (
	"net/http"
	"strings"
)

// headerValues is h.Values(name) without the allocation of the canonical
// key that h.Values makes for a name not in canonical form ("crawler-max-price",
// a covered component's lower-case name): the key is canonicalized, as
// textproto.CanonicalMIMEHeaderKey does, in a buffer on the stack.
func headerValues(h http.Header, name string) []string {
	var buf [64]byte
	if len(name) > len(buf) {
		return h.Values(name)
	}
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isTokenByte(c) {
			// textproto leaves such a key as it is.
			return h.Values(name)
		}
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
		upper = c == '-'
	}
	return h[string(buf[:len(name)])]
}

// isTokenByte reports a byte of an RFC 9110 token, the bytes a header name
// textproto canonicalizes is made of.
func isTokenByte(c byte) bool {
	return isAlpha(c) || isDigit(c) || c < 0x80 && c > 0x20 && strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
