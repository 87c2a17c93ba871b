package httpx

import (
	"net/http"
	"strings"
)

// BearerToken returns the request's bearer token (RFC 6750 §2.1): the
// Authorization field's credentials when its scheme is Bearer, in any case
// (auth schemes are case-insensitive, RFC 9110 §11.1), after one or more
// spaces. It reports false when there is no such non-empty token.
func BearerToken(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false
	}
	return tok, true
}
