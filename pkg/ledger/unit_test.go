package ledger

import (
	"errors"
	"strings"
	"testing"
)

func TestParseInvoiceID(t *testing.T) {
	tests := []struct {
		id                     string
		account, day, currency string
		ok                     bool
	}{
		{"inv_2026-03-10_acme_USD", "acme", "2026-03-10", "USD", true},
		{"inv_2026-03-10_op_1_USD_EUR", "op_1_USD", "2026-03-10", "EUR", true},
		{"inv_2026-03-10_a.b@c:d-e_USDC", "a.b@c:d-e", "2026-03-10", "USDC", true},
		{"inv_2026-03-10__USD", "", "", "", false},
		{"inv_2026-03-10_acme_usd", "", "", "", false},
		{"inv_2026-3-10_acme_USD", "", "", "", false},
		{"inv_2026-02-30_acme_USD", "", "", "", false},
		{"inv_2026-03-10_{acme}_USD", "", "", "", false},
		{"inv_2026-03-10_acme", "", "", "", false},
		{"bill_2026-03-10_acme_USD", "", "", "", false},
		{"", "", "", "", false},
	}
	for _, tt := range tests {
		a, d, c, err := ParseInvoiceID(tt.id)
		if tt.ok != (err == nil) || a != tt.account || d != tt.day || c != tt.currency {
			t.Errorf("ParseInvoiceID(%q) = %q, %q, %q, %v", tt.id, a, d, c, err)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseInvoiceID(%q) error %v is not ErrInvalid", tt.id, err)
		}
		if err == nil && InvoiceID(a, d, c) != tt.id {
			t.Errorf("InvoiceID does not invert ParseInvoiceID(%q)", tt.id)
		}
	}
}

func FuzzParseInvoiceID(f *testing.F) {
	for _, s := range []string{"inv_2026-03-10_acme_USD", "inv_2026-03-10_a_b_EUR", "inv_", "inv_2026-03-10_{x}_USD"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		a, d, c, err := ParseInvoiceID(id)
		if err != nil {
			return
		}
		if InvoiceID(a, d, c) != id {
			t.Fatalf("round trip of %q gave %q", id, InvoiceID(a, d, c))
		}
		if strings.ContainsAny(a, "{}") {
			t.Fatalf("account %q would break the hash tag", a)
		}
	})
}

func TestValidateAccount(t *testing.T) {
	for _, a := range []string{"acme", "op_123", "a.b-c:d@e", strings.Repeat("x", 128)} {
		if err := ValidateAccount(a); err != nil {
			t.Errorf("ValidateAccount(%q) = %v", a, err)
		}
	}
	for _, a := range []string{"", "{acme}", "ac}me", "a{", "ac me", "é", "a\x00", "a/b", strings.Repeat("x", 129)} {
		if err := ValidateAccount(a); !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateAccount(%q) = %v, want ErrInvalid", a, err)
		}
	}
}

func TestNewOptions(t *testing.T) {
	if _, err := New(nil, Options{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("New(nil) = %v", err)
	}
	rdb, err := NewClient(ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if _, err := New(rdb, Options{Prefix: "a{b"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("prefix with a brace: %v", err)
	}
	if _, err := NewClient(ClientConfig{Addrs: []string{""}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty address: %v", err)
	}
}
