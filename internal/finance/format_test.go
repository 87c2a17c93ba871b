package finance

import (
	"testing"

	"github.com/paycrawl/paycrawl/pkg/money"
)

func TestFormatMoney(t *testing.T) {
	tests := []struct {
		cur  string
		m    money.Micros
		want string
	}{
		{"USD", 12_340_000, "USD\u00a012.34"},
		{"USDC", 123, "USDC\u00a00.000123"},
		{"USD", 0, "USD\u00a00.00"},
		{"USD", 1_234_567_500_000, "USD\u00a01,234,567.50"},
		{"USD", 100_000_000, "USD\u00a0100.00"},
		{"USD", 1_000_000_000, "USD\u00a01,000.00"},
		{"EUR", -1_500_000, "EUR\u00a0-1.50"},
	}
	for _, tt := range tests {
		if got := formatMoney(tt.cur, tt.m); got != tt.want {
			t.Errorf("formatMoney(%s, %d) = %q, want %q", tt.cur, tt.m, got, tt.want)
		}
	}
	for n, want := range map[int64]string{0: "0 requests", 1: "1 request", 1234567: "1,234,567 requests"} {
		if got := plural(n, "request"); got != want {
			t.Errorf("plural(%d) = %q, want %q", n, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567"} {
		if got := formatCount(n); got != want {
			t.Errorf("formatCount(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestShortRefAndCell(t *testing.T) {
	if got := shortRef("0x9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"); got != "0x9f86d081…f00a08" {
		t.Errorf("shortRef = %q", got)
	}
	if got := shortRef("pi_3Abc"); got != "pi_3Abc" {
		t.Errorf("shortRef = %q", got)
	}
	for in, want := range map[string]string{
		"/a": "/a", "=1+1": "'=1+1", "+1": "'+1", "-1": "'-1", "@SUM(A1)": "'@SUM(A1)", "\tx": "'\tx", "": "",
	} {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/": "/", "/?day=2026-01-02": "/?day=2026-01-02", "/invoices/inv_x": "/invoices/inv_x",
		"": "/", "//evil.example": "/", "/\\evil.example": "/", "https://evil.example": "/", "javascript:alert(1)": "/",
		"/a\r\nSet-Cookie: x": "/",
		// Browsers drop tabs and newlines and read a backslash as a slash.
		"/\t/evil.example": "/", "/\n/evil.example": "/", "/\r/evil.example": "/", "\t//evil.example": "/",
		"/ /evil.example": "/", "/\x00/evil": "/", "/\u00a0/evil": "/", "/a\\b": "/", "/day?x=\\\\evil": "/",
		"/%2F/evil.example": "/", "/%2F%2Fevil.example": "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
