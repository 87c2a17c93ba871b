package registry

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/money"
)

func TestBillingNormalize(t *testing.T) {
	const wallet = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
	cap5, p5 := money.Micros(5_000_000), money.Micros(50_000)
	tests := []struct {
		name string
		in   Billing
		ok   bool
		want Billing
	}{
		{"stripe defaults to USD", Billing{Rail: RailStripe, DailyCap: cap5, DefaultMaxPrice: p5}, true,
			Billing{Rail: RailStripe, Currency: "USD", DailyCap: cap5, DefaultMaxPrice: p5}},
		{"stripe with a customer", Billing{Rail: RailStripe, StripeCustomerID: "cus_123abc", DailyCap: cap5, DefaultMaxPrice: p5}, true,
			Billing{Rail: RailStripe, StripeCustomerID: "cus_123abc", Currency: "USD", DailyCap: cap5, DefaultMaxPrice: p5}},
		{"evm defaults to USDC, wallet checksummed", Billing{Rail: RailEVM, Wallet: wallet, DailyCap: cap5, DefaultMaxPrice: p5}, true,
			Billing{Rail: RailEVM, Wallet: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", Currency: "USDC", DailyCap: cap5, DefaultMaxPrice: p5}},
		{"stripe in EUR", Billing{Rail: RailStripe, Currency: "EUR", DailyCap: cap5, DefaultMaxPrice: p5}, false, Billing{}},
		{"evm in USD", Billing{Rail: RailEVM, Wallet: wallet, Currency: "USD", DailyCap: cap5, DefaultMaxPrice: p5}, false, Billing{}},
		{"evm without wallet", Billing{Rail: RailEVM, DailyCap: cap5, DefaultMaxPrice: p5}, false, Billing{}},
		{"evm with a bad wallet", Billing{Rail: RailEVM, Wallet: "0x1234", DailyCap: cap5, DefaultMaxPrice: p5}, false, Billing{}},
		{"stripe with a wallet", Billing{Rail: RailStripe, Wallet: wallet, DailyCap: cap5, DefaultMaxPrice: p5}, false, Billing{}},
		{"evm with a customer", Billing{Rail: RailEVM, Wallet: wallet, StripeCustomerID: "cus_1", DailyCap: cap5, DefaultMaxPrice: p5}, false, Billing{}},
		{"bad customer id", Billing{Rail: RailStripe, StripeCustomerID: "acct_1", DailyCap: cap5, DefaultMaxPrice: p5}, false, Billing{}},
		{"unknown rail", Billing{Rail: "paypal", DailyCap: cap5, DefaultMaxPrice: p5}, false, Billing{}},
		{"zero cap", Billing{Rail: RailStripe, DefaultMaxPrice: p5}, false, Billing{}},
		{"cap too large", Billing{Rail: RailStripe, DailyCap: MaxDailyCap + 1, DefaultMaxPrice: p5}, false, Billing{}},
		{"zero max price", Billing{Rail: RailStripe, DailyCap: cap5}, false, Billing{}},
		{"max price above cap", Billing{Rail: RailStripe, DailyCap: p5, DefaultMaxPrice: cap5}, false, Billing{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.Normalize()
			if !tt.ok {
				wantErr(t, err, ErrInvalidBilling)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Normalize = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestBillingJSONUsesDecimalStrings(t *testing.T) {
	b := Billing{Rail: RailStripe, Currency: "USD", StripeCustomerID: "cus_1", DailyCap: 5_000_000, DefaultMaxPrice: 50_000}
	raw, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"daily_cap":"5.00"`) || !strings.Contains(string(raw), `"default_max_price":"0.05"`) {
		t.Fatalf("JSON %s", raw)
	}
	var back Billing
	if err := json.Unmarshal(raw, &back); err != nil || back != b {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
	for _, bad := range []string{`{"rail":"stripe","daily_cap":5,"default_max_price":"0.05"}`,
		`{"rail":"stripe","daily_cap":"5.0000001","default_max_price":"0.05"}`,
		`{"rail":"stripe","daily_cap":"-5","default_max_price":"0.05"}`,
		`{"rail":"stripe","daily_cap":"1e3","default_max_price":"0.05"}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}
