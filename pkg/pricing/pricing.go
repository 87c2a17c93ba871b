// Package pricing decides what a request to a publisher's site costs: per
// host a default price, rules by exact path, prefix or glob (a price, or
// free), and per crawler (agent URL or operator id) charge, allow, block or
// an own price. The always-free paths of pay-per-crawl (robots.txt, the
// sitemap, security.txt, crawlers.json) are free whatever the rules say.
package pricing

import (
	"path"
	"strings"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// Action is what the gateway does with a request.
type Action string

// The actions.
const (
	// Charge serves the resource against a commitment to pay Decision.Price.
	Charge Action = "charge"
	// Allow serves the resource without a charge.
	Allow Action = "allow"
	// Block refuses the request with 403 CrawlerForbidden.
	Block Action = "block"
)

// AlwaysFree lists the paths that are never charged nor blocked: those
// Cloudflare's pay-per-crawl serves free, /crawlers.json among them.
var AlwaysFree = []string{"/robots.txt", "/sitemap.xml", "/security.txt", "/.well-known/security.txt", "/crawlers.json"}

// IsAlwaysFree reports whether p is one of the always-free paths.
func IsAlwaysFree(p string) bool {
	for _, f := range AlwaysFree {
		if p == f {
			return true
		}
	}
	return false
}

// Crawler identifies a verified crawler. The zero value is an anonymous
// (unsigned or unverified) client.
type Crawler struct {
	// Agent is the Signature-Agent URL.
	Agent string
	// Operator is the operator id (billing account) behind the key.
	Operator string
}

// Decision is the outcome of pricing one request.
type Decision struct {
	Action Action
	// Price is what one successful response costs (Charge only).
	Price money.Amount
	// Reason names what decided: "always-free", a rule, a crawler override,
	// or "default".
	Reason string
}

// Rule prices requests whose path matches. Exactly one of Path, Prefix and
// Glob is set; Glob uses path.Match syntax ("*" stays within one segment).
type Rule struct {
	Path, Prefix, Glob string
	// Free serves matching paths without a charge; otherwise Price applies.
	Free  bool
	Price money.Micros
}

// Matches reports whether the rule applies to p.
func (r Rule) Matches(p string) bool {
	switch {
	case r.Path != "":
		return p == r.Path
	case r.Prefix != "":
		return strings.HasPrefix(p, r.Prefix)
	case r.Glob != "":
		ok, err := path.Match(r.Glob, p)
		return err == nil && ok
	}
	return false
}

func (r Rule) String() string {
	switch {
	case r.Path != "":
		return "path " + r.Path
	case r.Prefix != "":
		return "prefix " + r.Prefix
	default:
		return "glob " + r.Glob
	}
}

// Override is a per-crawler decision. Agent or Operator names the crawler.
type Override struct {
	Agent, Operator string
	Action          Action
	// Price, when set (HasPrice), replaces the path's price for a charged crawler.
	Price    money.Micros
	HasPrice bool
}

func (o Override) matches(c Crawler) bool {
	return (o.Agent != "" && o.Agent == c.Agent) || (o.Operator != "" && o.Operator == c.Operator)
}

// Site is one host's prices.
type Site struct {
	Host      string
	Publisher string
	Currency  string
	Default   money.Micros
	Rules     []Rule
	Crawlers  []Override
}

// DecidesByCrawler reports whether who the crawler is can change a decision
// on this site, that is whether it has per-crawler rules. Where it cannot,
// a request without a payment needs no verified identity.
func (s *Site) DecidesByCrawler() bool { return len(s.Crawlers) > 0 }

// Decide prices a request for path p by crawler c. Always-free paths come
// first, then a crawler's block or allow, then the first matching rule (free
// or priced), then the crawler's own price, then the site's default.
func (s *Site) Decide(p string, c Crawler) Decision {
	if IsAlwaysFree(p) {
		return Decision{Action: Allow, Reason: "always-free"}
	}
	var ov *Override
	if c != (Crawler{}) {
		for i := range s.Crawlers {
			if s.Crawlers[i].matches(c) {
				ov = &s.Crawlers[i]
				break
			}
		}
	}
	if ov != nil && ov.Action == Block {
		return Decision{Action: Block, Reason: "crawler " + ov.name()}
	}
	if ov != nil && ov.Action == Allow {
		return Decision{Action: Allow, Reason: "crawler " + ov.name()}
	}
	price, reason := s.Default, "default"
	for _, r := range s.Rules {
		if !r.Matches(p) {
			continue
		}
		if r.Free {
			return Decision{Action: Allow, Reason: "free " + r.String()}
		}
		price, reason = r.Price, r.String()
		break
	}
	if ov != nil && ov.HasPrice {
		price, reason = ov.Price, "crawler "+ov.name()
	}
	if price == 0 {
		return Decision{Action: Allow, Reason: reason + " (price 0)"}
	}
	return Decision{Action: Charge, Price: money.Amount{Currency: s.Currency, Value: price}, Reason: reason}
}

func (o Override) name() string {
	if o.Agent != "" {
		return o.Agent
	}
	return o.Operator
}

// Table holds the sites of a gateway by host.
type Table struct {
	sites map[string]*Site
}

// NewTable indexes sites by lower-case host.
func NewTable(sites []*Site) *Table {
	t := &Table{sites: make(map[string]*Site, len(sites))}
	for _, s := range sites {
		t.sites[strings.ToLower(s.Host)] = s
	}
	return t
}

// Site returns the site for a request's host (any port is ignored).
func (t *Table) Site(host string) (*Site, bool) {
	h := strings.ToLower(host)
	if s, ok := t.sites[h]; ok {
		return s, true
	}
	if i := strings.LastIndexByte(h, ':'); i > 0 && !strings.HasSuffix(h, "]") {
		s, ok := t.sites[h[:i]]
		return s, ok
	}
	return nil, false
}

// Sites lists the sites.
func (t *Table) Sites() []*Site {
	out := make([]*Site, 0, len(t.sites))
	for _, s := range t.sites {
		out = append(out, s)
	}
	return out
}
