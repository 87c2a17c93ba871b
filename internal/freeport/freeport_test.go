package freeport

import (
	"net"
	"testing"
)

// TestOn: On returns a port of the host it was asked for; a host that is
// not local is an error.
func TestOn(t *testing.T) {
	tests := []struct {
		host    string
		wantErr bool
	}{
		{"127.0.0.1", false},
		{"localhost", false},
		{"192.0.2.1", true}, // TEST-NET-1: never an address of this machine
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			p, err := On(tt.host)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("On(%q) = %d, want an error", tt.host, p)
				}
				return
			}
			if err != nil || p <= 0 || p > 65535 {
				t.Fatalf("On(%q) = %d, %v", tt.host, p, err)
			}
		})
	}
}

func TestAddr(t *testing.T) {
	a, err := Addr()
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("Addr() = %q, %v", a, err)
	}
}
