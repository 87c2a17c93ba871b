package testnet

import (
	"context"
	"net"
	"net/netip"
	"strings"
)

// PublicExample is the public address DNS gives names under .example that
// it does not map.
const PublicExample = "93.184.215.14"

// DNS resolves hosts without the network (it is a netguard.Resolver): the
// names it maps to their addresses, other names under .example to
// PublicExample, the rest not at all.
type DNS map[string][]string

// LookupNetIP implements netguard.Resolver.
func (d DNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	ss, ok := d[host]
	if !ok && strings.HasSuffix(host, ".example") {
		ss, ok = []string{PublicExample}, true
	}
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]netip.Addr, 0, len(ss))
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}
