package registry

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/internal/testnet"
	"github.com/paycrawl/paycrawl/pkg/deferred"
)

// testDNS resolves agent hosts without the network.
type testDNS = testnet.DNS

// ssrfDNS maps names an attacker controls to the internal addresses they
// would point a gateway at.
var ssrfDNS = testDNS{
	"metadata.attacker.example": {"169.254.169.254"},
	"ten.attacker.example":      {"10.0.0.1"},
	"home.attacker.example":     {"192.168.1.1"},
	"cgnat.attacker.example":    {"100.64.0.1"},
	"ula.attacker.example":      {"fd00::1"},
	"loop.attacker.example":     {"127.0.0.1"},
	"loop6.attacker.example":    {"::1"},
	"zero.attacker.example":     {"0.0.0.0"},
	"mapped.attacker.example":   {"::ffff:10.0.0.1"},
	"nat64.attacker.example":    {"64:ff9b::a9fe:a9fe"},
	"mixed.attacker.example":    {"93.184.215.14", "10.0.0.1"},
	"public6.example":           {"2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
}

// TestRegisterAgentRefusesNonPublicHosts: against a real redis-server, every
// way of naming an internal address is refused at registration with
// invalid_agent_url (ErrInvalidAgent, a 400), and nothing is stored; the
// loopback allow-list admits loopback, and only loopback.
func TestRegisterAgentRefusesNonPublicHosts(t *testing.T) {
	ctx := context.Background()
	public := newFixture(t, func(o *Options) { o.AgentHosts.DNS = ssrfDNS })
	loop := newFixture(t, func(o *Options) {
		o.AgentHosts = AgentHosts{DNS: ssrfDNS, AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	})
	for _, tt := range []struct {
		url    string
		loopOK bool // accepted with loopback allow-listed
	}{
		{"https://169.254.169.254/latest/meta-data", false},
		{"https://10.0.0.1", false},
		{"https://10.255.255.254:8443", false},
		{"https://172.16.0.1", false},
		{"https://192.168.0.1", false},
		{"https://100.64.0.1", false},
		{"https://[fd00::1]", false},
		{"https://[fe80::1]", false},
		{"https://[::1]", true},
		{"https://[::1]:8443/jwks.json", true},
		{"https://[::ffff:127.0.0.1]", true},
		{"https://[::ffff:169.254.169.254]", false},
		{"https://[64:ff9b::a9fe:a9fe]", false},
		{"https://127.0.0.1", true},
		{"https://127.0.0.1:9/jwks.json", true},
		{"https://localhost", true},
		{"https://localhost:8443", true},
		{"https://api.localhost", true},
		{"https://127.1", false},
		{"https://2130706433", false},
		{"https://0x7f.1", false},
		{"https://0x7f000001", false},
		{"https://0177.0.0.1", false},
		{"https://0.0.0.0", false},
		{"https://0", false},
		{"https://[::]", false},
		{"https://224.0.0.1", false},
		{"https://255.255.255.255", false},
		{"https://198.18.0.1", false},
		{"https://192.0.2.1", false},
		{"https://240.0.0.1", false},
		{"https://8.8.8.8", false}, // a public IP literal: agents are named
		{"https://metadata.attacker.example", false},
		{"https://ten.attacker.example", false},
		{"https://home.attacker.example", false},
		{"https://cgnat.attacker.example", false},
		{"https://ula.attacker.example", false},
		{"https://loop.attacker.example", true},
		{"https://loop6.attacker.example", true},
		{"https://zero.attacker.example", false},
		{"https://mapped.attacker.example", false},
		{"https://nat64.attacker.example", false},
		{"https://mixed.attacker.example", false},
		{"https://nowhere.invalid", false},
		{"https://intranet", false},
		{"https://1.2.3.4.5", false},
	} {
		t.Run(tt.url, func(t *testing.T) {
			op, _ := public.signUp(t)
			_, err := public.store.RegisterAgent(ctx, op.ID, tt.url)
			wantErr(t, err, ErrInvalidAgent)
			if _, _, err := public.store.AgentOperator(ctx, tt.url); err == nil {
				t.Fatal("a refused agent URL was stored")
			}
			lop, _ := loop.signUp(t)
			_, err = loop.store.RegisterAgent(ctx, lop.ID, tt.url)
			if tt.loopOK && err != nil {
				t.Fatalf("loopback allow-listed: %v", err)
			}
			if !tt.loopOK {
				wantErr(t, err, ErrInvalidAgent)
			}
		})
	}
	// Public names pass.
	op, _ := public.signUp(t)
	for _, u := range []string{"https://signer.example", "https://public6.example/jwks.json"} {
		if _, err := public.store.RegisterAgent(ctx, op.ID, u); err != nil {
			t.Errorf("RegisterAgent(%q): %v", u, err)
		}
	}
	// The refusal of a name does not reveal the address it resolves to.
	err := public.store.ValidateAgentURL(ctx, "https://ten.attacker.example")
	if err == nil || strings.Contains(err.Error(), "10.0.0.1") {
		t.Fatalf("refusal names the address: %v", err)
	}
}

// TestHTTPLoopbackFlagAllowsLoopbackOnly: AllowHTTPLoopbackAgents (tests,
// the demo) implies the loopback allow-list and nothing more.
func TestHTTPLoopbackFlagAllowsLoopbackOnly(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func(o *Options) { o.AllowHTTPLoopbackAgents = true; o.AgentHosts.DNS = ssrfDNS })
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8080", true},
		{"https://127.0.0.1:8443", true},
		{"http://localhost:8080", true},
		{"http://[::1]:8080", true},
		{"http://127.1:8080", false},
		{"http://10.0.0.1:8080", false},
		{"https://10.0.0.1", false},
		{"http://loop.attacker.example", false}, // http only to a host that is loopback by definition
		{"https://ten.attacker.example", false},
		{"https://169.254.169.254", false},
	} {
		if err := f.store.ValidateAgentURL(ctx, tt.url); (err == nil) != tt.ok {
			t.Errorf("ValidateAgentURL(%q) = %v, want ok=%v", tt.url, err, tt.ok)
		}
	}
}

// TestHostedAgentURLs: with HostedAgentsBase each operator's hosted agent is
// an origin of its own; that origin (bare, with "/", or as its well-known
// URL) and the older <base>/agents/<id> form are both hosted, whatever the
// case of the host; look-alikes are not, and nobody may register a URL under
// the hosted domain as an external agent.
func TestHostedAgentURLs(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func(o *Options) { o.HostedAgentsBase = "https://agents.example" })
	op, _ := f.signUp(t)
	suffix := strings.TrimPrefix(op.ID, OperatorIDPrefix)
	origin := "https://op-" + suffix + ".agents.example"
	if got := f.store.HostedAgentURL(op.ID); got != origin {
		t.Fatalf("HostedAgentURL = %q, want %q", got, origin)
	}
	for _, tt := range []struct {
		url    string
		hosted bool
	}{
		{origin, true},
		{origin + "/", true},
		{origin + deferred.WellKnownDirectoryPath, true},
		{"https://OP-" + strings.ToUpper(suffix) + ".Agents.Example", true},
		{origin + ":443", true},
		{testBase + "/agents/" + op.ID, true},
		{"http://op-" + suffix + ".agents.example", false},
		{origin + ":8443", false},
		{origin + "/other", false},
		{origin + "/?q=1", false},
		{"https://op_" + suffix + ".agents.example", false},
		{"https://op-" + suffix + ".evil.example", false},
		{"https://op-" + suffix + ".agents.example.evil.example", false},
		{"https://x.op-" + suffix + ".agents.example", false},
		{"https://op-zz.agents.example", false},
		{testBase + "/agents/nonsense", false},
	} {
		id, ok := f.store.HostedOperator(tt.url)
		if ok != tt.hosted || (ok && id != op.ID) {
			t.Errorf("HostedOperator(%q) = %q, %v; want hosted %v", tt.url, id, ok, tt.hosted)
		}
	}
	if id, ok := f.store.HostedOperatorForHost("op-" + suffix + ".agents.example:443"); !ok || id != op.ID {
		t.Errorf("HostedOperatorForHost with the default port = %q, %v", id, ok)
	}
	for _, u := range []string{"https://agents.example", "https://other.agents.example", origin} {
		if _, err := f.store.RegisterAgent(ctx, op.ID, u); !errors.Is(err, ErrInvalidAgent) {
			t.Errorf("RegisterAgent(%q) = %v, want ErrInvalidAgent", u, err)
		}
	}
	for _, base := range []string{"https://agents.example/path", "https://127.0.0.1", "ftp://agents.example", "https://Agents.example", "https://u@agents.example"} {
		if _, err := NewStore(f.store.Redis(), Options{AgentBase: testBase, HostedAgentsBase: base}); err == nil {
			t.Errorf("HostedAgentsBase %q accepted", base)
		}
	}
	// Without HostedAgentsBase the hosted agent is the older form.
	plain := newFixture(t, nil)
	if got := plain.store.HostedAgentURL(op.ID); got != testBase+"/agents/"+op.ID {
		t.Errorf("HostedAgentURL without a base = %q", got)
	}
	if _, ok := plain.store.HostedOperator(origin); ok {
		t.Error("a per-operator origin is hosted without HostedAgentsBase")
	}
}
