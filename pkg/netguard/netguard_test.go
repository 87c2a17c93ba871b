package netguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// notPublic lists addresses that must never be connected to without an
// allow-list, in the forms an attacker would write them.
var notPublic = []string{
	"0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.255",
	"127.0.0.1", "127.1.2.3", "169.254.169.254", "169.254.0.1", "172.16.0.1", "172.31.255.255",
	"192.0.0.8", "192.0.2.1", "192.88.99.1", "192.168.0.1", "192.168.255.255", "198.18.0.1",
	"198.19.255.255", "198.51.100.7", "203.0.113.9", "224.0.0.1", "239.255.255.250",
	"240.0.0.1", "255.255.255.255",
	"::", "::1", "::127.0.0.1", "::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:10.0.0.1",
	"::ffff:169.254.169.254", "::ffff:0:0", "::ffff:0:7f00:1", "64:ff9b::7f00:1", "64:ff9b::a00:1",
	"64:ff9b::a9fe:a9fe", "64:ff9b:1::1", "100::1", "fc00::1", "fd00::1", "fd12:3456::1", "fe80::1",
	"fe80::1%eth0", "fec0::1", "ff02::1", "ff05::1:3", "2001:db8::1", "2001::1", "2001:10::1",
	"2002:7f00:1::1", "2002:c0a8:101::1", "2620:4f:8000::1", "3fff::1", "5f00::1", "1::1", "4000::1",
}

var public = []string{
	"1.1.1.1", "8.8.8.8", "9.9.9.9", "93.184.215.14", "100.63.255.255", "100.128.0.0",
	"172.15.255.255", "172.32.0.0", "192.0.1.1", "192.169.0.1", "198.17.255.255", "198.20.0.0",
	"223.255.255.255", "::ffff:8.8.8.8", "64:ff9b::808:808", "2001:4860:4860::8888",
	"2606:4700:4700::1111", "2a00:1450:4001::1", "2400:cb00::1",
}

func TestReason(t *testing.T) {
	for _, s := range notPublic {
		t.Run(s, func(t *testing.T) {
			a := netip.MustParseAddr(s)
			if IsPublic(a) {
				t.Fatalf("%s classified public", s)
			}
			if err := (&Policy{}).Check(a); !errors.Is(err, ErrNotPublic) {
				t.Fatalf("Check = %v, want ErrNotPublic", err)
			}
		})
	}
	for _, s := range public {
		t.Run(s, func(t *testing.T) {
			if r := Reason(netip.MustParseAddr(s)); r != "" {
				t.Fatalf("%s not public: %s", s, r)
			}
		})
	}
	if IsPublic(netip.Addr{}) {
		t.Fatal("the zero Addr is public")
	}
}

func TestPolicyAllow(t *testing.T) {
	loop := &Policy{Allow: LoopbackPrefixes()}
	for _, tt := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1", true}, {"127.9.9.9", true}, {"::1", true}, {"::ffff:127.0.0.1", true},
		{"10.0.0.1", false}, {"169.254.169.254", false}, {"0.0.0.0", false}, {"::", false}, {"8.8.8.8", true},
	} {
		if got := loop.Permits(netip.MustParseAddr(tt.addr)); got != tt.ok {
			t.Errorf("loopback policy Permits(%s) = %v, want %v", tt.addr, got, tt.ok)
		}
	}
	all := &Policy{Allow: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}
	if all.Permits(netip.MustParseAddr("0.0.0.0")) {
		t.Fatal("the unspecified address permitted")
	}
	var nilPolicy *Policy
	if nilPolicy.Permits(netip.MustParseAddr("127.0.0.1")) || !nilPolicy.Permits(netip.MustParseAddr("8.8.8.8")) {
		t.Fatal("a nil policy is not public-only")
	}
}

func TestParseHost(t *testing.T) {
	for _, tt := range []struct {
		host      string
		addr      string // "" for a name
		canonical bool
	}{
		{"127.0.0.1", "127.0.0.1", true},
		{"127.1", "127.0.0.1", false},
		{"127.0.1", "127.0.0.1", false},
		{"2130706433", "127.0.0.1", false},
		{"0x7f.1", "127.0.0.1", false},
		{"0x7f000001", "127.0.0.1", false},
		{"0177.0.0.1", "127.0.0.1", false},
		{"017700000001", "127.0.0.1", false},
		{"0", "0.0.0.0", false},
		{"0x", "0.0.0.0", false},
		{"0.0.0.0", "0.0.0.0", true},
		{"127.0.0.1.", "127.0.0.1", false},
		{"0XA9.0XFE.0XA9.0XFE", "169.254.169.254", false},
		{"3232235777", "192.168.1.1", false},
		{"::1", "::1", true},
		{"[::1]", "::1", true},
		{"0:0:0:0:0:0:0:1", "::1", false},
		{"::ffff:127.0.0.1", "::ffff:127.0.0.1", true},
		{"fe80::1%eth0", "fe80::1%eth0", true},
		{"signer.example", "", false},
		{"Signer.Example.", "", false},
		{"localhost", "", false},
		{"127.0.0.1.nip.io", "", false},
		{"0x7f.example", "", false},
	} {
		h, err := ParseHost(tt.host)
		if err != nil {
			t.Errorf("ParseHost(%q): %v", tt.host, err)
			continue
		}
		if tt.addr == "" {
			if h.IsAddr() || h.Name == "" {
				t.Errorf("ParseHost(%q) = %+v, want a name", tt.host, h)
			}
			continue
		}
		if h.Addr != netip.MustParseAddr(tt.addr) || h.Canonical != tt.canonical {
			t.Errorf("ParseHost(%q) = %+v, want %s canonical=%v", tt.host, h, tt.addr, tt.canonical)
		}
	}
	for _, bad := range []string{
		"", "[]", "1.2.3.4.5", "256.0.0.1", "1.2.3.256", "1.2.65536", "4294967296", "08", "0x1g.1",
		"example.123", "a..b", "-", "-a.example", "a-.example", "exa mple.com", "ex%41mple.com", "bücher.example", "::gg",
		"1.2.3.4%00", strings.Repeat("a", 64) + ".example", strings.Repeat("a.", 127) + "example",
	} {
		if h, err := ParseHost(bad); !errors.Is(err, ErrInvalidHost) {
			t.Errorf("ParseHost(%q) = %+v, %v; want ErrInvalidHost", bad, h, err)
		}
	}
}

// fakeDNS resolves from a map; names not in it do not exist.
type fakeDNS map[string][]string

func (f fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	ss, ok := f[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

type failingDNS struct{}

func (failingDNS) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return nil, &net.DNSError{Err: "i/o timeout", Name: "x", Server: "10.0.0.2:53", IsTimeout: true}
}

func TestCheckHost(t *testing.T) {
	ctx := context.Background()
	dns := fakeDNS{
		"signer.example":      {"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
		"meta.example":        {"169.254.169.254"},
		"ten.example":         {"10.1.2.3"},
		"mixed.example":       {"8.8.8.8", "192.168.1.1"},
		"cgnat.example":       {"100.64.0.1"},
		"ula.example":         {"fd00::1"},
		"loop.example":        {"127.0.0.1"},
		"mapped.example":      {"::ffff:127.0.0.1"},
		"nat64.example":       {"64:ff9b::a9fe:a9fe"},
		"zero.example":        {"0.0.0.0"},
		"empty.example":       {},
		"127.0.0.1.nip.io":    {"127.0.0.1"},
		"intranet":            {"8.8.8.8"},
		"public6.example":     {"2001:4860:4860::8888"},
		"dotted.example.":     {"8.8.8.8"},
		"deep.sub.example":    {"1.1.1.1"},
		"under_score.example": {"1.1.1.1"},
	}
	public := &Policy{}
	loop := &Policy{Allow: LoopbackPrefixes()}
	for _, tt := range []struct {
		host       string
		want       error // for the public-only policy; nil = accepted
		loopbackOK bool  // accepted with the loopback allow-list
	}{
		{"signer.example", nil, true},
		{"public6.example", nil, true},
		{"deep.sub.example", nil, true},
		{"under_score.example", nil, true},
		{"169.254.169.254", ErrNotPublic, false},
		{"10.0.0.1", ErrNotPublic, false},
		{"192.168.1.1", ErrNotPublic, false},
		{"100.64.0.1", ErrNotPublic, false},
		{"fd00::1", ErrNotPublic, false},
		{"::1", ErrNotPublic, true},
		{"[::1]", ErrNotPublic, true},
		{"0:0:0:0:0:0:0:1", ErrNotPublic, false}, // allow-listed but not in standard form
		{"127.0.0.1", ErrNotPublic, true},
		{"127.1", ErrNotPublic, false},
		{"2130706433", ErrNotPublic, false},
		{"0x7f.1", ErrNotPublic, false},
		{"0177.0.0.1", ErrNotPublic, false},
		{"0.0.0.0", ErrNotPublic, false},
		{"0", ErrNotPublic, false},
		{"::ffff:127.0.0.1", ErrNotPublic, true},
		{"::ffff:169.254.169.254", ErrNotPublic, false},
		{"64:ff9b::a9fe:a9fe", ErrNotPublic, false},
		{"fe80::1%eth0", ErrNotPublic, false},
		{"8.8.8.8", ErrNotPublic, false}, // a public literal: names only
		{"2001:4860:4860::8888", ErrNotPublic, false},
		{"localhost", ErrNotPublic, true},
		{"api.localhost", ErrNotPublic, true},
		{"meta.example", ErrNotPublic, false},
		{"ten.example", ErrNotPublic, false},
		{"mixed.example", ErrNotPublic, false},
		{"cgnat.example", ErrNotPublic, false},
		{"ula.example", ErrNotPublic, false},
		{"loop.example", ErrNotPublic, true},
		{"mapped.example", ErrNotPublic, true},
		{"nat64.example", ErrNotPublic, false},
		{"zero.example", ErrNotPublic, false},
		{"127.0.0.1.nip.io", ErrNotPublic, true},
		{"empty.example", ErrUnresolved, false},
		{"missing.example", ErrUnresolved, false},
		{"intranet", ErrInvalidHost, false},
		{"1.2.3.4.5", ErrInvalidHost, false},
		{"bad host", ErrInvalidHost, false},
	} {
		t.Run(tt.host, func(t *testing.T) {
			err := public.CheckHost(ctx, dns, tt.host)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("public-only: %v, want %v", err, tt.want)
			}
			if err := loop.CheckHost(ctx, dns, tt.host); (err == nil) != tt.loopbackOK {
				t.Errorf("loopback allowed: %v, want ok=%v", err, tt.loopbackOK)
			}
		})
	}
	err := public.CheckHost(ctx, failingDNS{}, "signer.example")
	var re *ResolveError
	if !errors.Is(err, ErrUnresolved) || !errors.As(err, &re) || strings.Contains(err.Error(), "10.0.0.2") {
		t.Fatalf("failing DNS: %v", err)
	}
	// The refusal of a resolved name does not reveal the address.
	if err := public.CheckHost(ctx, dns, "ten.example"); strings.Contains(err.Error(), "10.1.2.3") {
		t.Fatalf("refusal names the address: %v", err)
	}
}

// countingServer is a loopback HTTP server that counts accepted TCP
// connections.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var accepted atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepted.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &accepted
}

func TestDialerRefusesBeforeConnecting(t *testing.T) {
	srv, accepted := countingServer(t)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	// rebind.example resolved to a public address at registration; now it
	// answers 127.0.0.1.
	dns := fakeDNS{"rebind.example": {"127.0.0.1"}, "two.example": {"10.0.0.1", "127.0.0.1"}}
	get := func(d *Dialer, host string) error {
		c := &http.Client{Transport: NewTransport(d), Timeout: 5 * time.Second}
		defer c.CloseIdleConnections()
		resp, err := c.Get("http://" + net.JoinHostPort(host, port) + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	for _, tt := range []struct {
		name string
		d    *Dialer
		host string
		ok   bool
	}{
		{"loopback literal, no allow-list", &Dialer{Resolver: dns}, "127.0.0.1", false},
		{"IPv4-mapped loopback, no allow-list", &Dialer{Resolver: dns}, "::ffff:127.0.0.1", false},
		{"name rebound to loopback", &Dialer{Resolver: dns}, "rebind.example", false},
		{"every resolved address refused", &Dialer{Resolver: dns}, "two.example", false},
		{"zero Dialer", &Dialer{}, "127.0.0.1", false},
		{"localhost", &Dialer{Resolver: dns}, "localhost", false},
		{"allow-listed localhost", &Dialer{Resolver: dns, Policy: &Policy{Allow: LoopbackPrefixes()}}, "localhost", true},
		{"loopback allow-listed", &Dialer{Resolver: dns, Policy: &Policy{Allow: LoopbackPrefixes()}}, "127.0.0.1", true},
		{"name allow-listed", &Dialer{Resolver: dns, Policy: &Policy{Allow: LoopbackPrefixes()}}, "rebind.example", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := accepted.Load()
			err := get(tt.d, tt.host)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if accepted.Load() == before {
					t.Fatal("no connection accepted")
				}
				return
			}
			if !errors.Is(err, ErrNotPublic) {
				t.Fatalf("err = %v, want ErrNotPublic", err)
			}
			// Give a connection that slipped through time to show up.
			time.Sleep(20 * time.Millisecond)
			if n := accepted.Load() - before; n != 0 {
				t.Fatalf("%d TCP connections accepted", n)
			}
		})
	}
}

func TestControlContext(t *testing.T) {
	p := &Policy{}
	for _, tt := range []struct {
		network, address string
		ok               bool
	}{
		{"tcp4", "8.8.8.8:443", true},
		{"tcp6", "[2001:4860:4860::8888]:443", true},
		{"tcp4", "127.0.0.1:443", false},
		{"tcp6", "[::1]:443", false},
		{"tcp6", "[fe80::1%eth0]:443", false},
		{"udp4", "8.8.8.8:53", false},
		{"tcp4", "nonsense", false},
	} {
		if err := p.ControlContext(context.Background(), tt.network, tt.address, nil); (err == nil) != tt.ok {
			t.Errorf("ControlContext(%s, %s) = %v, want ok=%v", tt.network, tt.address, err, tt.ok)
		}
	}
	if _, err := (&Dialer{}).DialContext(context.Background(), "udp", "8.8.8.8:53"); !errors.Is(err, ErrNotPublic) {
		t.Fatalf("udp dial: %v", err)
	}
}
