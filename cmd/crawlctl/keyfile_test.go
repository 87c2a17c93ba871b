package main

import (
	"testing"

	"github.com/paycrawl/paycrawl/pkg/money"
)

func TestParseMaxPrice(t *testing.T) {
	tests := []struct {
		in, cur string
		want    money.Amount
		ok      bool
	}{
		{"0.05", "USD", money.Amount{Currency: "USD", Value: 50_000}, true},
		{"USD 0.05", "ignored", money.Amount{Currency: "USD", Value: 50_000}, true},
		{"1", "USDC", money.Amount{Currency: "USDC", Value: 1_000_000}, true},
		{"0.0000001", "USD", money.Amount{}, false},
		{"-1", "USD", money.Amount{}, false},
		{"0.05", "usd", money.Amount{}, false},
		{"1e3", "USD", money.Amount{}, false},
	}
	for _, tt := range tests {
		got, err := parseMaxPrice(tt.in, tt.cur)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseMaxPrice(%q, %q) = %v, %v", tt.in, tt.cur, got, err)
		}
	}
}
