package registry

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/pkg/agreement"
)

// A publisher's hosts are the sites it may sell agreements for: every host
// of an agreement's scope must be one of them when the publisher offers it
// and again when the crawler accepts it. Each host is held by at most one
// publisher (its claim, pc:reg:{reg}:host:<host>, names the publisher, and
// the publisher's hash lists its hosts in field "hosts"; one script changes
// both), and only the platform's admin sets them, as it sets the fee: the
// registry cannot tell on its own which sites a publisher runs, and a
// publisher that could name any host would sell crawlers fees and credit
// for sites where no gateway applies its agreements (a gateway applies only
// the agreements of the site's own publisher), or for another publisher's
// content.
//
// A host is spelled as agreement.NormalizeHost spells it (lower case, no
// trailing dot, an internationalized name in punycode); a port is accepted
// and dropped, because a claim, like an agreement's scope and the gateway's
// site table, covers a host on every port.

// MaxPublisherHosts bounds the hosts of one publisher.
const MaxPublisherHosts = 256

// NormalizeHost returns host h as a publisher's hosts and agreement scopes
// spell it (agreement.NormalizeHost), after dropping a port
// ("news.example:8443" is news.example). Errors wrap ErrInvalid.
func NormalizeHost(h string) (string, error) {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[:i], ":") {
		port := h[i+1:]
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '+' || port[0] == '0' {
			return "", fmt.Errorf("%w: host %q: the port %q is not a number from 1 to 65535", ErrInvalid, truncate(h, 64), truncate(port, 8))
		}
		h = h[:i]
	}
	n, err := agreement.NormalizeHost(h)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return n, nil
}

// normalizeHosts normalizes, sorts and deduplicates hosts (at most
// MaxPublisherHosts). Errors wrap ErrInvalid.
func normalizeHosts(hosts []string) ([]string, error) {
	seen := map[string]bool{}
	out := []string{}
	for _, h := range hosts {
		n, err := NormalizeHost(h)
		if err != nil {
			return nil, err
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	if len(out) > MaxPublisherHosts {
		return nil, fmt.Errorf("%w: %d hosts, at most %d per publisher", ErrInvalid, len(out), MaxPublisherHosts)
	}
	sort.Strings(out)
	return out, nil
}

// hostsField is the stored form of a publisher's hosts.
func hostsField(hosts []string) string { return strings.Join(hosts, " ") }

// parseHostsField reads hostsField's form.
func parseHostsField(f string) []string {
	if f == "" {
		return []string{}
	}
	return strings.Fields(f)
}

// hostKeys are the claim keys of hosts.
func hostKeys(hosts []string) []string {
	keys := make([]string, len(hosts))
	for i, h := range hosts {
		keys[i] = hostKey(h)
	}
	return keys
}

// takenError reads a script's "taken:<i>:<owner>" answer about hosts.
func takenError(res string, hosts []string) error {
	parts := strings.SplitN(strings.TrimPrefix(res, "taken:"), ":", 2)
	i, err := strconv.Atoi(parts[0])
	if err != nil || i < 1 || i > len(hosts) || len(parts) != 2 {
		return fmt.Errorf("registry: host script answered %q", res)
	}
	return fmt.Errorf("%w: host %s is already publisher %s's; remove it from %s first to move it", ErrHostTaken, hosts[i-1], parts[1], parts[1])
}

// SetPublisherHosts replaces the hosts publisher id may sell agreements
// for with hosts (normalized by NormalizeHost; none removes them all) and
// returns the account. Only the platform's admin calls it (the key
// directory's admin token). A host another publisher holds wraps
// ErrHostTaken and changes nothing: to move a host, remove it from its
// publisher first. Agreements already accepted are left as they are (the
// settler flags the fees and top-ups of one whose host its publisher no
// longer holds). Errors wrap ErrInvalid, ErrHostTaken, ErrNotFound or
// ErrUnavailable.
func (s *Store) SetPublisherHosts(ctx context.Context, id string, hosts []string) (*Publisher, error) {
	hs, err := normalizeHosts(hosts)
	if err != nil {
		return nil, err
	}
	if !ValidPublisherID(id) {
		return nil, fmt.Errorf("%w: publisher %q", ErrNotFound, truncate(id, 64))
	}
	if err := s.setHosts(ctx, id, hs); err != nil {
		return nil, err
	}
	return s.Publisher(ctx, id)
}

// setHosts stores normalized hosts as publisher id's.
func (s *Store) setHosts(ctx context.Context, id string, hosts []string) error {
	for attempt := 0; attempt < 5; attempt++ {
		cur, err := s.rdb.HGet(ctx, pubKey(id), "hosts").Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return unavailable(err)
		}
		keep := map[string]bool{}
		for _, h := range hosts {
			keep[h] = true
		}
		var dropped []string
		for _, h := range parseHostsField(cur) {
			if !keep[h] {
				dropped = append(dropped, h)
			}
		}
		keys := append(append([]string{pubKey(id)}, hostKeys(hosts)...), hostKeys(dropped)...)
		now := s.opts.Now().UTC().Truncate(time.Millisecond)
		res, err := setPublisherHostsScript.Run(ctx, s.rdb, keys, id, cur, hostsField(hosts), len(hosts), ms(now)).Text()
		if err != nil {
			return unavailable(err)
		}
		switch {
		case res == "ok":
			s.opts.Logger.Info("registry: publisher hosts set", "publisher", id, "hosts", hostsField(hosts), "removed", hostsField(dropped))
			return nil
		case res == "missing":
			return fmt.Errorf("%w: publisher %s", ErrNotFound, id)
		case res == "stale":
			continue
		case strings.HasPrefix(res, "taken:"):
			return takenError(res, hosts)
		default:
			return fmt.Errorf("registry: set_publisher_hosts answered %q", res)
		}
	}
	return fmt.Errorf("%w: the hosts of %s kept changing; try again", ErrUnavailable, id)
}

// HostOwners returns the publisher that holds each of hosts (normalized
// by NormalizeHost), "" for a host nobody holds or that is not a host
// name. Errors wrap ErrUnavailable.
func (s *Store) HostOwners(ctx context.Context, hosts []string) (map[string]string, error) {
	out := make(map[string]string, len(hosts))
	var keys, names []string
	for _, h := range hosts {
		n, err := NormalizeHost(h)
		if err != nil {
			out[h] = ""
			continue
		}
		keys, names = append(keys, hostKey(n)), append(names, h)
	}
	if len(keys) == 0 {
		return out, nil
	}
	vals, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	for i, v := range vals {
		owner, _ := v.(string)
		out[names[i]] = owner
	}
	return out, nil
}

// scopeHostsNotOf returns the hosts of scope that publisher does not hold,
// each with its holder ("" for nobody), in scope order.
func (s *Store) scopeHostsNotOf(ctx context.Context, publisher string, scope []agreement.Site) ([][2]string, error) {
	hosts := make([]string, len(scope))
	for i, site := range scope {
		hosts[i] = site.Host
	}
	owners, err := s.HostOwners(ctx, hosts)
	if err != nil {
		return nil, err
	}
	var out [][2]string
	for _, h := range hosts {
		if o := owners[h]; o != publisher {
			out = append(out, [2]string{h, o})
		}
	}
	return out, nil
}

// checkOfferHosts refuses an offer by publisher whose scope names a host
// that is not publisher's: errors wrap both ErrForbidden and
// ErrHostNotYours.
func (s *Store) checkOfferHosts(ctx context.Context, publisher string, scope []agreement.Site) error {
	bad, err := s.scopeHostsNotOf(ctx, publisher, scope)
	if err != nil || len(bad) == 0 {
		return err
	}
	if n, err := s.rdb.Exists(ctx, pubKey(publisher)).Result(); err != nil {
		return unavailable(err)
	} else if n == 0 {
		return fmt.Errorf("%w: publisher %s", ErrNotFound, publisher)
	}
	whose := "no publisher's"
	if bad[0][1] != "" {
		whose = "another publisher's"
	}
	return fmt.Errorf("%w: %w: host %s is %s: a publisher offers agreements for its own hosts only, which the platform's admin sets (ask it to add the host to %s)",
		ErrForbidden, ErrHostNotYours, bad[0][0], whose, publisher)
}

// checkAcceptHosts refuses the acceptance of v when a host of its scope is
// no longer its publisher's (the admin moved or removed it after the
// offer): errors wrap ErrHostMoved.
func (s *Store) checkAcceptHosts(ctx context.Context, v *agreement.Agreement) error {
	bad, err := s.scopeHostsNotOf(ctx, v.Publisher, v.Scope)
	if err != nil || len(bad) == 0 {
		return err
	}
	return fmt.Errorf("%w: host %s of version %d of %s is no longer publisher %s's; nothing was accepted: ask the publisher for a new offer",
		ErrHostMoved, bad[0][0], v.Version, v.ID, v.Publisher)
}
