package pricing

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/paycrawl/paycrawl/pkg/money"
	"gopkg.in/yaml.v3"
)

// SiteConfig is one site of the gateway's YAML configuration. Prices are
// decimal strings ("0.01") parsed exactly into micro-units.
type SiteConfig struct {
	Host         string           `yaml:"host"`
	Origin       string           `yaml:"origin"`
	Publisher    string           `yaml:"publisher"`
	Currency     string           `yaml:"currency"`
	DefaultPrice string           `yaml:"default_price"`
	TermsURL     string           `yaml:"terms_url"`
	Description  string           `yaml:"description"`
	Rules        []RuleConfig     `yaml:"rules"`
	Crawlers     []OverrideConfig `yaml:"crawlers"`

	// Line is where the site starts in the file.
	Line int `yaml:"-"`
}

// RuleConfig is a path rule: one of path, prefix or glob, and free or a price.
type RuleConfig struct {
	Path   string `yaml:"path"`
	Prefix string `yaml:"prefix"`
	Glob   string `yaml:"glob"`
	Free   bool   `yaml:"free"`
	Price  string `yaml:"price"`
	Line   int    `yaml:"-"`
}

// OverrideConfig is a per-crawler rule: agent or operator, an action and
// optionally an own price.
type OverrideConfig struct {
	Agent    string `yaml:"agent"`
	Operator string `yaml:"operator"`
	Action   string `yaml:"action"`
	Price    string `yaml:"price"`
	Line     int    `yaml:"-"`
}

// ConfigName names a site in configuration errors (config.Named).
func (SiteConfig) ConfigName() string { return "a site" }

// UnmarshalYAML records where a site starts. Unknown fields are refused, with
// their line, by the strict decoding of internal/config, which reads the
// configurations this type is part of.
func (s *SiteConfig) UnmarshalYAML(n *yaml.Node) error {
	type plain SiteConfig
	if err := n.Decode((*plain)(s)); err != nil {
		return err
	}
	s.Line = n.Line
	return nil
}

// ConfigName names a rule in configuration errors (config.Named).
func (RuleConfig) ConfigName() string { return "a rule" }

// UnmarshalYAML records where a rule starts. Unknown fields are refused, with
// their line, by the strict decoding of internal/config, which reads the
// configurations this type is part of.
func (r *RuleConfig) UnmarshalYAML(n *yaml.Node) error {
	type plain RuleConfig
	if err := n.Decode((*plain)(r)); err != nil {
		return err
	}
	r.Line = n.Line
	return nil
}

// ConfigName names a crawler override in configuration errors (config.Named).
func (OverrideConfig) ConfigName() string { return "a crawler override" }

// UnmarshalYAML records where a crawler override starts. Unknown fields are refused, with
// their line, by the strict decoding of internal/config, which reads the
// configurations this type is part of.
func (o *OverrideConfig) UnmarshalYAML(n *yaml.Node) error {
	type plain OverrideConfig
	if err := n.Decode((*plain)(o)); err != nil {
		return err
	}
	o.Line = n.Line
	return nil
}

// lineErr prefixes an error with its line in the configuration file.
func lineErr(line int, format string, args ...any) error {
	return fmt.Errorf("line %d: "+format, append([]any{line}, args...)...)
}

func parsePrice(line int, field, s string) (money.Micros, error) {
	m, err := money.Parse(strings.TrimSpace(s))
	if err != nil {
		return 0, lineErr(line, "%s %q: %v (write a decimal string such as \"0.01\")", field, s, err)
	}
	return m, nil
}

// Build validates the site configurations and returns the sites, with every
// problem reported (joined) and each one naming its line.
func Build(configs []SiteConfig) ([]*Site, error) {
	var errs []error
	seen := map[string]int{}
	var sites []*Site
	for i := range configs {
		c := &configs[i]
		s, serrs := buildSite(c)
		errs = append(errs, serrs...)
		if s.Host != "" {
			if prev, dup := seen[s.Host]; dup {
				errs = append(errs, lineErr(c.Line, "host %s is already configured at line %d", s.Host, prev))
			}
		}
		seen[s.Host] = c.Line
		if u, err := url.Parse(c.Origin); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, lineErr(c.Line, "site %s: origin %q is not an absolute http(s) URL", c.Host, c.Origin))
		}
		sites = append(sites, s)
	}
	if len(configs) == 0 {
		errs = append(errs, errors.New("no sites configured"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return sites, nil
}

// BuildSite checks and builds one site whose handler runs in-process (a
// pkg/paywall middleware): its Origin is not used and may be empty.
func BuildSite(c SiteConfig) (*Site, error) {
	s, errs := buildSite(&c)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// buildSite builds c's prices; errors name c's line.
func buildSite(c *SiteConfig) (*Site, []error) {
	var errs []error
	s := &Site{Host: strings.ToLower(strings.TrimSpace(c.Host)), Publisher: c.Publisher, Currency: c.Currency}
	if s.Host == "" {
		errs = append(errs, lineErr(c.Line, "site has no host"))
	}
	if c.Publisher == "" {
		errs = append(errs, lineErr(c.Line, "site %s has no publisher", c.Host))
	}
	if err := money.ValidateCurrency(c.Currency); err != nil {
		errs = append(errs, lineErr(c.Line, "site %s: currency %q: want an upper-case code such as USD", c.Host, c.Currency))
	}
	if c.DefaultPrice == "" {
		errs = append(errs, lineErr(c.Line, "site %s has no default_price (write \"0\" for free by default)", c.Host))
	} else if p, err := parsePrice(c.Line, "default_price", c.DefaultPrice); err != nil {
		errs = append(errs, err)
	} else {
		s.Default = p
	}
	for _, rc := range c.Rules {
		r, err := buildRule(rc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Rules = append(s.Rules, r)
	}
	for _, oc := range c.Crawlers {
		o, err := buildOverride(oc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Crawlers = append(s.Crawlers, o)
	}
	return s, errs
}

func buildRule(rc RuleConfig) (Rule, error) {
	set := 0
	for _, v := range []string{rc.Path, rc.Prefix, rc.Glob} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		return Rule{}, lineErr(rc.Line, "a rule needs exactly one of path, prefix or glob")
	}
	for _, v := range []string{rc.Path, rc.Prefix, rc.Glob} {
		if v != "" && !strings.HasPrefix(v, "/") {
			return Rule{}, lineErr(rc.Line, "rule %q must start with /", v)
		}
	}
	if rc.Glob != "" {
		if _, err := path.Match(rc.Glob, "/"); err != nil {
			return Rule{}, lineErr(rc.Line, "glob %q: %v", rc.Glob, err)
		}
	}
	r := Rule{Path: rc.Path, Prefix: rc.Prefix, Glob: rc.Glob, Free: rc.Free}
	switch {
	case rc.Free && rc.Price != "":
		return Rule{}, lineErr(rc.Line, "rule %s is free and has a price: choose one", r)
	case !rc.Free && rc.Price == "":
		return Rule{}, lineErr(rc.Line, "rule %s needs a price or free: true", r)
	case !rc.Free:
		p, err := parsePrice(rc.Line, "price", rc.Price)
		if err != nil {
			return Rule{}, err
		}
		r.Price = p
	}
	return r, nil
}

func buildOverride(oc OverrideConfig) (Override, error) {
	if (oc.Agent == "") == (oc.Operator == "") {
		return Override{}, lineErr(oc.Line, "a crawler rule needs exactly one of agent or operator")
	}
	o := Override{Agent: oc.Agent, Operator: oc.Operator, Action: Action(oc.Action)}
	switch o.Action {
	case "":
		o.Action = Charge
	case Charge, Allow, Block:
	default:
		return Override{}, lineErr(oc.Line, "action %q: want charge, allow or block", oc.Action)
	}
	if oc.Price != "" {
		if o.Action != Charge {
			return Override{}, lineErr(oc.Line, "a price only goes with action charge")
		}
		p, err := parsePrice(oc.Line, "price", oc.Price)
		if err != nil {
			return Override{}, err
		}
		o.Price, o.HasPrice = p, true
	}
	return o, nil
}
