package registry

import (
	"strings"
	"testing"
)

func TestParseWallet(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		// The EIP-55 specification's examples.
		{"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", true},
		{"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", true},
		{"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", true},
		{"0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb", true},
		{"0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", true},
		{"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "", false}, // one letter's case flipped
		{"0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED", "", false}, // all upper: no checksum, not lower case
		{"5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "", false},
		{"0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea", "", false},
		{"0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaedaa", "", false},
		{"0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg", "", false},
		{"0x0000000000000000000000000000000000000000", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := ParseWallet(tt.in)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("ParseWallet(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil {
			wantErr(t, err, ErrInvalidBilling)
		}
	}
}

// FuzzParseWallet: an accepted address comes back in checksum form, which
// parses to itself, as does its lower-case form.
func FuzzParseWallet(f *testing.F) {
	f.Add("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
	f.Add("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")
	f.Add("0x")
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseWallet(s)
		if err != nil {
			return
		}
		if !strings.EqualFold(w, s) {
			t.Fatalf("%q became another address %q", s, w)
		}
		for _, in := range []string{w, "0x" + strings.ToLower(w[2:])} {
			if again, err := ParseWallet(in); err != nil || again != w {
				t.Fatalf("ParseWallet(%q) = %q, %v; want %q", in, again, err, w)
			}
		}
	})
}
