package finance

import (
	"crypto/sha256"
	"strings"
	"testing"
	"time"
)

// FuzzSessionDecode feeds hostile cookie values to the session decoder: it
// never panics, and the only values it accepts are ones the server signed.
func FuzzSessionDecode(f *testing.F) {
	sum := sha256.Sum256([]byte("token"))
	s := &Server{
		secret: []byte(strings.Repeat("s", 32)),
		tokens: []tokenEntry{{Token: Token{Name: "alice", Role: RoleFinance}, sum: sum[:]}},
		ttl:    time.Hour,
		now:    func() time.Time { return time.Unix(1_800_000_000, 0) },
	}
	valid := s.encode(s.newSession(s.tokens[0]))
	f.Add(valid)
	f.Add("eyJuIjoiYWxpY2UifQ.AAAA")
	f.Add(".")
	f.Add(strings.Repeat("a", 2000))
	f.Fuzz(func(t *testing.T, v string) {
		ss, ok := s.decode(v)
		if !ok {
			return
		}
		payload, _, _ := strings.Cut(v, ".")
		signed, _, _ := strings.Cut(s.encode(ss), ".")
		if payload != signed {
			// Only the payload the server signed carries a valid MAC,
			// short of forging HMAC-SHA256.
			t.Fatalf("accepted a payload the server did not sign: %q", v)
		}
	})
}
