// Package facilitator is paycrawl's x402 facilitator API (x402 v2 §7):
// GET /supported, POST /verify and POST /settle for the batch-settlement
// scheme on paycrawl's network, so that a resource server that only knows
// the facilitator protocol meters crawlers into the same ledger and daily
// invoices as the gateway. The payload carries the crawler's signed HTTP
// request (the signed-request extension); the facilitator rebuilds it and
// runs it through pkg/paywall, the gateway's own request path, without
// serving anything: verify answers what the gateway would decide, settle
// records the commitment, idempotently by the payload's signature.
//
// Resource servers authenticate with their publisher's bearer token (the
// key directory's pcp_ tokens) and may only settle payments to that
// publisher; each publisher is rate limited.
package facilitator

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/paywall"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"golang.org/x/time/rate"
)

// Publishers authenticates resource servers by their publisher's token.
type Publishers interface {
	// AuthenticatePublisher returns the publisher a token belongs to; an
	// unknown or malformed token wraps registry.ErrUnauthorized.
	AuthenticatePublisher(ctx context.Context, token string) (*registry.Publisher, error)
}

var _ Publishers = (*registry.Store)(nil)

// Options configure a Facilitator. Ledger, Accounts and Publishers are
// required.
type Options struct {
	// Ledger records settled commitments; Accounts resolves crawler keys
	// and billing terms, as the gateway's do.
	Ledger   paywall.Ledger
	Accounts paywall.Accounts
	// Publishers authenticates the resource servers.
	Publishers Publishers
	// Policy is the signature policy, the gateway's (coverage profile,
	// validity, skew, nonce).
	Policy deferred.Policy
	// Network is the x402 network settled here; default "paycrawl:402".
	Network string
	// RatePerSecond and Burst bound each publisher's verify and settle
	// calls; defaults 50 and 100.
	RatePerSecond float64
	Burst         int
	// LedgerTimeout bounds one ledger call; default 1s.
	LedgerTimeout time.Duration
	// Logger is the fallback logger; requests log with httpx.Logger.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Facilitator serves the facilitator API. It is an http.Handler.
type Facilitator struct {
	o   Options
	mux *http.ServeMux
	// paywalls verify and record, one per URL scheme a resource server is
	// reached by (the scheme is part of what a signature may cover).
	paywalls map[string]*paywall.Paywall

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

// maxBody bounds a verify or settle request body.
const maxBody = 64 << 10

// New builds a Facilitator.
func New(o Options) (*Facilitator, error) {
	switch {
	case o.Ledger == nil:
		return nil, errors.New("facilitator: a ledger is required")
	case o.Accounts == nil:
		return nil, errors.New("facilitator: accounts are required")
	case o.Publishers == nil:
		return nil, errors.New("facilitator: publishers are required")
	}
	if o.Network == "" {
		o.Network = "paycrawl:402"
	}
	if o.RatePerSecond <= 0 {
		o.RatePerSecond = 50
	}
	if o.Burst <= 0 {
		o.Burst = 100
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	f := &Facilitator{o: o, paywalls: map[string]*paywall.Paywall{}, limiters: map[string]*rate.Limiter{}}
	// The facilitator issues no offers (its resource servers do), so its
	// offer secret only has to exist.
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	for _, scheme := range []string{"https", "http"} {
		pw, err := paywall.New(paywall.Options{
			Sites:          siteOf,
			Ledger:         o.Ledger,
			Accounts:       o.Accounts,
			OfferSecrets:   [][]byte{secret},
			Policy:         o.Policy,
			Scheme:         scheme,
			Network:        o.Network,
			ExternalOffers: true,
			LedgerTimeout:  o.LedgerTimeout,
			Logger:         httpx.Logger,
			RequestID:      requestIDOf,
			Now:            o.Now,
		})
		if err != nil {
			return nil, err
		}
		f.paywalls[scheme] = pw
	}
	f.mux = http.NewServeMux()
	f.mux.HandleFunc("GET /supported", f.supported)
	f.mux.HandleFunc("POST /verify", f.authenticated(f.verify))
	f.mux.HandleFunc("POST /settle", f.authenticated(f.settle))
	return f, nil
}

// ServeHTTP serves GET /supported, POST /verify and POST /settle; mount it
// under a prefix with http.StripPrefix.
func (f *Facilitator) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.mux.ServeHTTP(w, r) }

// supported lists what this facilitator settles. It needs no token: it
// says nothing about anyone.
func (f *Facilitator) supported(w http.ResponseWriter, r *http.Request) {
	extra := map[string]any{"version": deferred.BindingVersion}
	httpx.WriteJSON(w, http.StatusOK, SupportedResponse{
		Kinds: []SupportedKind{
			{X402Version: 2, Scheme: deferred.SchemeBatchSettlement, Network: f.o.Network, Extra: extra},
			{X402Version: 2, Scheme: deferred.SchemeUpto, Network: f.o.Network, Extra: extra},
		},
		Extensions: []string{"http-message-signatures", ExtensionSignedRequest},
		// No on-chain signer settles here: commitments are invoiced daily.
		Signers: map[string][]string{},
	})
}

// authenticated admits a request with a publisher's bearer token, within
// that publisher's rate.
func (f *Facilitator) authenticated(next func(http.ResponseWriter, *http.Request, *registry.Publisher)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := httpx.BearerToken(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="paycrawl-facilitator"`)
			httpx.WriteError(w, r, httpx.Errorf(http.StatusUnauthorized, "unauthorized", "send Authorization: Bearer pcp_… (your publisher token)"))
			return
		}
		pub, err := f.o.Publishers.AuthenticatePublisher(r.Context(), tok)
		switch {
		case errors.Is(err, registry.ErrUnauthorized):
			w.Header().Set("WWW-Authenticate", `Bearer realm="paycrawl-facilitator", error="invalid_token"`)
			httpx.WriteError(w, r, httpx.Errorf(http.StatusUnauthorized, "unauthorized", "unknown publisher token"))
			return
		case err != nil:
			httpx.Logger(r.Context()).Warn("publisher token unverifiable", "err", err)
			w.Header().Set("Retry-After", "1")
			httpx.WriteError(w, r, httpx.Errorf(http.StatusServiceUnavailable, "registry_unavailable", "the registry cannot be read; try again shortly"))
			return
		}
		if !f.limiter(pub.ID).Allow() {
			w.Header().Set("Retry-After", "1")
			httpx.WriteError(w, r, httpx.Errorf(http.StatusTooManyRequests, "rate_limited", "more than %g calls per second; slow down", f.o.RatePerSecond))
			return
		}
		next(w, r, pub)
	}
}

// limiter returns the publisher's token bucket. Publishers are few (each
// is an account made by an administrator), so the map stays small.
func (f *Facilitator) limiter(publisher string) *rate.Limiter {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.limiters[publisher]
	if !ok {
		l = rate.NewLimiter(rate.Limit(f.o.RatePerSecond), f.o.Burst)
		f.limiters[publisher] = l
	}
	return l
}
