package pricing

import (
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/money"
	"gopkg.in/yaml.v3"
)

const example = `
sites:
  - host: News.Example
    origin: http://127.0.0.1:9000
    publisher: pub_news
    currency: USD
    default_price: "0.01"
    rules:
      - prefix: /free/
        free: true
      - glob: /premium/*/full
        price: "0.05"
      - path: /zero
        price: "0"
    crawlers:
      - agent: https://friend.example
        action: allow
      - operator: op_bad
        action: block
      - agent: https://vip.example
        price: "0.002"
`

func load(t *testing.T, src string) []*Site {
	t.Helper()
	var cfg struct {
		Sites []SiteConfig `yaml:"sites"`
	}
	if err := yaml.Unmarshal([]byte(src), &cfg); err != nil {
		t.Fatal(err)
	}
	sites, err := Build(cfg.Sites)
	if err != nil {
		t.Fatal(err)
	}
	return sites
}

func TestDecide(t *testing.T) {
	site := load(t, example)[0]
	usd := func(m money.Micros) money.Amount { return money.Amount{Currency: "USD", Value: m} }
	anon := Crawler{}
	tests := []struct {
		path    string
		crawler Crawler
		action  Action
		price   money.Amount
	}{
		{"/article", anon, Charge, usd(10_000)},
		{"/robots.txt", anon, Allow, money.Amount{}},
		{"/robots.txt", Crawler{Operator: "op_bad"}, Allow, money.Amount{}},
		{"/.well-known/security.txt", anon, Allow, money.Amount{}},
		{"/crawlers.json", anon, Allow, money.Amount{}},
		{"/crawlers.json", Crawler{Operator: "op_bad"}, Allow, money.Amount{}},
		{"/sitemap.xml", Crawler{Operator: "op_bad"}, Allow, money.Amount{}},
		{"/free/x", anon, Allow, money.Amount{}},
		{"/premium/a/full", anon, Charge, usd(50_000)},
		{"/premium/a/b/full", anon, Charge, usd(10_000)},
		{"/zero", anon, Allow, money.Amount{}},
		{"/article", Crawler{Agent: "https://friend.example"}, Allow, money.Amount{}},
		{"/article", Crawler{Agent: "https://x.example", Operator: "op_bad"}, Block, money.Amount{}},
		{"/free/x", Crawler{Operator: "op_bad"}, Block, money.Amount{}},
		{"/article", Crawler{Agent: "https://vip.example"}, Charge, usd(2_000)},
		{"/premium/a/full", Crawler{Agent: "https://vip.example"}, Charge, usd(2_000)},
		{"/free/x", Crawler{Agent: "https://vip.example"}, Allow, money.Amount{}},
	}
	for _, tt := range tests {
		d := site.Decide(tt.path, tt.crawler)
		if d.Action != tt.action || d.Price != tt.price {
			t.Errorf("Decide(%s, %+v) = %+v; want %s %v", tt.path, tt.crawler, d, tt.action, tt.price)
		}
	}
}

func TestDecidesByCrawler(t *testing.T) {
	if !load(t, example)[0].DecidesByCrawler() {
		t.Error("a site with crawler rules says identity decides nothing")
	}
	if (&Site{Host: "plain.example", Default: 1}).DecidesByCrawler() {
		t.Error("a site without crawler rules says identity decides something")
	}
}

func TestTableSite(t *testing.T) {
	tab := NewTable(load(t, example))
	for _, h := range []string{"news.example", "NEWS.example", "news.example:8402"} {
		if _, ok := tab.Site(h); !ok {
			t.Errorf("Site(%q) not found", h)
		}
	}
	if _, ok := tab.Site("other.example"); ok {
		t.Error("unknown host found")
	}
}

func TestBuildErrorsNameTheLine(t *testing.T) {
	src := `sites:
  - host: a.example
    origin: ftp://x
    publisher: p
    currency: usd
    default_price: "0.0000001"
    rules:
      - prefix: /a/
        glob: /b/*
        price: "1"
      - path: /c
      - path: /d
        free: true
        price: "1"
      - glob: "/[x"
        price: "1"
    crawlers:
      - action: block
      - agent: https://x
        action: maybe
      - agent: https://y
        action: allow
        price: "1"
  - host: a.example
    origin: http://127.0.0.1:1
    publisher: p
    currency: USD
`
	var cfg struct {
		Sites []SiteConfig `yaml:"sites"`
	}
	if err := yaml.Unmarshal([]byte(src), &cfg); err != nil {
		t.Fatal(err)
	}
	_, err := Build(cfg.Sites)
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, want := range []string{
		"line 2: site a.example: origin",
		"line 2: site a.example: currency",
		"line 2: default_price",
		"line 8: a rule needs exactly one",
		"line 11: rule path /c needs a price",
		"line 12: rule path /d is free and has a price",
		"line 15: glob",
		"line 18: a crawler rule needs exactly one",
		"line 19: action \"maybe\"",
		"line 21: a price only goes with action charge",
		"line 24: host a.example is already configured at line 2",
		"line 24: site a.example has no default_price",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}

func FuzzRuleMatches(f *testing.F) {
	f.Add("/premium/*/full", "/premium/a/full")
	f.Add("/[", "/x")
	f.Fuzz(func(t *testing.T, glob, p string) {
		_ = Rule{Glob: glob}.Matches(p)
		_ = Rule{Prefix: glob}.Matches(p)
	})
}
