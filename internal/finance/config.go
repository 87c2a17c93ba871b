package finance

import (
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Role is what a token may do.
type Role string

// The roles.
const (
	// RoleFinance reads and acts: hold, release, void, approve, credit.
	RoleFinance Role = "finance"
	// RoleViewer only reads.
	RoleViewer Role = "viewer"
)

// CanAct reports whether r may change invoices.
func (r Role) CanAct() bool { return r == RoleFinance }

// DefaultSessionTTL is how long a web session lasts.
const DefaultSessionTTL = 8 * time.Hour

// minSecret is the shortest session secret accepted, in bytes.
const minSecret = 32

// Config is the finance interface's configuration (the settler's
// `finance:` section). The zero value is valid: no tokens (every request is
// refused with 401), a random session secret, 8 hour sessions.
type Config struct {
	// Tokens are the accepted bearer tokens.
	Tokens []Token `yaml:"tokens"`
	// SessionSecret signs web sessions and CSRF tokens: at least 32 bytes.
	// Empty means a random secret at start: sessions then end when the
	// process restarts, and replicas behind one address need a shared one.
	SessionSecret string `yaml:"session_secret"`
	// SessionTTL is how long a web session lasts; 0 means 8 hours.
	SessionTTL time.Duration `yaml:"session_ttl"`
	// SecureCookies marks cookies Secure (sent over HTTPS only). Set it
	// when a TLS proxy fronts the settler; requests that arrive over TLS
	// get Secure cookies anyway.
	SecureCookies bool `yaml:"secure_cookies"`
}

// Token is one accepted bearer token, stored as its SHA-256 so that the
// configuration holds no secret.
type Token struct {
	// Name identifies the person or tool; it is the actor recorded in
	// invoice histories. Letters, digits and -_.@ only.
	Name string `yaml:"name"`
	// Role is "finance" or "viewer".
	Role Role `yaml:"role"`
	// TokenSHA256 is the hex SHA-256 of the token: `printf %s "$TOKEN" |
	// sha256sum`.
	TokenSHA256 string `yaml:"token_sha256"`
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	names := map[string]bool{}
	hashes := map[string]bool{}
	for i, t := range c.Tokens {
		if err := validActor(t.Name); err != nil {
			bad("finance.tokens[%d].name: %v", i, err)
		}
		if names[t.Name] {
			bad("finance.tokens[%d].name %q: listed twice", i, t.Name)
		}
		names[t.Name] = true
		if t.Role != RoleFinance && t.Role != RoleViewer {
			bad("finance.tokens[%d].role %q: want finance or viewer", i, t.Role)
		}
		if b, err := hex.DecodeString(t.TokenSHA256); err != nil || len(b) != 32 {
			bad("finance.tokens[%d].token_sha256: want 64 hex digits (sha256sum of the token)", i)
		} else if hashes[hex.EncodeToString(b)] {
			bad("finance.tokens[%d].token_sha256: the same token is listed twice", i)
		} else {
			hashes[hex.EncodeToString(b)] = true
		}
	}
	if c.SessionSecret != "" && len(c.SessionSecret) < minSecret {
		bad("finance.session_secret: want at least %d bytes (or empty for a random one)", minSecret)
	}
	if c.SessionTTL < 0 {
		bad("finance.session_ttl %s: want a positive duration", c.SessionTTL)
	}
	return errors.Join(errs...)
}

// validActor checks a token name: 1 to 64 of letters, digits and -_.@.
func validActor(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("%q: want 1 to 64 characters", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == '@':
		default:
			return fmt.Errorf("%q: character %q not allowed (letters, digits, -_.@)", s, c)
		}
	}
	return nil
}
