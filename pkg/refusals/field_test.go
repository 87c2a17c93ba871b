package refusals

import (
	"testing"

	"github.com/paycrawl/paycrawl/pkg/deferred"
)

// A field read back from Redis parses to what was written, and any other
// string parses without a panic, or is skipped.
func FuzzParseField(f *testing.F) {
	f.Add("op_aaaaaaaaaaaaaaaa|blocked|crawler_blocked")
	f.Add("unverified|bad_signature|signature_invalid")
	f.Add("||")
	f.Add("a|b")
	f.Fuzz(func(t *testing.T, s string) {
		crawler, reason, code, ok := parseField(s)
		if ok && field(crawler, reason, deferred.Code(code)) != s {
			t.Fatalf("%q parsed to %q %q %q", s, crawler, reason, code)
		}
	})
}

func TestAttribute(t *testing.T) {
	for _, tt := range []struct {
		account string
		code    deferred.Code
		want    string
	}{
		{"op_aaaaaaaaaaaaaaaa", deferred.CodeBlocked, "op_aaaaaaaaaaaaaaaa"},
		{"op_aaaaaaaaaaaaaaaa", deferred.CodeOverCap, "op_aaaaaaaaaaaaaaaa"},
		{"op_aaaaaaaaaaaaaaaa", deferred.CodeReplay, Unverified},
		{"op_aaaaaaaaaaaaaaaa", deferred.CodeSignatureInvalid, Unverified},
		{"", deferred.CodeBlocked, Unverified},
		{"op_a|b", deferred.CodeBlocked, Unverified},
		{Others, deferred.CodeBlocked, Unverified},
	} {
		if got := Attribute(tt.account, tt.code); got != tt.want {
			t.Errorf("Attribute(%q, %s) = %q, want %q", tt.account, tt.code, got, tt.want)
		}
	}
}
