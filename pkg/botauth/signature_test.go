package botauth

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestDecodeSignature(t *testing.T) {
	sig := []byte(strings.Repeat("\xfb", 64))
	tests := []struct {
		in string
		ok bool
	}{
		{base64.StdEncoding.EncodeToString(sig), true},
		{base64.RawStdEncoding.EncodeToString(sig), true},
		{base64.URLEncoding.EncodeToString(sig), true},
		{base64.RawURLEncoding.EncodeToString(sig), true},
		{base64.StdEncoding.EncodeToString(sig[:63]), false},
		{"", false},
		{"!!!!", false},
	}
	for _, tt := range tests {
		b, err := DecodeSignature(tt.in)
		if tt.ok != (err == nil) || (tt.ok && string(b) != string(sig)) {
			t.Errorf("DecodeSignature(%q) = %x, %v; want ok %v", tt.in, b, err, tt.ok)
		}
	}
}
