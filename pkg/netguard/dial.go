package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ControlContext checks the address a socket is about to connect to, after
// name resolution and before the connection is attempted; use it as a
// net.Dialer's ControlContext. Anything but a TCP connection to an address
// p permits is refused with an error wrapping ErrNotPublic, so no packet
// reaches a refused address.
func (p *Policy) ControlContext(_ context.Context, network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp4", "tcp6":
	default:
		return fmt.Errorf("%w: network %q refused", ErrNotPublic, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: address %q does not parse", ErrNotPublic, address)
	}
	return p.Check(ap.Addr())
}

// Dialer makes TCP connections to addresses its Policy permits only. Names
// are resolved with Resolver ("localhost" and names under ".localhost" are
// loopback without asking it) and every resolved address is checked by the
// Policy's ControlContext at the moment of connecting, so a name that
// resolved to a public address at registration and to a private one now
// (DNS rebinding) is refused. Its zero value permits public addresses,
// resolved by net.DefaultResolver.
type Dialer struct {
	// Policy decides which addresses may be connected to; nil means public
	// addresses only.
	Policy *Policy
	// Resolver resolves names; nil means net.DefaultResolver.
	Resolver Resolver
	// Timeout bounds each connection attempt; 0 means 5 s.
	Timeout time.Duration
}

// DialContext connects to address ("host:port") over network, which must be
// "tcp", "tcp4" or "tcp6". It tries the resolved addresses in order and
// returns the first connection made; when none is, the error of each
// attempt is joined (a refused address wraps ErrNotPublic).
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	lookup := "ip"
	switch network {
	case "tcp":
	case "tcp4":
		lookup = "ip4"
	case "tcp6":
		lookup = "ip6"
	default:
		return nil, fmt.Errorf("%w: network %q refused", ErrNotPublic, network)
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if (Host{Name: strings.ToLower(strings.TrimSuffix(host, "."))}).IsLocalhost() {
		// Loopback by definition (RFC 6761): not a question for DNS.
		addrs = []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}
	} else {
		r := d.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		if addrs, err = r.LookupNetIP(ctx, lookup, host); err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("%w: %s has no address", ErrUnresolved, host)
		}
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	p := d.Policy
	if p == nil {
		p = &Policy{}
	}
	nd := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, ControlContext: p.ControlContext}
	var errs []error
	for _, a := range addrs {
		// Dial the address itself, never the name: nothing resolves twice.
		c, err := nd.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// NewTransport returns an *http.Transport for fetching URLs that others
// supplied: it dials through d, never through a proxy (the environment's
// proxy settings are ignored, since a proxy would connect on our behalf
// unchecked), and bounds the TLS handshake, the wait for response headers
// and their size. Redirects are the http.Client's business: refuse them
// with CheckRedirect.
func NewTransport(d *Dialer) *http.Transport {
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    5 * time.Second,
		ResponseHeaderTimeout:  10 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConns:           64,
		IdleConnTimeout:        90 * time.Second,
	}
}
