package netguard

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

// FuzzParseHost: any host either parses or wraps ErrInvalidHost, never
// panics; an IP literal the standard parser reads denotes the same address;
// whatever CheckHost accepts without an allow-list resolves (here, to
// nothing: so nothing) and no accepted literal is non-public.
func FuzzParseHost(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1", "127.1", "2130706433", "0x7f.1", "0177.0.0.1", "[::1]", "::ffff:127.0.0.1",
		"fe80::1%25eth0", "localhost", "a.localhost", "signer.example", "example.123", "0x", "08",
		"1.2.3.4.5", "255.255.255.255", "4294967295", "4294967296", "64:ff9b::a9fe:a9fe", "",
	} {
		f.Add(s)
	}
	loop := &Policy{Allow: LoopbackPrefixes()}
	f.Fuzz(func(t *testing.T, host string) {
		h, err := ParseHost(host)
		if err != nil {
			if !errors.Is(err, ErrInvalidHost) {
				t.Fatalf("ParseHost(%q) error %v does not wrap ErrInvalidHost", host, err)
			}
		} else if a, perr := netip.ParseAddr(host); perr == nil && h.Addr != a {
			t.Fatalf("ParseHost(%q) = %s, netip says %s", host, h.Addr, a)
		}
		// A resolver that knows no name: only allow-listed literals and
		// localhost can pass.
		if err := (&Policy{}).CheckHost(context.Background(), fakeDNS{}, host); err == nil {
			t.Fatalf("CheckHost(%q) accepted with no allow-list and no DNS", host)
		}
		if err := loop.CheckHost(context.Background(), fakeDNS{}, host); err == nil {
			if h.IsAddr() && !loop.Allowed(h.Addr) {
				t.Fatalf("CheckHost(%q) accepted %s outside the allow-list", host, h.Addr)
			}
			if !h.IsAddr() && !h.IsLocalhost() {
				t.Fatalf("CheckHost(%q) accepted a name that does not resolve", host)
			}
		}
	})
}

// FuzzReason: Reason never panics, and an address and its IPv4-mapped form
// get the same verdict.
func FuzzReason(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1})
	f.Add([]byte{169, 254, 169, 254})
	f.Add(netip.MustParseAddr("64:ff9b::a00:1").AsSlice())
	f.Fuzz(func(t *testing.T, b []byte) {
		a, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		pub := IsPublic(a)
		if a.Is4() && IsPublic(netip.AddrFrom16(a.As16())) != pub {
			t.Fatalf("%s and its mapped form disagree", a)
		}
		if pub && (a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsUnspecified()) {
			t.Fatalf("%s classified public", a)
		}
	})
}
