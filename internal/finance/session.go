package finance

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Cookie names.
const (
	sessionCookie = "paycrawl_finance"
	// csrfField is the hidden form field that carries the CSRF token.
	csrfField = "csrf"
)

// session is what the session cookie carries, signed: who, with what role,
// until when. It never carries the token itself.
type session struct {
	Name string `json:"n"`
	Role Role   `json:"r"`
	// Exp is the expiry, unix seconds.
	Exp int64 `json:"e"`
	// ID is random per login; the CSRF token derives from it.
	ID string `json:"i"`
	// Key fingerprints the token the session was opened with, so that
	// rotating or removing a token ends its sessions.
	Key string `json:"k"`
}

// mac returns HMAC-SHA256 of the parts under the server's secret, with a
// purpose prefix so that a session signature is never a valid CSRF token
// and the other way round.
func (s *Server) mac(purpose string, parts ...string) []byte {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(purpose))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// fingerprint names a configured token without revealing its hash.
func (s *Server) fingerprint(t tokenEntry) string {
	return hex.EncodeToString(s.mac("token", t.Name, string(t.Role), hex.EncodeToString(t.sum))[:12])
}

// newSession opens a session for token t.
func (s *Server) newSession(t tokenEntry) session {
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	return session{Name: t.Name, Role: t.Role, Exp: s.now().Add(s.ttl).Unix(),
		ID: hex.EncodeToString(id), Key: s.fingerprint(t)}
}

// encode signs the session into a cookie value: payload "." signature.
func (s *Server) encode(ss session) string {
	b, _ := json.Marshal(ss)
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac("session", payload))
}

// decode checks a cookie value's signature (in constant time), its expiry,
// and that its token is still configured with the same role.
func (s *Server) decode(v string) (session, bool) {
	payload, sig, ok := strings.Cut(v, ".")
	if !ok || len(v) > 1024 {
		return session{}, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac("session", payload)) {
		return session{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return session{}, false
	}
	var ss session
	if err := json.Unmarshal(b, &ss); err != nil || s.now().Unix() >= ss.Exp {
		return session{}, false
	}
	for _, t := range s.tokens {
		if t.Name == ss.Name && t.Role == ss.Role && hmac.Equal([]byte(s.fingerprint(t)), []byte(ss.Key)) {
			return ss, true
		}
	}
	return session{}, false
}

// csrf is the session's CSRF token: an HMAC of its id.
func (s *Server) csrf(ss session) string {
	return hex.EncodeToString(s.mac("csrf", ss.ID))
}

// checkCSRF compares a form's CSRF token with the session's, in constant
// time.
func (s *Server) checkCSRF(ss session, got string) bool {
	return hmac.Equal([]byte(got), []byte(s.csrf(ss)))
}

// sameOrigin refuses a cross-site form post: a browser sends Origin with
// every POST, and it must be this server. (SameSite=Strict cookies and the
// CSRF token already stop such posts; this is one more lock.)
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return o == "" // old browsers send none; "null" is an opaque origin
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// setSession sets the session cookie: HttpOnly (no script reads it),
// SameSite=Strict (no other site's page sends it), Secure over TLS or when
// configured.
func (s *Server) setSession(w http.ResponseWriter, r *http.Request, ss session) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.encode(ss), Path: "/",
		Expires: time.Unix(ss.Exp, 0), HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: s.cfg.SecureCookies || r.TLS != nil})
}

// clearSession removes the session cookie.
func (s *Server) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.cfg.SecureCookies || r.TLS != nil})
}

// sessionOf returns the request's valid session, if any.
func (s *Server) sessionOf(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	return s.decode(c.Value)
}
