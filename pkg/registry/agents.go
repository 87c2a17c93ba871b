package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/pkg/botauth"
	"github.com/paycrawl/paycrawl/pkg/netguard"
	"github.com/redis/go-redis/v9"
)

// HostedAgentPath is the path under AgentBase where hosted directories live.
const HostedAgentPath = "/agents/"

// HostedHostPrefix starts the host label of an operator's own origin under
// HostedAgentsBase: operator "op_abc…" is "op-abc…" ("_" is not allowed in
// host names).
const HostedHostPrefix = "op-"

// maxAgentURL bounds an agent URL.
const maxAgentURL = 512

// AgentBase is the store's public base URL, without a trailing slash.
func (s *Store) AgentBase() string { return s.base }

// hostedBase is a parsed Options.HostedAgentsBase: the scheme, the domain
// the operators' hosts are under, and the port ("" for the default).
type hostedBase struct {
	scheme, domain, port string
}

func (b hostedBase) set() bool { return b.domain != "" }

// parseHostedBase checks Options.HostedAgentsBase: "" (no per-operator
// hosts), or an http(s) origin (no path, query or user info) whose host is a
// DNS name.
func parseHostedBase(s string) (hostedBase, error) {
	if s == "" {
		return hostedBase{}, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return hostedBase{}, fmt.Errorf("registry: hosted agents base %q is not an http(s) origin", s)
	}
	h := strings.ToLower(u.Hostname())
	if h != u.Hostname() || isIPLiteral(h) || strings.HasPrefix(h, ".") || strings.HasSuffix(h, ".") {
		return hostedBase{}, fmt.Errorf("registry: hosted agents base %q: want a lower-case DNS name, under which each operator gets a host", s)
	}
	port := u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	return hostedBase{scheme: u.Scheme, domain: h, port: port}, nil
}

func isIPLiteral(h string) bool {
	_, err := netip.ParseAddr(strings.Trim(h, "[]"))
	return err == nil
}

// HostedAgentURL is the agent URL of the directory this service hosts for
// an operator, the one it puts in Signature-Agent. With
// Options.HostedAgentsBase set it is the operator's own origin,
// "https://op-<id>.<base domain>", whose directory is at the well-known
// path a reference verifier (Cloudflare's) fetches; otherwise it is
// AgentBase + "/agents/" + operator id, a JWK Set URL that only verifiers
// which know it is hosted here (ours) resolve.
func (s *Store) HostedAgentURL(opID string) string {
	if s.hosted.set() {
		return s.HostedOrigin(opID)
	}
	return s.LegacyHostedAgentURL(opID)
}

// LegacyHostedAgentURL is AgentBase + "/agents/" + operator id, the hosted
// agent URL before per-operator hosts; it keeps resolving.
func (s *Store) LegacyHostedAgentURL(opID string) string { return s.base + HostedAgentPath + opID }

// HostedOrigin is the operator's own origin under HostedAgentsBase, or ""
// when none is configured.
func (s *Store) HostedOrigin(opID string) string {
	if !s.hosted.set() {
		return ""
	}
	host := HostedHostPrefix + strings.TrimPrefix(opID, OperatorIDPrefix) + "." + s.hosted.domain
	if s.hosted.port != "" {
		host += ":" + s.hosted.port
	}
	return s.hosted.scheme + "://" + host
}

// HostedOperatorForHost returns the operator whose own host (under
// HostedAgentsBase) is host, a request's Host: case-insensitive, with the
// configured port or none.
func (s *Store) HostedOperatorForHost(host string) (string, bool) {
	if !s.hosted.set() {
		return "", false
	}
	host = strings.ToLower(host)
	if h, p, err := net.SplitHostPort(host); err == nil {
		if p != s.hosted.port && !(s.hosted.port == "" && (p == "443" && s.hosted.scheme == "https" || p == "80" && s.hosted.scheme == "http")) {
			return "", false
		}
		host = h
	}
	label, ok := strings.CutSuffix(strings.TrimSuffix(host, "."), "."+s.hosted.domain)
	if !ok {
		return "", false
	}
	suffix, ok := strings.CutPrefix(label, HostedHostPrefix)
	if !ok || !ValidOperatorID(OperatorIDPrefix+suffix) {
		return "", false
	}
	return OperatorIDPrefix + suffix, true
}

// underHostedDomain reports a host inside HostedAgentsBase's domain.
func (s *Store) underHostedDomain(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return s.hosted.set() && (host == s.hosted.domain || strings.HasSuffix(host, "."+s.hosted.domain))
}

// HostedOperator returns the operator id of a hosted agent URL, and whether
// agentURL is one: AgentBase/agents/<well-formed operator id> (the form
// before per-operator hosts), or, with HostedAgentsBase set, an operator's
// own origin (with or without a trailing "/", or its well-known directory
// URL).
func (s *Store) HostedOperator(agentURL string) (string, bool) {
	if id, ok := strings.CutPrefix(agentURL, s.base+HostedAgentPath); ok {
		if !ValidOperatorID(id) {
			return "", false
		}
		return id, true
	}
	if !s.hosted.set() || len(agentURL) > maxAgentURL {
		return "", false
	}
	u, err := url.Parse(agentURL)
	if err != nil || u.Scheme != s.hosted.scheme || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", false
	}
	if u.Path != "" && u.Path != "/" && u.Path != botauth.WellKnownDirectoryPath {
		return "", false
	}
	return s.HostedOperatorForHost(u.Host)
}

// AgentHosts decides which hosts external agent URLs may name. Gateways
// fetch the directories of registered agents, so an agent URL must not point
// them at their own network. The zero value allows public DNS names only.
type AgentHosts struct {
	// AllowPrefixes lists non-public address prefixes that agent URLs may
	// point at, as IP literals or through their names (tests and demos:
	// 127.0.0.0/8). Options.AllowHTTPLoopbackAgents implies the loopback
	// prefixes.
	AllowPrefixes []netip.Prefix
	// DNS resolves agent hosts at registration; nil means
	// net.DefaultResolver.
	DNS netguard.Resolver
	// Timeout bounds that resolution; 0 means 5 s.
	Timeout time.Duration
}

func (s *Store) hostPolicy() *netguard.Policy {
	allow := s.opts.AgentHosts.AllowPrefixes
	if s.opts.AllowHTTPLoopbackAgents {
		allow = append(netguard.LoopbackPrefixes(), allow...)
	}
	return &netguard.Policy{Allow: allow}
}

// ValidateAgentURL checks an external agent URL: absolute https (http only
// to a loopback host when AllowHTTPLoopbackAgents is set), no user info,
// query or fragment, at most 512 bytes, in canonical form (lower-case scheme
// and host), not under this service's own base URL, and naming a host the
// gateways may connect to (netguard.Policy.CheckHost under AgentHosts): no
// IP literal in any form (127.1, 2130706433, [::1]) unless allow-listed, no
// localhost, no name that resolves now to a loopback, private, link-local,
// shared or otherwise non-public address. Gateways check the address again
// when they connect. Errors wrap ErrInvalidAgent.
func (s *Store) ValidateAgentURL(ctx context.Context, raw string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidAgent}, args...)...)
	}
	if raw == "" || len(raw) > maxAgentURL {
		return bad("give an absolute https URL of at most %d bytes", maxAgentURL)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return bad("%q is not an absolute URL", truncate(raw, 64))
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#") {
		return bad("%q must not carry user info, a query or a fragment", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !s.opts.AllowHTTPLoopbackAgents || !loopbackHost(u.Hostname()) {
			return bad("%q: agent URLs must be https", raw)
		}
	default:
		return bad("%q: agent URLs must be https", raw)
	}
	canon := *u
	canon.Scheme = strings.ToLower(u.Scheme)
	canon.Host = strings.ToLower(u.Host)
	if canon.String() != raw {
		return bad("%q is not in canonical form; register %q", raw, canon.String())
	}
	if raw == s.base || strings.HasPrefix(raw, s.base+"/") || s.underHostedDomain(u.Hostname()) {
		return bad("%q is on this key directory; your hosted agent is the agent_url of GET /v1/operators/me", raw)
	}
	ctx, cancel := context.WithTimeout(ctx, orDuration(s.opts.AgentHosts.Timeout, 5*time.Second))
	defer cancel()
	if err := s.hostPolicy().CheckHost(ctx, s.opts.AgentHosts.DNS, u.Hostname()); err != nil {
		var re *netguard.ResolveError
		if errors.As(err, &re) {
			s.opts.Logger.Warn("registry: resolving an agent host failed", "agent", raw, "err", re.Err)
		}
		return bad("%q: %v; agent URLs must name public hosts", raw, err)
	}
	return nil
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// loopbackHost reports a host that is loopback by definition: localhost, or
// a loopback IP literal in standard form.
func loopbackHost(host string) bool {
	h, err := netguard.ParseHost(host)
	if err != nil {
		return false
	}
	return h.IsLocalhost() || h.IsAddr() && h.Canonical && h.Addr.Unmap().IsLoopback()
}

// RegisterAgent maps an external agent URL to the operator. Registering the
// operator's own URL again changes nothing. A URL of another operator wraps
// ErrAgentTaken.
func (s *Store) RegisterAgent(ctx context.Context, opID, agentURL string) (*Agent, error) {
	if err := s.ValidateAgentURL(ctx, agentURL); err != nil {
		return nil, err
	}
	res, err := addAgentScript.Run(ctx, s.rdb, []string{agentKey(agentURL), opAgentsKey(opID), opKey(opID)},
		agentURL, opID, s.opts.MaxAgents).Text()
	if err != nil {
		return nil, unavailable(err)
	}
	switch res {
	case "ok", "exists":
	case "taken":
		return nil, fmt.Errorf("%w: %s", ErrAgentTaken, agentURL)
	case "nooperator":
		return nil, fmt.Errorf("%w: operator %s", ErrNotFound, opID)
	case "suspended":
		return nil, fmt.Errorf("%w: %s cannot register agents", ErrSuspended, opID)
	case "limit":
		return nil, fmt.Errorf("%w: %s already has %d agent URLs", ErrLimit, opID, s.opts.MaxAgents)
	default:
		return nil, fmt.Errorf("registry: add_agent answered %q", res)
	}
	s.publish(ctx, "agent", agentURL)
	return &Agent{URL: agentURL, Operator: opID}, nil
}

// Agents returns the operator's agents: its hosted agent first, then the
// external ones in URL order.
func (s *Store) Agents(ctx context.Context, opID string) ([]Agent, error) {
	urls, err := s.rdb.SMembers(ctx, opAgentsKey(opID)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	sort.Strings(urls)
	out := []Agent{{URL: s.HostedAgentURL(opID), Operator: opID, Hosted: true}}
	for _, u := range urls {
		out = append(out, Agent{URL: u, Operator: opID})
	}
	return out, nil
}

// AgentOperator returns the operator behind an agent URL, hosted or
// external, without checking that a hosted agent's operator exists. An
// unregistered URL wraps ErrNotFound.
func (s *Store) AgentOperator(ctx context.Context, agentURL string) (id string, hosted bool, err error) {
	if id, ok := s.HostedOperator(agentURL); ok {
		return id, true, nil
	}
	if agentURL == "" || len(agentURL) > maxAgentURL {
		return "", false, fmt.Errorf("%w: agent %q", ErrNotFound, truncate(agentURL, 64))
	}
	id, err = s.rdb.Get(ctx, agentKey(agentURL)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, fmt.Errorf("%w: agent %s", ErrNotFound, agentURL)
	}
	if err != nil {
		return "", false, unavailable(err)
	}
	return id, false, nil
}
