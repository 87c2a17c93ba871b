package registry

import (
	"crypto/rand"
	"strings"
	"testing"
)

func TestTokensAreShownOnceAndStoredAsDigests(t *testing.T) {
	token, digest, err := NewToken(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, "pct_") || len(token) != 4+43 {
		t.Fatalf("token %q has the wrong shape", token)
	}
	if len(digest) != 64 || strings.Contains(digest, token[4:]) {
		t.Fatalf("digest %q", digest)
	}
	got, err := ParseToken(token)
	if err != nil || got != digest {
		t.Fatalf("ParseToken = %q, %v; want %q", got, err, digest)
	}
	for _, bad := range []string{"", "pct_", token[:len(token)-1], "pcx_" + token[4:], token + "A", "pct_" + strings.Repeat("!", 43)} {
		if _, err := ParseToken(bad); err == nil {
			t.Errorf("ParseToken(%q) accepted", bad)
		} else {
			wantErr(t, err, ErrUnauthorized)
		}
	}
}

func TestOperatorIDs(t *testing.T) {
	id, err := NewOperatorID(rand.Reader)
	if err != nil || !ValidOperatorID(id) {
		t.Fatalf("NewOperatorID = %q, %v", id, err)
	}
	for _, bad := range []string{"", "op_", "op_ABCDEFGHIJKLMNOP", "op_abcdefghijklmno1", "xx_abcdefghijklmnop", "op_abcdefghijklmnopq"} {
		if ValidOperatorID(bad) {
			t.Errorf("ValidOperatorID(%q) = true", bad)
		}
	}
}

// FuzzParseToken: nothing panics, and whatever is accepted has the token shape.
func FuzzParseToken(f *testing.F) {
	f.Add("pct_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("pct_")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseToken(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(s, TokenPrefix) || len(s) != tokenLen || d != HashToken(s) {
			t.Fatalf("accepted %q", s)
		}
	})
}
