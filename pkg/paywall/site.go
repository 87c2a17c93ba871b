package paywall

import (
	"net/http"

	"github.com/paycrawl/paycrawl/pkg/pricing"
)

// Site is a priced site: who is paid, in which currency, and what each
// request costs.
type Site struct {
	// Pricing names the site's host, publisher and currency and holds its
	// price rules by route (path, prefix, glob) and per-crawler overrides.
	Pricing *pricing.Site
	// Price, when set, decides each request instead of Pricing's rules
	// (Pricing still names the publisher and currency, and a price it
	// returns must be in that currency). The crawler is known when the
	// request carries a payment or the site has crawler overrides; it is
	// the zero Crawler otherwise.
	Price func(r *http.Request, c pricing.Crawler) pricing.Decision
	// TermsURL and Description are shown in offers.
	TermsURL, Description string
}

// NewSite builds a Site from its configuration (prices are exact decimal
// strings, as in the gateway's YAML; Origin is not used).
func NewSite(c pricing.SiteConfig) (*Site, error) {
	ps, err := pricing.BuildSite(c)
	if err != nil {
		return nil, err
	}
	return &Site{Pricing: ps, TermsURL: c.TermsURL, Description: c.Description}, nil
}

func (s *Site) decide(r *http.Request, c pricing.Crawler) pricing.Decision {
	if s.Price != nil {
		return s.Price(r, c)
	}
	return s.Pricing.Decide(r.URL.Path, c)
}
