package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Resolver resolves names to addresses. *net.Resolver implements it; tests
// inject their own.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

var _ Resolver = (*net.Resolver)(nil)

// Host is a URL host, classified by ParseHost.
type Host struct {
	// Name is the host as a lower-case DNS name without a trailing dot; ""
	// for an IP literal.
	Name string
	// Addr is the address an IP literal denotes, however it was written.
	Addr netip.Addr
	// Canonical reports an IP literal written in its standard form
	// (dotted-decimal IPv4, RFC 5952 IPv6).
	Canonical bool
}

// IsAddr reports whether the host is an IP literal.
func (h Host) IsAddr() bool { return h.Addr.IsValid() }

// IsLocalhost reports whether the host is "localhost" or a name under
// ".localhost", which resolve to loopback by definition (RFC 6761).
func (h Host) IsLocalhost() bool {
	return h.Name == "localhost" || strings.HasSuffix(h.Name, ".localhost")
}

// ParseHost classifies a URL host (url.URL.Hostname(): no port; brackets
// around an IPv6 literal are accepted). IPv4 literals are recognised in
// every form that URL parsers and inet_aton accept, as the WHATWG URL
// standard does: a host whose last label is a number is an address, with
// one to four parts in decimal, octal (leading 0) or hex (0x), so that
// "127.1", "2130706433" and "0x7f.1" all denote 127.0.0.1. A host that is
// neither such an address nor a DNS name of letters, digits, '-' and '_'
// (labels of 1 to 63 bytes, not beginning or ending with '-', 253 bytes in
// all) wraps ErrInvalidHost.
func ParseHost(host string) (Host, error) {
	bad := func(why string) (Host, error) {
		return Host{}, fmt.Errorf("%w: %q %s", ErrInvalidHost, truncate(host, 64), why)
	}
	s := host
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	if s == "" {
		return bad("is empty")
	}
	if strings.Contains(s, ":") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return bad("is not an IPv6 address")
		}
		return Host{Addr: a, Canonical: a.String() == s}, nil
	}
	s = strings.ToLower(strings.TrimSuffix(s, "."))
	labels := strings.Split(s, ".")
	if last := labels[len(labels)-1]; isNumber(last) {
		a, ok := parseIPv4(labels)
		if !ok {
			return bad("ends in a number but is not an IPv4 address")
		}
		return Host{Addr: a, Canonical: a.String() == host}, nil
	}
	if len(s) > 253 {
		return bad("is longer than 253 bytes")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return bad("has an empty label, one longer than 63 bytes, or one that begins or ends with '-'")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return bad("is not a DNS name (write international names in their xn-- form)")
			}
		}
	}
	return Host{Name: s}, nil
}

// isNumber reports a label that the WHATWG URL parser reads as an IPv4
// number: digits only, or 0x followed by hex digits (possibly none).
func isNumber(l string) bool {
	if l == "" {
		return false
	}
	if strings.HasPrefix(l, "0x") {
		for i := 2; i < len(l); i++ {
			if !isHex(l[i]) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(l); i++ {
		if l[i] < '0' || l[i] > '9' {
			return false
		}
	}
	return true
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }

// parseIPv4 parses one to four lower-case parts the inet_aton way: the
// last part fills the bytes the others leave.
func parseIPv4(parts []string) (netip.Addr, bool) {
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var v uint64
	for i, p := range parts {
		base := 10
		switch {
		case strings.HasPrefix(p, "0x"):
			p, base = p[2:], 16
			if p == "" {
				p = "0"
			}
		case len(p) > 1 && p[0] == '0':
			p, base = p[1:], 8
		}
		n, err := strconv.ParseUint(p, base, 32)
		if p == "" || err != nil {
			return netip.Addr{}, false
		}
		if i < len(parts)-1 {
			if n > 255 {
				return netip.Addr{}, false
			}
			v |= n << (8 * (3 - i))
			continue
		}
		if n >= 1<<(8*(4-i)) {
			return netip.Addr{}, false
		}
		v |= n
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// CheckHost decides whether a URL host may be registered as a destination
// the server will fetch from later. It refuses, with an error wrapping
// ErrInvalidHost or ErrNotPublic:
//   - an IP literal in any form, unless it is written in its standard form
//     and inside Allow: public services are named, not numbered;
//   - "localhost" and names under ".localhost", unless Allow covers both
//     127.0.0.1 and ::1;
//   - single-label names, which resolve through search domains to hosts
//     of the local network;
//   - names that r (nil means net.DefaultResolver) resolves to any address
//     Check refuses. The message does not say which address: a name the
//     caller does not own must not become a probe of internal DNS.
//
// A name that does not resolve wraps ErrUnresolved.
func (p *Policy) CheckHost(ctx context.Context, r Resolver, host string) error {
	h, err := ParseHost(host)
	if err != nil {
		return err
	}
	if h.IsAddr() {
		if err := p.Check(h.Addr); err != nil {
			return err
		}
		if !p.Allowed(h.Addr) {
			return fmt.Errorf("%w: %s is an IP literal: register a DNS name", ErrNotPublic, h.Addr)
		}
		if !h.Canonical {
			return fmt.Errorf("%w: %q is not in standard form; write it %s", ErrInvalidHost, truncate(host, 64), h.Addr)
		}
		return nil
	}
	if h.IsLocalhost() {
		if p.Allowed(netip.IPv6Loopback()) && p.Allowed(netip.AddrFrom4([4]byte{127, 0, 0, 1})) {
			return nil
		}
		return fmt.Errorf("%w: %s is a loopback name", ErrNotPublic, h.Name)
	}
	if !strings.Contains(h.Name, ".") {
		return fmt.Errorf("%w: %q is not a fully qualified domain name", ErrInvalidHost, h.Name)
	}
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", h.Name)
	if err != nil || len(addrs) == 0 {
		var dnsErr *net.DNSError
		if err == nil || errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return fmt.Errorf("%w: %s has no address", ErrUnresolved, h.Name)
		}
		return &ResolveError{Host: h.Name, Err: err}
	}
	for _, a := range addrs {
		if p.Check(a) != nil {
			return fmt.Errorf("%w: %s resolves to an address this service does not connect to (loopback, private, link-local, shared, reserved or otherwise not public)", ErrNotPublic, h.Name)
		}
	}
	return nil
}

// ResolveError reports a lookup that failed for another reason than the
// name not existing (a timeout, an unreachable DNS server). It wraps
// ErrUnresolved; its message does not include the resolver's own error,
// which may name internal DNS servers: log Err instead.
type ResolveError struct {
	Host string
	Err  error
}

// Error implements error.
func (e *ResolveError) Error() string {
	return ErrUnresolved.Error() + ": " + e.Host + " could not be resolved now; try again later"
}

// Unwrap returns ErrUnresolved and the lookup's error.
func (e *ResolveError) Unwrap() []error { return []error{ErrUnresolved, e.Err} }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
