// Package gateway is the publisher's metering reverse proxy: pkg/paywall's
// middleware wrapped around an httputil.ReverseProxy to the sites'
// origins. The paywall verifies a crawler's signed commitment and prices
// the request; the proxy forwards it; the paywall's ModifyResponse hook
// appends the commitment to the ledger, only on a 2xx from the origin,
// before a single byte of the paid body is read or sent, and its
// ErrorHandler answers origin and ledger failures.
//
// The request path, in order (pkg/paywall): site → always-free → payment
// intent → signature (keys from the registry, replay pre-check) → price
// decision (charge, allow, block) → offer and price acceptance → billing
// profile and spend-cap pre-check → origin → on 2xx, ledger append →
// response with the receipt headers. If the ledger cannot be written the
// client gets 503 and nothing of the paid body.
package gateway

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/paywall"
	"github.com/paycrawl/paycrawl/pkg/pricing"
	"github.com/paycrawl/paycrawl/pkg/refusals"
	"github.com/prometheus/client_golang/prometheus"
)

// Ledger is what the gateway needs of pkg/ledger.
type Ledger = paywall.Ledger

// Accounts resolves signing keys and the billing terms behind them.
type Accounts = paywall.Accounts

// Billing is what the gateway needs of a crawler's billing profile.
type Billing = paywall.Billing

// Options are the gateway's dependencies.
type Options struct {
	Config   *Config
	Ledger   Ledger
	Accounts Accounts
	// Agreements prices crawlers' requests by their agreements with the
	// publishers; nil means list prices (see paywall.Options.Agreements).
	Agreements paywall.Agreements
	// Refusals, when set, counts each refusal sent
	// (*refusals.Recorder); its Record must not block.
	Refusals RefusalRecorder
	// Metrics receives the gateway's collectors; nil means unregistered ones.
	Metrics *Metrics
	Logger  *slog.Logger
	// Transport reaches the origins; nil means one with the configured
	// timeouts.
	Transport http.RoundTripper
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// RefusalRecorder counts refusals (*refusals.Recorder).
type RefusalRecorder interface {
	Add(rf refusals.Refusal)
}

var _ RefusalRecorder = (*refusals.Recorder)(nil)

// Gateway is the metering proxy. It is an http.Handler.
type Gateway struct {
	sites   atomic.Pointer[siteTable]
	handler http.Handler
	metrics *Metrics
	log     *slog.Logger
}

// site is a priced site and where its origin is.
type site struct {
	paywall.Site
	origin *url.URL
}

type siteTable struct {
	table *pricing.Table
	sites map[*pricing.Site]*site
}

func (t *siteTable) lookup(host string) (*site, bool) {
	ps, ok := t.table.Site(host)
	if !ok {
		return nil, false
	}
	return t.sites[ps], true
}

// tableKey carries the site table a request started with, so that the
// paywall prices it and the proxy forwards it by the same table.
type tableKey struct{}

func siteOf(r *http.Request) *site {
	t, _ := r.Context().Value(tableKey{}).(*siteTable)
	if t == nil {
		return nil
	}
	s, _ := t.lookup(r.Host)
	return s
}

// New builds a gateway from a validated configuration.
func New(o Options) (*Gateway, error) {
	cfg := o.Config
	secrets, err := cfg.OfferSecrets()
	if err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	profile, err := deferred.ParseProfile(cfg.Signatures.Profile)
	if err != nil {
		return nil, err
	}
	g := &Gateway{metrics: o.Metrics, log: log}
	var refused func(*http.Request, paywall.Refusal)
	if o.Refusals != nil {
		refused = func(_ *http.Request, rf paywall.Refusal) {
			o.Refusals.Add(refusals.Refusal{Publisher: rf.Publisher, Account: rf.Account, Signature: rf.Signature,
				SignatureExpires: rf.SignatureExpires, Code: rf.Code, At: rf.Received})
		}
	}
	pw, err := paywall.New(paywall.Options{
		Sites: func(r *http.Request) *paywall.Site {
			if s := siteOf(r); s != nil {
				return &s.Site
			}
			return nil
		},
		Ledger: o.Ledger, Accounts: o.Accounts, Agreements: o.Agreements,
		OfferSecrets: secrets, OfferTTL: cfg.OfferTTL,
		Policy: deferred.Policy{
			MaxValidity:  cfg.Signatures.MaxValidity,
			ClockSkew:    cfg.Signatures.ClockSkew,
			RequireNonce: cfg.Signatures.RequireNonce,
			Profile:      profile,
		},
		Scheme: cfg.Scheme, Network: cfg.Network, RegistrationURL: cfg.RegistrationURL,
		LedgerTimeout: cfg.LedgerTimeout,
		MaxBodyBytes:  cfg.MaxBodyBytes,
		Refused:       refused,
		Metrics:       o.Metrics.Metrics,
		Logger:        httpx.Logger,
		RequestID:     httpx.RequestID,
		Now:           o.Now,
	})
	if err != nil {
		return nil, err
	}
	if err := g.Reload(cfg.Sites); err != nil {
		return nil, err
	}
	transport := o.Transport
	if transport == nil {
		transport = &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          1024,
			MaxIdleConnsPerHost:   256,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: cfg.OriginTimeout,
			ExpectContinueTimeout: time.Second,
		}
	}
	proxy := &httputil.ReverseProxy{
		Rewrite:        rewrite,
		Transport:      transport,
		ModifyResponse: pw.ModifyResponse,
		ErrorHandler:   pw.ErrorHandler,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BufferPool:     &httpx.BufferPool{},
		// FlushInterval 0: bodies stream through a buffer, flushed when it
		// fills; streaming content types (text/event-stream) flush at once.
	}
	g.handler = pw.Wrap(proxy)
	return g, nil
}

// Reload replaces the sites and prices atomically; requests in flight keep
// the table they started with.
func (g *Gateway) Reload(configs []pricing.SiteConfig) error {
	built, err := pricing.Build(configs)
	if err != nil {
		return err
	}
	t := &siteTable{table: pricing.NewTable(built), sites: map[*pricing.Site]*site{}}
	for i, ps := range built {
		u, err := url.Parse(configs[i].Origin)
		if err != nil {
			return err
		}
		t.sites[ps] = &site{Site: paywall.Site{Pricing: ps, TermsURL: configs[i].TermsURL, Description: configs[i].Description}, origin: u}
	}
	g.sites.Store(t)
	return nil
}

// ServeHTTP meters one request and forwards it to its site's origin.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.handler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tableKey{}, g.sites.Load())))
}

func rewrite(pr *httputil.ProxyRequest) {
	s := siteOf(pr.In)
	pr.SetURL(s.origin)
	pr.SetXForwarded()
	// Header.Set of each, with the values in one allocation (the keys are
	// canonical).
	vals := make([]string, 0, 3)
	set := func(key, v string) {
		vals = append(vals, v)
		pr.Out.Header[key] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	set("X-Forwarded-Host", pr.In.Host)
	if id := httpx.RequestID(pr.In.Context()); id != "" {
		set("X-Request-Id", id)
	}
	if m, ok := paywall.FromContext(pr.In.Context()); ok && m.Account != "" {
		set("X-Paycrawl-Crawler", m.Account)
	}
}
