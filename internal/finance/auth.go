package finance

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"

	"github.com/paycrawl/paycrawl/internal/httpx"
)

// principal is who a request comes from.
type principal struct {
	Name string
	Role Role
}

// lookup returns the configured token whose hash is the token's. Every
// entry is compared, in constant time, so the time taken says nothing about
// which one (if any) matched.
func (s *Server) lookup(token string) (tokenEntry, bool) {
	if token == "" {
		return tokenEntry{}, false
	}
	sum := sha256.Sum256([]byte(token))
	var found tokenEntry
	ok := 0
	for _, t := range s.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.sum) == 1 {
			found, ok = t, 1
		}
	}
	return found, ok == 1
}

// bearer authenticates an API request by its Authorization header.
func (s *Server) bearer(r *http.Request) (principal, bool) {
	tok, ok := httpx.BearerToken(r)
	if !ok {
		return principal{}, false
	}
	t, ok := s.lookup(tok)
	if !ok {
		return principal{}, false
	}
	return principal{Name: t.Name, Role: t.Role}, true
}

// apiHandler is an API handler that knows who calls.
type apiHandler func(w http.ResponseWriter, r *http.Request, p principal) error

// api authenticates a request with its bearer token, checks that the role
// may act if act is set, and writes the handler's error as JSON.
func (s *Server) api(act bool, h apiHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="paycrawl-finance"`)
			httpx.WriteError(w, r, httpx.Errorf(http.StatusUnauthorized, "unauthorized",
				"a finance or viewer bearer token is required (Authorization: Bearer …)"))
			return
		}
		if act && !p.Role.CanAct() {
			httpx.WriteError(w, r, httpx.Errorf(http.StatusForbidden, "forbidden",
				"token %s has the %s role, which may read but not act; a finance token is required", p.Name, p.Role))
			return
		}
		if err := h(w, r, p); err != nil {
			httpx.WriteError(w, r, apiError(err))
		}
	})
}
