package gateway

import (
	"strings"
	"testing"
)

// TestConfigNetworkUnit: a gateway's offers count micro-units, so its network
// must be one whose binding says so (docs/x402-binding-paycrawl.md).
func TestConfigNetworkUnit(t *testing.T) {
	tests := []struct {
		network string
		ok      bool
	}{
		{"paycrawl:402", true},
		{"paycrawl:staging", true},
		{"example:402", true}, // unknown networks are read in paycrawl's unit
		{"cloudflare:402", false},
	}
	for _, tt := range tests {
		t.Run(tt.network, func(t *testing.T) {
			_, err := ParseConfig([]byte(validConfig + "network: " + tt.network + "\n"))
			if tt.ok && err != nil {
				t.Fatalf("network %s: %v", tt.network, err)
			}
			if !tt.ok && (err == nil || !strings.Contains(err.Error(), "micro-units")) {
				t.Fatalf("network %s: got %v, want a refusal naming the unit", tt.network, err)
			}
		})
	}
}
