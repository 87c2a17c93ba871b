// Package gateway is the publisher's metering reverse proxy: it verifies a
// crawler's signed commitment, prices the request, forwards it to the
// origin and, only on a 2xx from the origin, appends the commitment to the
// ledger before a single byte of the paid body is sent.
//
// The request path, in order: site → always-free → payment intent →
// signature (keys from the registry, replay pre-check) → price decision
// (charge, allow, block) → offer and price acceptance → billing profile and
// spend-cap pre-check → origin → on 2xx, ledger append → response with the
// receipt headers. If the ledger cannot be written the client gets 503 and
// nothing of the paid body.
package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/pricing"
	"github.com/prometheus/client_golang/prometheus"
)

// Ledger is what the gateway needs of pkg/ledger.
type Ledger interface {
	// Precheck reports, in one round trip, whether the signature was
	// already used and what the crawler has spent today.
	Precheck(ctx context.Context, account, day, currency string, replayIDs []string) (seen bool, spent money.Micros, err error)
	Append(ctx context.Context, c *ledger.Commitment, lim ledger.Limits) (string, error)
}

// Accounts resolves signing keys and the billing terms behind them.
type Accounts interface {
	deferred.KeyResolver
	// Billing returns an operator's billing terms; a missing profile is a
	// deferred *Error with CodeBillingMissing.
	Billing(ctx context.Context, operator string) (Billing, error)
}

// Billing is what the gateway needs of a crawler's billing profile.
type Billing struct {
	// DailyCap bounds the crawler's daily total; 0 means none.
	DailyCap money.Micros
	// DefaultMaxPrice bounds the price of one request that states no price
	// of its own; 0 means none.
	DefaultMaxPrice money.Micros
}

// Options are the gateway's dependencies.
type Options struct {
	Config   *Config
	Ledger   Ledger
	Accounts Accounts
	// Metrics receives the gateway's collectors; nil means unregistered ones.
	Metrics *Metrics
	Logger  *slog.Logger
	// Transport reaches the origins; nil means one with the configured
	// timeouts.
	Transport http.RoundTripper
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Gateway is the metering proxy. It is an http.Handler.
type Gateway struct {
	sites    atomic.Pointer[siteTable]
	offers   *deferred.Offers
	verifier *deferred.Verifier
	ledger   Ledger
	accounts Accounts
	proxy    *httputil.ReverseProxy
	metrics  *Metrics
	log      *slog.Logger
	now      func() time.Time

	scheme, network, registrationURL string
	ledgerTimeout                    time.Duration
	maxBody                          int64
}

// site is a priced site and where its origin is.
type site struct {
	*pricing.Site
	origin                *url.URL
	termsURL, description string
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

// New builds a gateway from a validated configuration.
func New(o Options) (*Gateway, error) {
	cfg := o.Config
	secrets, err := cfg.OfferSecrets()
	if err != nil {
		return nil, err
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	offers, err := deferred.NewOffers(secrets, cfg.OfferTTL.Or(5*time.Minute), now)
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
	g := &Gateway{
		offers: offers,
		// Replays are checked only for charged requests (see ServeHTTP), so
		// free and allowed paths never depend on the ledger.
		verifier: &deferred.Verifier{
			Keys: o.Accounts,
			Policy: deferred.Policy{
				MaxValidity:  time.Duration(cfg.Signatures.MaxValidity),
				ClockSkew:    time.Duration(cfg.Signatures.ClockSkew),
				RequireNonce: cfg.Signatures.RequireNonce,
				Profile:      profile,
			},
			Now: now,
		},
		ledger: o.Ledger, accounts: o.Accounts, metrics: o.Metrics, log: log, now: now,
		scheme: cfg.Scheme, network: cfg.Network, registrationURL: cfg.RegistrationURL,
		ledgerTimeout: cfg.LedgerTimeout.Or(time.Second),
		maxBody:       cfg.MaxBodyBytes,
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
			ResponseHeaderTimeout: cfg.OriginTimeout.Or(30 * time.Second),
			ExpectContinueTimeout: time.Second,
		}
	}
	g.proxy = &httputil.ReverseProxy{
		Rewrite:        g.rewrite,
		Transport:      transport,
		ModifyResponse: g.modifyResponse,
		ErrorHandler:   g.proxyError,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// FlushInterval 0: bodies stream through a buffer, flushed when it
		// fills; streaming content types (text/event-stream) flush at once.
	}
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
		t.sites[ps] = &site{Site: ps, origin: u, termsURL: configs[i].TermsURL, description: configs[i].Description}
	}
	g.sites.Store(t)
	return nil
}

// request is the state of one request on its way through the proxy.
type request struct {
	site     *site
	received time.Time
	// commitment is set when the response must be charged.
	commitment *ledger.Commitment
	limits     ledger.Limits
	dialect    deferred.Dialect
	// intent is the request's payment intent, if any.
	intent *deferred.Intent
	scheme string
	payer  string
	// price is what the resource costs this crawler, once decided.
	price money.Amount
	// bodyless marks an uncharged HEAD or OPTIONS of a paid resource: the
	// origin's answer is passed on without its body.
	bodyless bool
	// body records a failure to read the client's request body, so that it
	// is answered as the client's fault, not the origin's.
	body    *bodyReader
	outcome string
	code    string
}

type stateKey struct{}

func stateOf(ctx context.Context) *request {
	st, _ := ctx.Value(stateKey{}).(*request)
	return st
}

// ServeHTTP meters one request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := &request{received: g.now(), outcome: outcomeFree}
	defer func() { g.count(st) }()
	s, ok := g.sites.Load().lookup(r.Host)
	if !ok {
		st.outcome = outcomeUnknownSite
		g.refuse(w, r, st, deferred.Errorf(deferred.CodeUnknownSite, "this gateway serves no site %q", r.Host))
		return
	}
	st.site = s
	p := r.URL.Path
	if !canonicalPath(p) {
		g.refuse(w, r, st, deferred.Errorf(deferred.CodePathNotCanonical,
			"path %q has dot segments or empty segments; request %q", p, cleanPath(p)))
		return
	}
	if pricing.IsAlwaysFree(p) {
		g.forward(w, r, st)
		return
	}
	intent, err := deferred.ParseIntent(r.Header)
	if err != nil {
		g.refuse(w, r, st, err)
		return
	}
	st.intent = intent
	var verdict *deferred.Verdict
	var crawler pricing.Crawler
	signed := deferred.HasSignature(r.Header)
	// Identity is verified only where it decides something: a payment, or
	// a site whose rules name crawlers. Any other signed request is priced
	// as an anonymous one, so that no way of signing (and no directory
	// outage) costs a crawler a free page or the offer.
	if signed && (intent != nil || s.DecidesByCrawler()) {
		t0 := time.Now()
		verdict, err = g.verifier.Verify(r.Context(), r, g.scheme, intent)
		g.metrics.Verify.Observe(time.Since(t0).Seconds())
		if err != nil {
			g.refuse(w, r, st, err)
			return
		}
		crawler = pricing.Crawler{Agent: verdict.Agent.URL, Operator: verdict.Key.Account}
	} else if intent != nil {
		g.refuse(w, r, st, deferred.Errorf(deferred.CodeSignatureRequired, "a payment must be signed: add Signature-Agent, Signature-Input and Signature (Web Bot Auth)"))
		return
	}
	d := s.Decide(p, crawler)
	st.price = d.Price
	switch d.Action {
	case pricing.Block:
		st.outcome = outcomeBlocked
		g.refuse(w, r, st, deferred.Errorf(deferred.CodeBlocked, "the publisher does not serve this crawler"))
		return
	case pricing.Allow:
		st.outcome = outcomeAllowed
		g.forward(w, r, st)
		return
	}
	if r.Method == http.MethodHead || r.Method == http.MethodOptions {
		// Not charged, so no content may leave: modifyResponse drops any body
		// the origin sends (many frameworks answer OPTIONS like GET).
		st.outcome, st.bodyless = outcomeAllowed, true
		g.forward(w, r, st)
		return
	}
	if verdict == nil || intent == nil {
		msg := "this resource costs " + d.Price.String() + ": answer the offer with a signed commitment"
		if signed {
			msg = "signed, but no payment: add a Payment, PAYMENT-SIGNATURE or crawler-max-price header and cover it with the signature"
		}
		g.refuse(w, r, st, deferred.Errorf(deferred.CodePaymentRequired, "%s", msg))
		return
	}
	q := g.quote(r, s, d.Price)
	charge, err := g.offers.Accept(intent, q)
	if err != nil {
		g.refuse(w, r, st, err)
		return
	}
	if err := g.precheck(r.Context(), st, verdict, intent, charge); err != nil {
		g.refuse(w, r, st, err)
		return
	}
	st.dialect, st.scheme, st.payer = intent.Dialect, intent.Scheme, verdict.Agent.URL
	st.commitment = g.commitment(r, st, verdict, intent, charge)
	g.forward(w, r, st)
}

// precheck applies the crawler's billing terms and the replay check before
// the origin is asked: the account's default max price (when the request
// states no price of its own), a signature already recorded, and the daily
// cap against what is already spent. The ledger checks the replay, the max
// price and the cap again, atomically, when it appends.
func (g *Gateway) precheck(ctx context.Context, st *request, v *deferred.Verdict, in *deferred.Intent, charge money.Amount) error {
	account := v.Key.Account
	b, err := g.accounts.Billing(ctx, account)
	if err != nil {
		var de *deferred.Error
		if errors.As(err, &de) {
			return err
		}
		httpx.Logger(ctx).Warn("billing profile unreadable", "account", account, "err", err)
		return &deferred.Error{Code: deferred.CodeDirectoryUnavailable, Message: deferred.MessageDirectoryUnavailable, Err: err}
	}
	var maxPrice money.Micros
	if !in.HasPrice && b.DefaultMaxPrice > 0 {
		maxPrice = b.DefaultMaxPrice
		if charge.Value > maxPrice {
			return deferred.Errorf(deferred.CodePriceAboveMax, "the price %s is above your account's default max price %s; state your own with crawler-max-price", charge, maxPrice)
		}
	}
	st.limits = ledger.Limits{DailyCap: b.DailyCap, MaxPrice: maxPrice}
	lctx, cancel := context.WithTimeout(ctx, g.ledgerTimeout)
	defer cancel()
	t0 := time.Now()
	seen, spent, err := g.ledger.Precheck(lctx, account, day(st.received), charge.Currency, v.ReplayIDs)
	g.metrics.Ledger.WithLabelValues("precheck").Observe(time.Since(t0).Seconds())
	if err != nil {
		return &deferred.Error{Code: deferred.CodeLedgerUnavailable, Message: "the ledger cannot be read; try again shortly", Err: err}
	}
	if seen {
		return deferred.Errorf(deferred.CodeReplay, "this signature was already used; sign each request anew")
	}
	if b.DailyCap > 0 && spent+charge.Value > b.DailyCap {
		return deferred.Errorf(deferred.CodeOverCap, "today's spend %s plus %s would exceed your daily cap %s", spent, charge.Value, b.DailyCap)
	}
	return nil
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

// quote is what the resource costs, as an offer binds it.
func (g *Gateway) quote(r *http.Request, s *site, price money.Amount) deferred.Quote {
	authority := deferred.NormalizeAuthority(r.Host, g.scheme)
	return deferred.Quote{
		Resource:        g.scheme + "://" + authority + r.URL.EscapedPath(),
		Authority:       authority,
		Path:            r.URL.EscapedPath(),
		Price:           price,
		PayTo:           s.Publisher,
		Network:         g.network,
		Description:     s.description,
		MimeType:        "",
		TermsURL:        s.termsURL,
		RegistrationURL: g.registrationURL,
	}
}

func (g *Gateway) commitment(r *http.Request, st *request, v *deferred.Verdict, in *deferred.Intent, charge money.Amount) *ledger.Commitment {
	ev := v.Evidence
	// The request id makes the append idempotent (a resend of this request's
	// append is answered with the commitment it made): it is minted by this
	// server, never taken from the client, or one signature could buy many
	// pages by sending the same X-Request-Id with each copy.
	rid := httpx.RequestID(r.Context())
	if rid == "" {
		rid = httpx.NewRequestID()
	}
	return &ledger.Commitment{
		RequestID:      rid,
		Received:       st.received,
		Account:        v.Key.Account,
		Agent:          v.Agent.URL,
		KeyID:          v.Key.ID,
		PublicKey:      string(v.Key.JWK()),
		Publisher:      st.site.Publisher,
		Site:           st.site.Host,
		Method:         ev.Method,
		Scheme:         ev.Scheme,
		Authority:      ev.Authority,
		Path:           ev.RequestURI,
		Price:          charge.Value,
		Currency:       charge.Currency,
		OfferID:        in.OfferID,
		Dialect:        string(in.Dialect),
		Label:          ev.Label,
		SignatureInput: ev.SignatureInput,
		Signature:      ev.Signature,
		Covered:        ev.Headers,
		ReplayIDs:      v.ReplayIDs,
		ReplayUntil:    v.Expires,
	}
}

// forward sends the request to the origin through the reverse proxy.
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, st *request) {
	if r.ContentLength > g.maxBody {
		g.refuse(w, r, st, deferred.Errorf(deferred.CodeBodyTooLarge, "request body over %d bytes", g.maxBody))
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		st.body = &bodyReader{ReadCloser: http.MaxBytesReader(w, r.Body, g.maxBody)}
		r.Body = st.body
	}
	if len(r.TransferEncoding) > 0 {
		// net/http has already dropped a Content-Length sent alongside and
		// framed the body by Transfer-Encoding alone; RFC 9112 §6.1 still asks
		// that such a connection be closed after the response, and a chunked
		// request body is rare enough among crawlers to close after each.
		w.Header().Set("Connection", "close")
	}
	g.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
}

func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	st := stateOf(pr.In.Context())
	pr.SetURL(st.site.origin)
	pr.SetXForwarded()
	pr.Out.Header.Set("X-Forwarded-Host", pr.In.Host)
	if id := httpx.RequestID(pr.In.Context()); id != "" {
		pr.Out.Header.Set("X-Request-Id", id)
	}
	if st.commitment != nil {
		pr.Out.Header.Set("X-Paycrawl-Crawler", st.commitment.Account)
	}
}

// modifyResponse runs once the origin's headers are in and before anything
// is sent to the client: the one place where a paid response is charged.
func (g *Gateway) modifyResponse(resp *http.Response) error {
	st := stateOf(resp.Request.Context())
	g.metrics.Origin.Observe(time.Since(st.received).Seconds())
	if st.bodyless && resp.Request.Method != http.MethodHead {
		// An OPTIONS answer carries no content of a paid page. (A HEAD answer
		// never has a body: net/http discards it, and its Content-Length stays
		// meaningful.)
		_ = resp.Body.Close()
		resp.Body = http.NoBody
		resp.ContentLength = 0
		resp.TransferEncoding = nil
		resp.Header.Del("Content-Encoding")
		resp.Header.Set("Content-Length", "0")
	}
	if st.commitment == nil {
		return nil
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		st.outcome = outcomeNotCharged
		return nil
	}
	id, err := g.append(resp.Request.Context(), st)
	if err != nil {
		return &appendError{err: err}
	}
	rc := deferred.Receipt{
		Scheme: st.scheme, Network: g.network, OfferID: st.commitment.OfferID, CommitmentID: id,
		Payer:     st.payer,
		Charged:   money.Amount{Currency: st.commitment.Currency, Value: st.commitment.Price},
		Timestamp: st.received,
	}
	if err := rc.WriteHeaders(resp.Header, st.dialect); err != nil {
		return err
	}
	resp.Header.Set("Cache-Control", "private, no-store")
	st.outcome = outcomeCharged
	g.metrics.Charged.WithLabelValues(st.site.Host, st.commitment.Currency).Add(float64(st.commitment.Price))
	return nil
}

// appendTries bounds how often one commitment is sent to the ledger while
// its outcome is unknown.
const appendTries = 3

// append records the commitment. An append that failed on the way (a
// timeout, a dropped connection) may still have landed; it is sent again
// with the same server-minted request id, which the ledger answers
// idempotently: with the original commitment id if the first one landed,
// by recording it now if not. A resend that is answered therefore settles
// the outcome either way, so that a crawler is neither billed for a page it
// was refused nor refused a page it was billed for. When no resend is
// answered the outcome stays unknown, and the error says so
// (*unconfirmedError).
func (g *Gateway) append(ctx context.Context, st *request) (string, error) {
	var id string
	var err error
	backoff := 20 * time.Millisecond
	for try := 1; ; try++ {
		actx, cancel := context.WithTimeout(ctx, g.ledgerTimeout)
		t0 := time.Now()
		id, err = g.ledger.Append(actx, st.commitment, st.limits)
		g.metrics.Ledger.WithLabelValues("append").Observe(time.Since(t0).Seconds())
		cancel()
		if err == nil || !outcomeUnknown(err) {
			return id, err
		}
		if try == appendTries || ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(backoff):
			backoff *= 4
		case <-ctx.Done():
		}
	}
	if ctx.Err() != nil {
		httpx.Logger(ctx).Warn("client went away while its commitment's outcome was unknown; it may have been recorded",
			"request_id", st.commitment.RequestID, "account", st.commitment.Account, "err", err)
	}
	return "", &unconfirmedError{err: err}
}

// outcomeUnknown reports whether a failed append may nonetheless have
// landed: the ledger was unreachable or did not answer in time.
func outcomeUnknown(err error) bool {
	return errors.Is(err, ledger.ErrUnavailable) || isTimeout(err)
}

// unconfirmedError is an append that the ledger neither confirmed nor
// refused: the commitment may or may not be recorded.
type unconfirmedError struct{ err error }

func (e *unconfirmedError) Error() string { return "ledger append unconfirmed: " + e.err.Error() }
func (e *unconfirmedError) Unwrap() error { return e.err }

// bodyReader is the client's request body on its way to the origin; it
// keeps the first read error other than io.EOF.
// The transport reads it on a goroutine of its own, possibly still while
// the error handler looks.
type bodyReader struct {
	io.ReadCloser
	mu  sync.Mutex
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.mu.Lock()
		if b.err == nil {
			b.err = err
		}
		b.mu.Unlock()
	}
	return n, err
}

// clientFault returns the body's read error when it was the client's fault
// (malformed or short), not the gateway's own size cap.
func (b *bodyReader) clientFault() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil || errors.As(b.err, new(*http.MaxBytesError)) {
		return nil
	}
	return b.err
}

// appendError is a failed ledger append, as ModifyResponse reports it.
type appendError struct{ err error }

func (e *appendError) Error() string { return "ledger append: " + e.err.Error() }
func (e *appendError) Unwrap() error { return e.err }

// proxyError maps a failure of the origin or of the ledger append to a
// refusal: timeouts 504, other origin failures 502, a client that went away
// nothing at all, ledger failures 503 (or the ledger's own refusal).
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	st := stateOf(r.Context())
	var ae *appendError
	switch {
	case errors.As(err, &ae):
		st.outcome = outcomeLedgerError
		if errors.As(ae.err, new(*unconfirmedError)) {
			st.outcome = outcomeUnconfirmed
		}
		g.refuse(w, r, st, ledgerRefusal(ae.err, st.commitment.RequestID))
	case st.body.clientFault() != nil:
		// The client's own body was malformed (bad chunking) or cut short:
		// its fault, never blamed on the origin.
		st.outcome = outcomeRefused
		httpx.Logger(r.Context()).Info("request body unreadable", "err", st.body.clientFault())
		w.Header().Set("Connection", "close")
		g.refuse(w, r, st, deferred.Errorf(deferred.CodeBodyInvalid, "the request body could not be read: it is malformed or shorter than announced"))
	case r.Context().Err() != nil:
		st.outcome = outcomeClientGone
		httpx.Logger(r.Context()).Info("client went away", "err", err)
		w.WriteHeader(499) // nginx's "client closed request", for the logs
	case isTimeout(err):
		st.outcome = outcomeOriginError
		g.refuse(w, r, st, deferred.Errorf(deferred.CodeOriginTimeout, "the origin did not answer in time"))
	default:
		st.outcome = outcomeOriginError
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			st.outcome = outcomeRefused
			g.refuse(w, r, st, deferred.Errorf(deferred.CodeBodyTooLarge, "request body over %d bytes", mb.Limit))
			return
		}
		httpx.Logger(r.Context()).Warn("origin error", "site", st.site.Host, "err", err)
		g.refuse(w, r, st, deferred.Errorf(deferred.CodeOriginError, "the origin could not be reached"))
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// ledgerRefusal maps a failed append of the request requestID to the
// refusal the crawler sees. A refusal says "nothing was charged" only when
// the ledger refused the commitment, which it does atomically; an append
// whose outcome stayed unknown says that it may have been recorded.
func ledgerRefusal(err error, requestID string) error {
	switch {
	case errors.Is(err, ledger.ErrReplay):
		return &deferred.Error{Code: deferred.CodeReplay, Message: "this signature was already used; sign each request anew (nothing was charged)", Err: err}
	case errors.Is(err, ledger.ErrOverCap):
		return &deferred.Error{Code: deferred.CodeOverCap, Message: "your daily spend cap is reached; nothing was charged", Err: err}
	case errors.Is(err, ledger.ErrDayClosed):
		return &deferred.Error{Code: deferred.CodeLedgerUnavailable, Message: "this billing day is already closed (is the gateway's clock behind?); nothing was charged", Err: err}
	case errors.Is(err, ledger.ErrOverMaxPrice):
		return &deferred.Error{Code: deferred.CodePriceAboveMax, Message: "the price is above your account's max price; nothing was charged", Err: err}
	case errors.As(err, new(*unconfirmedError)):
		return &deferred.Error{Code: deferred.CodeChargeUnconfirmed, Err: err, Message: "the ledger did not confirm the payment in time: " +
			"it may have been recorded, though nothing of the page was sent (request id " + requestID + "). " +
			"Reconcile your receipts with the day's commitments (crawlctl reconcile); finance credits a charge for a page that was not delivered"}
	default:
		return &deferred.Error{Code: deferred.CodeLedgerUnavailable, Message: "the ledger refused to record the payment; nothing was charged, try again shortly", Err: err}
	}
}

// canonicalPath reports whether p has no dot segments and no empty
// segments, so that prices decided on p are the prices of what the origin
// serves.
func canonicalPath(p string) bool {
	return p != "" && p[0] == '/' && cleanPath(p) == p
}

func cleanPath(p string) string {
	c := path.Clean("/" + p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

func (g *Gateway) count(st *request) {
	host := ""
	if st.site != nil {
		host = st.site.Host
	}
	g.metrics.Requests.WithLabelValues(host, st.outcome, st.code).Inc()
}
