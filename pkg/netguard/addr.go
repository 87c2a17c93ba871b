// Package netguard decides which network addresses a server may connect to
// on behalf of someone else, so that a URL supplied by a crawler cannot make
// a server fetch from its own loopback, private network or cloud metadata
// service (server-side request forgery).
//
// Only public unicast addresses are permitted by default: the IPv4 and IPv6
// special-purpose blocks of the IANA registries (RFC 6890 and successors),
// multicast, and everything outside IPv6 global unicast (2000::/3) are
// refused; IPv4-mapped IPv6 and NAT64 (64:ff9b::/96) addresses are judged by
// the IPv4 address they embed. A Policy adds an explicit allow-list of
// prefixes for tests and demos.
//
// The checks happen twice: when a URL is accepted (Policy.CheckHost, which
// also refuses IP literals and names that resolve to non-public addresses)
// and when a connection is made (Dialer, whose Control checks the address
// actually connected to, so that a name re-pointed after registration, DNS
// rebinding, is refused too).
package netguard

import (
	"errors"
	"fmt"
	"net/netip"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrNotPublic reports an address, or a name resolving to one, that is
	// not public and not allow-listed.
	ErrNotPublic = errors.New("address not public")
	// ErrInvalidHost reports a host that is neither a DNS name nor an IP
	// address, or an IP address not written in its standard form.
	ErrInvalidHost = errors.New("invalid host")
	// ErrUnresolved reports a name that did not resolve to any address.
	ErrUnresolved = errors.New("host does not resolve")
)

type block struct {
	prefix netip.Prefix
	name   string
}

func blocks(m ...string) []block {
	out := make([]block, 0, len(m)/2)
	for i := 0; i < len(m); i += 2 {
		out = append(out, block{netip.MustParsePrefix(m[i]), m[i+1]})
	}
	return out
}

// v4Blocks are the IANA IPv4 special-purpose blocks, most specific first
// where they nest, plus multicast and the reserved 240/4.
var v4Blocks = blocks(
	"0.0.0.0/8", "a \"this network\" address (RFC 791)",
	"10.0.0.0/8", "a private-use address (RFC 1918)",
	"100.64.0.0/10", "a shared (carrier-grade NAT) address (RFC 6598)",
	"127.0.0.0/8", "a loopback address (RFC 1122)",
	"169.254.0.0/16", "a link-local address (RFC 3927; cloud metadata services live here)",
	"172.16.0.0/12", "a private-use address (RFC 1918)",
	"192.0.0.0/24", "an IETF protocol assignment (RFC 6890)",
	"192.0.2.0/24", "a documentation address (RFC 5737)",
	"192.31.196.0/24", "an AS112 address (RFC 7535)",
	"192.52.193.0/24", "an AMT address (RFC 7450)",
	"192.88.99.0/24", "a 6to4 relay anycast address (RFC 7526)",
	"192.168.0.0/16", "a private-use address (RFC 1918)",
	"192.175.48.0/24", "an AS112 address (RFC 7534)",
	"198.18.0.0/15", "a benchmarking address (RFC 2544)",
	"198.51.100.0/24", "a documentation address (RFC 5737)",
	"203.0.113.0/24", "a documentation address (RFC 5737)",
	"224.0.0.0/4", "a multicast address",
	"255.255.255.255/32", "the limited broadcast address",
	"240.0.0.0/4", "a reserved address (RFC 1112)",
)

// v6Blocks are refused IPv6 blocks: the special-purpose blocks inside
// global unicast, and names for the common ones outside it (everything
// outside 2000::/3 is refused anyway).
var v6Blocks = blocks(
	"::/128", "the unspecified address",
	"::1/128", "the loopback address",
	"::/96", "an IPv4-compatible address (deprecated, RFC 4291)",
	"::ffff:0:0:0/96", "an IPv4-translated address (RFC 2765)",
	"64:ff9b:1::/48", "a local-use NAT64 address (RFC 8215)",
	"100::/64", "a discard-only address (RFC 6666)",
	"5f00::/16", "an SRv6 SID (RFC 9602)",
	"fc00::/7", "a unique local address (RFC 4193)",
	"fe80::/10", "a link-local address (RFC 4291)",
	"fec0::/10", "a site-local address (deprecated, RFC 3879)",
	"ff00::/8", "a multicast address",
	"2001:db8::/32", "a documentation address (RFC 3849)",
	"2001::/23", "an IETF protocol assignment (Teredo, ORCHID and others; RFC 2928)",
	"2002::/16", "a 6to4 address (RFC 3056)",
	"2620:4f:8000::/48", "an AS112 address (RFC 7534)",
	"3fff::/20", "a documentation address (RFC 9637)",
)

var (
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
)

// Reason says why addr is not public ("a loopback address", "a private-use
// address (RFC 1918)", ...), or returns "" when it is public. The zone of an
// IPv6 address is ignored; an invalid address is never public.
func Reason(addr netip.Addr) string {
	if !addr.IsValid() {
		return "not a valid address"
	}
	addr = addr.WithZone("")
	if addr.Is4In6() {
		if r := Reason(addr.Unmap()); r != "" {
			return "an IPv4-mapped form of " + r
		}
		return ""
	}
	if addr.Is4() {
		for _, b := range v4Blocks {
			if b.prefix.Contains(addr) {
				return b.name
			}
		}
		return ""
	}
	if nat64.Contains(addr) {
		b := addr.As16()
		v4 := netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		if r := Reason(v4); r != "" {
			return "a NAT64 form of " + r
		}
		return ""
	}
	for _, b := range v6Blocks {
		if b.prefix.Contains(addr) {
			return b.name
		}
	}
	if !globalUnicast6.Contains(addr) {
		return "outside IPv6 global unicast (2000::/3)"
	}
	// Belt and braces: the standard library's own classification.
	if addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() || addr.IsMulticast() || !addr.IsGlobalUnicast() {
		return "not a global unicast address"
	}
	return ""
}

// IsPublic reports whether addr is a public unicast address: one a server
// may connect to on behalf of someone else.
func IsPublic(addr netip.Addr) bool { return Reason(addr) == "" }

// LoopbackPrefixes returns the loopback prefixes, 127.0.0.0/8 and ::1/128:
// the allow-list of tests and demos that run everything on one machine.
func LoopbackPrefixes() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// Policy decides which addresses may be connected to: public ones and those
// in Allow. The zero value, like a nil *Policy, permits public addresses
// only. A Policy must not be modified while in use.
type Policy struct {
	// Allow lists prefixes that are permitted although they are not public
	// (tests and demos: 127.0.0.0/8). IPv4 prefixes also match the
	// IPv4-mapped IPv6 form of their addresses. The unspecified addresses
	// (0.0.0.0, ::) are refused whatever Allow says.
	Allow []netip.Prefix
}

// Allowed reports whether addr is inside one of the Allow prefixes.
func (p *Policy) Allowed(addr netip.Addr) bool {
	if p == nil || !addr.IsValid() {
		return false
	}
	addr = addr.WithZone("")
	for _, pre := range p.Allow {
		if pre.Contains(addr) || (addr.Is4In6() && pre.Contains(addr.Unmap())) {
			return true
		}
	}
	return false
}

// Check returns nil when addr may be connected to: it is public, or
// allow-listed and not unspecified. Otherwise the error wraps ErrNotPublic
// and says why.
func (p *Policy) Check(addr netip.Addr) error {
	reason := Reason(addr)
	if reason == "" {
		return nil
	}
	if !addr.Unmap().IsUnspecified() && p.Allowed(addr) {
		return nil
	}
	return fmt.Errorf("%w: %s is %s", ErrNotPublic, addr, reason)
}

// Permits reports whether Check(addr) is nil.
func (p *Policy) Permits(addr netip.Addr) bool { return p.Check(addr) == nil }
