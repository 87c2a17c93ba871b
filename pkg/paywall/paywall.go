package paywall

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/pricing"
	"github.com/paycrawl/paycrawl/pkg/recent"
)

// Ledger is what the paywall needs of pkg/ledger (*ledger.Ledger): the
// append, the one ledger round trip of a charged request. The checks before
// the handler runs ask the paywall's memory of the ledger's answers
// (pkg/recent) instead.
type Ledger interface {
	// Append records a commitment atomically with its replay and cap
	// checks, idempotently by its RequestID, and returns its id.
	Append(ctx context.Context, c *ledger.Commitment, lim ledger.Limits) (string, error)
}

// Accounts resolves signing keys and the billing terms behind them.
type Accounts interface {
	deferred.KeyResolver
	// Billing returns an operator's billing terms; a missing profile is a
	// deferred *Error with CodeBillingMissing.
	Billing(ctx context.Context, operator string) (Billing, error)
}

// Billing is what the paywall needs of a crawler's billing profile.
type Billing struct {
	// DailyCap bounds the crawler's daily total; 0 means none.
	DailyCap money.Micros
	// DefaultMaxPrice bounds the price of one request that states no price
	// of its own; 0 means none.
	DefaultMaxPrice money.Micros
}

// Options configure a Paywall. Accounts, OfferSecrets and one of Site or
// Sites are required; every other zero value takes the default its field
// documents.
type Options struct {
	// Site prices every request when Sites is nil.
	Site *Site
	// Sites returns the site a request is addressed to, or nil: such a
	// request is refused (unknown_site).
	Sites func(r *http.Request) *Site

	// Ledger records commitments; nil means none, and every paid request
	// is refused as ledger_unavailable (free and allowed ones are served).
	// Accounts resolves keys and billing.
	Ledger   Ledger
	Accounts Accounts
	// Agreements, when set, gives the agreements that price a crawler's
	// paid requests instead of the site's list price (a negotiated rate,
	// a subscription's quota, a prepaid balance); nil means list prices.
	Agreements Agreements

	// OfferSecrets sign offer ids (at least 32 bytes each); the first
	// signs, all verify. Every server of one site must share them.
	OfferSecrets [][]byte
	// OfferTTL is how long an offer stays acceptable; default 5m.
	OfferTTL time.Duration
	// Policy is the signature policy (coverage profile, validity, skew,
	// nonce); its zero value is the reference profile with the defaults
	// of deferred.Policy.
	Policy deferred.Policy

	// Scheme is the scheme clients use to reach the server ("https" behind
	// a TLS terminator); default "http". It makes the offered resource URL
	// and the @target-uri a signature covers.
	Scheme string
	// Network is the x402 network id of the offers; default "paycrawl:402".
	Network string
	// RegistrationURL tells unknown crawlers where to register keys.
	RegistrationURL string

	// ExternalOffers accepts payments that answer offers this paywall did
	// not issue: a facilitator's resource servers make their own offers
	// and vouch for their prices. The offer id is then recorded, not
	// checked, and the commitment's ceiling is held against the site's
	// price. Off by default: a paywall checks that it issued each offer id
	// for the resource, publisher and price.
	ExternalOffers bool

	// LedgerTimeout bounds one ledger call; default 1s.
	LedgerTimeout time.Duration
	// MaxBodyBytes caps a request body passed to the handler; default
	// 10 MiB.
	MaxBodyBytes int64

	// BeforeCharge, when set, runs just before a commitment is appended
	// (the handler has answered 2xx, nothing is sent yet); an error refuses
	// the request, nothing charged (a deferred *Error chooses the code;
	// any other error is a 500 whose text is logged, not sent).
	BeforeCharge func(r *http.Request, c *ledger.Commitment) error
	// AfterCharge, when set, runs once a commitment is recorded, with its
	// ledger id, before the response is sent. It must not block.
	AfterCharge func(r *http.Request, c *ledger.Commitment, id string)

	// Refused, when set, is told of each refusal the middleware sends for
	// a request of a known site, once it is written (the refusals of
	// Authorize and Record are their caller's to count). It runs on the
	// request path and must not block: no I/O (pkg/refusals' Recorder
	// counts in memory and flushes apart).
	Refused func(r *http.Request, rf Refusal)

	// Metrics receives the collectors; nil means unregistered ones.
	Metrics *Metrics
	// Logger returns the logger of a request's context; nil means
	// slog.Default.
	Logger func(ctx context.Context) *slog.Logger
	// RequestID returns the id this server minted for the request in ctx,
	// or "": it makes a commitment's append idempotent, and is shown in
	// refusals. Nil, or "", means a fresh random id per commitment. It must
	// never be taken from the client.
	RequestID func(ctx context.Context) string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Paywall meters requests to the handlers it wraps. It is safe for
// concurrent use.
type Paywall struct {
	o        Options
	offers   *deferred.Offers
	verifier *deferred.Verifier
	memo     *recent.Memo
	metrics  *Metrics
	now      func() time.Time
	days     ledger.Days
	jwks     jwks
}

// Errors of New.
var (
	// ErrNoSite is a Paywall with neither Site nor Sites.
	ErrNoSite = errors.New("paywall: a Site or a Sites function is required")
	// ErrNoAccounts is a Paywall without Accounts.
	ErrNoAccounts = errors.New("paywall: Accounts (keys and billing) are required")
)

// New builds a Paywall.
func New(o Options) (*Paywall, error) {
	if o.Site == nil && o.Sites == nil {
		return nil, ErrNoSite
	}
	if o.Accounts == nil {
		return nil, ErrNoAccounts
	}
	if o.Ledger == nil {
		o.Ledger = noLedger{}
	}
	if o.Sites == nil {
		s := o.Site
		o.Sites = func(*http.Request) *Site { return s }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = func(context.Context) *slog.Logger { return slog.Default() }
	}
	if o.RequestID == nil {
		o.RequestID = func(context.Context) string { return "" }
	}
	if o.Scheme == "" {
		o.Scheme = "http"
	}
	if o.Network == "" {
		o.Network = "paycrawl:402"
	}
	if o.OfferTTL <= 0 {
		o.OfferTTL = 5 * time.Minute
	}
	if o.LedgerTimeout <= 0 {
		o.LedgerTimeout = time.Second
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 10 << 20
	}
	offers, err := deferred.NewOffers(o.OfferSecrets, o.OfferTTL, o.Now)
	if err != nil {
		return nil, err
	}
	m := o.Metrics
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Paywall{
		o: o, offers: offers, metrics: m, now: o.Now, memo: recent.New(0, o.Now),
		// Replays are checked only for charged requests (see serve), so
		// free and allowed paths never depend on the ledger.
		verifier: &deferred.Verifier{Keys: o.Accounts, Policy: o.Policy, Now: o.Now},
	}, nil
}

// Middleware returns Wrap as a func(http.Handler) http.Handler, the form
// router libraries take.
func (p *Paywall) Middleware() func(http.Handler) http.Handler { return p.Wrap }

// Wrap meters the requests to next: next runs only for a request that is
// free, allowed or paid (verified and prechecked); its first 2xx status
// charges the commitment before any byte is sent. Request bodies are capped
// at MaxBodyBytes.
func (p *Paywall) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.serve(w, r, next)
	})
}

// request is the state of one request on its way through the paywall.
type request struct {
	site     *Site
	received time.Time
	// commitment is set when the response must be charged.
	commitment *ledger.Commitment
	limits     ledger.Limits
	dialect    deferred.Dialect
	// intent is the request's payment intent, if any.
	intent *deferred.Intent
	scheme string
	payer  string
	// account is the operator whose key verified the signature, if one
	// did; signature is that signature's first replay id, valid until
	// signatureExpires.
	account, signature string
	signatureExpires   time.Time
	// price is what the resource costs this crawler, once decided.
	price money.Amount
	// bodyless marks an uncharged HEAD or OPTIONS of a paid resource: the
	// handler's answer is passed on without its body.
	bodyless bool
	// resend marks a request that may repeat one already recorded under the
	// same RequestID (Authorize): the replay and cap checks are the
	// ledger's.
	resend bool
	// decided is set once the response is charged, left uncharged or
	// refused: nothing may change that any more.
	decided bool
	// chargeID is the ledger id of the recorded commitment.
	chargeID string
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

// Metered is what the paywall decided about a request, as the wrapped
// handler sees it.
type Metered struct {
	// Site is the request's site.
	Site *Site
	// Received is when the paywall received the request.
	Received time.Time
	// Price is what the resource costs this crawler (zero when free).
	Price money.Amount
	// Account is the paying crawler's operator, "" when the request is
	// not charged.
	Account string
}

// FromContext returns the paywall's decision about the request of ctx, as
// seen by a wrapped handler.
func FromContext(ctx context.Context) (Metered, bool) {
	st := stateOf(ctx)
	if st == nil {
		return Metered{}, false
	}
	m := Metered{Site: st.site, Received: st.received, Price: st.price}
	if st.commitment != nil {
		m.Account = st.commitment.Account
	}
	return m, true
}

// serve meters one request.
func (p *Paywall) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	st := &request{received: p.now(), outcome: outcomeFree}
	defer func() { p.count(st) }()
	s := p.o.Sites(r)
	if s == nil {
		st.outcome = outcomeUnknownSite
		p.refuse(w, r, st, deferred.Errorf(deferred.CodeUnknownSite, "this server serves no site %q", r.Host))
		return
	}
	st.site = s
	pa := r.URL.Path
	if !canonicalPath(pa) {
		p.refuse(w, r, st, pathError(pa))
		return
	}
	if pricing.IsAlwaysFree(pa) {
		p.forward(w, r, st, next)
		return
	}
	if err := p.admit(r, st); err != nil {
		p.refuse(w, r, st, err)
		return
	}
	p.forward(w, r, st, next)
}

// admit runs the checks before the handler: intent, signature, decision,
// offer, precheck. A nil error lets the request go on (charged when
// st.commitment is set); an error is the refusal to answer.
func (p *Paywall) admit(r *http.Request, st *request) error {
	s := st.site
	intent, err := deferred.ParseIntent(r.Header)
	if err != nil {
		return err
	}
	st.intent = intent
	var verdict *deferred.Verdict
	var crawler pricing.Crawler
	signed := deferred.HasSignature(r.Header)
	// Identity is verified only where it decides something: a payment, or
	// a site whose rules name crawlers. Any other signed request is priced
	// as an anonymous one, so that no way of signing (and no directory
	// outage) costs a crawler a free page or the offer.
	if signed && (intent != nil || s.Pricing.DecidesByCrawler()) {
		t0 := time.Now()
		verdict, err = p.verifier.Verify(r.Context(), r, p.o.Scheme, intent)
		p.metrics.Verify.Observe(time.Since(t0).Seconds())
		if err != nil {
			return err
		}
		crawler = pricing.Crawler{Agent: verdict.Agent.URL, Operator: verdict.Key.Account}
		st.account, st.signatureExpires = verdict.Key.Account, verdict.Expires
		if len(verdict.ReplayIDs) > 0 {
			st.signature = verdict.ReplayIDs[0]
		}
	} else if intent != nil {
		return deferred.Errorf(deferred.CodeSignatureRequired, "a payment must be signed: add Signature-Agent, Signature-Input and Signature (Web Bot Auth)")
	}
	d := s.decide(r, crawler)
	st.price = d.Price
	switch d.Action {
	case pricing.Block:
		st.outcome = outcomeBlocked
		return deferred.Errorf(deferred.CodeBlocked, "the publisher does not serve this crawler")
	case pricing.Allow:
		st.outcome = outcomeAllowed
		return nil
	}
	if r.Method == http.MethodHead || r.Method == http.MethodOptions {
		// Not charged, so no content may leave: the body the handler sends
		// is dropped (many frameworks answer OPTIONS like GET).
		st.outcome, st.bodyless = outcomeAllowed, true
		return nil
	}
	if verdict == nil || intent == nil {
		msg := "this resource costs " + d.Price.String() + ": answer the offer with a signed commitment"
		if signed {
			msg = "signed, but no payment: add a Payment, PAYMENT-SIGNATURE or crawler-max-price header and cover it with the signature"
		}
		return deferred.Errorf(deferred.CodePaymentRequired, "%s", msg)
	}
	charge, err := p.accept(intent, p.quote(r, s, d.Price))
	if err != nil {
		return err
	}
	pr, err := p.agreementOf(r.Context(), r, st, verdict.Key.Account, charge)
	if err != nil {
		return err
	}
	ceiling := ceilingOf(intent, charge)
	if cost := pr.cost(charge.Value); pr != nil && cost > ceiling {
		return deferred.Errorf(deferred.CodePriceAboveMax, "your agreement %s (version %d) prices this request at %s, above the %s you committed to; nothing was charged",
			pr.agr.ID, pr.agr.Version, money.Amount{Currency: charge.Currency, Value: cost}, money.Amount{Currency: charge.Currency, Value: ceiling})
	}
	if err := p.precheck(r.Context(), st, verdict, intent, charge, pr); err != nil {
		return err
	}
	st.dialect, st.scheme, st.payer = intent.Dialect, intent.Scheme, verdict.Agent.URL
	st.commitment = p.commitment(r, st, verdict, intent, charge)
	pr.applyAgreement(st.commitment, &st.limits, ceiling)
	return nil
}

// forward passes the request to the handler, its body capped, its response
// metered by a chargeWriter.
func (p *Paywall) forward(w http.ResponseWriter, r *http.Request, st *request, next http.Handler) {
	max := p.o.MaxBodyBytes
	if r.ContentLength > max {
		p.refuse(w, r, st, deferred.Errorf(deferred.CodeBodyTooLarge, "request body over %d bytes", max))
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		st.body = &bodyReader{ReadCloser: http.MaxBytesReader(w, r.Body, max)}
		r.Body = st.body
	}
	if len(r.TransferEncoding) > 0 {
		// net/http has already dropped a Content-Length sent alongside and
		// framed the body by Transfer-Encoding alone; RFC 9112 §6.1 still asks
		// that such a connection be closed after the response, and a chunked
		// request body is rare enough among crawlers to close after each.
		w.Header().Set("Connection", "close")
	}
	r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
	cw := &chargeWriter{ResponseWriter: w, p: p, r: r, st: st}
	next.ServeHTTP(cw, r)
	if !cw.wrote {
		// A handler that wrote nothing answered an empty 200.
		cw.WriteHeader(http.StatusOK)
	}
}

// precheck applies the crawler's billing terms and the replay check before
// the handler runs: the account's default max price (when the request
// states no price of its own), a signature already recorded, and the daily
// cap against what is already spent. Under an agreement (pr) the max price
// bounds what the request costs (charged or drawn) and the cap what it is
// charged. Replays and spend are what this
// paywall saw the ledger record (p.memo), so the check costs no round trip;
// the ledger checks the replay, the max price and the cap again,
// atomically, when it appends, and refuses there what the memory does not
// know (a copy in flight, another replica's appends) before any byte of the
// response is sent.
func (p *Paywall) precheck(ctx context.Context, st *request, v *deferred.Verdict, in *deferred.Intent, charge money.Amount, pr *priced) error {
	account := v.Key.Account
	b, err := p.o.Accounts.Billing(ctx, account)
	if err != nil {
		var de *deferred.Error
		if errors.As(err, &de) {
			return err
		}
		p.o.Logger(ctx).Warn("billing profile unreadable", "account", account, "err", err)
		return &deferred.Error{Code: deferred.CodeDirectoryUnavailable, Message: deferred.MessageDirectoryUnavailable, Err: err}
	}
	var maxPrice money.Micros
	if !in.HasPrice && b.DefaultMaxPrice > 0 {
		maxPrice = b.DefaultMaxPrice
		if cost := pr.cost(charge.Value); cost > maxPrice {
			return deferred.Errorf(deferred.CodePriceAboveMax, "the price %s is above your account's default max price %s; state your own with crawler-max-price",
				money.Amount{Currency: charge.Currency, Value: cost}, maxPrice)
		}
	}
	st.limits = ledger.Limits{DailyCap: b.DailyCap, MaxPrice: maxPrice}
	if st.resend {
		// A resend may be recorded already: its replay ids and price are in
		// the memory, and only the ledger's append can tell (by its request
		// id) a resend from another use.
		return nil
	}
	if p.memo.Replayed(account, v.ReplayIDs) {
		return deferred.Errorf(deferred.CodeReplay, "this signature was already used; sign each request anew")
	}
	if spent, price := p.memo.Spent(account, p.days.Of(st.received), charge.Currency), pr.charged(charge.Value); b.DailyCap > 0 && spent+price > b.DailyCap {
		return deferred.Errorf(deferred.CodeOverCap, "today's spend %s plus %s would exceed your daily cap %s", spent, price, b.DailyCap)
	}
	return nil
}

// quote is what the resource costs, as an offer binds it.
func (p *Paywall) quote(r *http.Request, s *Site, price money.Amount) deferred.Quote {
	authority := deferred.NormalizeAuthority(r.Host, p.o.Scheme)
	return deferred.Quote{
		Resource:        p.o.Scheme + "://" + authority + r.URL.EscapedPath(),
		Authority:       authority,
		Path:            r.URL.EscapedPath(),
		Price:           price,
		PayTo:           s.Pricing.Publisher,
		Network:         p.o.Network,
		Description:     s.Description,
		TermsURL:        s.TermsURL,
		RegistrationURL: p.o.RegistrationURL,
	}
}

func (p *Paywall) commitment(r *http.Request, st *request, v *deferred.Verdict, in *deferred.Intent, charge money.Amount) *ledger.Commitment {
	ev := v.Evidence
	// The request id makes the append idempotent (a resend of this request's
	// append is answered with the commitment it made): it is minted by this
	// server, never taken from the client, or one signature could buy many
	// pages by sending the same X-Request-Id with each copy.
	rid := p.o.RequestID(r.Context())
	if rid == "" {
		rid = newRequestID()
	}
	return &ledger.Commitment{
		RequestID:      rid,
		Received:       st.received,
		Account:        v.Key.Account,
		Agent:          v.Agent.URL,
		KeyID:          v.Key.ID,
		PublicKey:      p.jwks.of(v.Key.Key),
		Publisher:      st.site.Pricing.Publisher,
		Site:           st.site.Pricing.Host,
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
		ReplayKeys:     deferred.ReplayKeys(v.Nonce),
		ReplayUntil:    v.Expires,
	}
}

// noLedger is the nil Ledger: unavailable.
type noLedger struct{}

func (noLedger) Append(context.Context, *ledger.Commitment, ledger.Limits) (string, error) {
	return "", ledger.ErrUnavailable
}

// newRequestID returns 16 random hex characters (64 bits from crypto/rand).
func newRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// canonicalPath reports whether p has no dot segments and no empty
// segments, and none of the characters some origins rewrite before they
// route (a backslash read as a slash, a ';' whose parameters are dropped, a
// control character), so that prices decided on p are the prices of what
// the handler serves: "/archive/..\premium/x" or "/premium;x/a" would
// otherwise be priced as another page than the one an IIS or Tomcat origin
// sends. Its dot and empty segments are cleanPath(p) == p's, without
// building the cleaned path (FuzzCanonicalPath).
func canonicalPath(p string) bool {
	if p == "" || p[0] != '/' || strings.ContainsFunc(p, rewrittenByOrigins) {
		return false
	}
	for rest := p[1:]; ; {
		seg, more, found := strings.Cut(rest, "/")
		if seg == "." || seg == ".." || seg == "" && found {
			return false
		}
		if !found {
			return true
		}
		rest = more
	}
}

// pathError is the refusal of a path canonicalPath refuses.
func pathError(p string) error {
	if strings.ContainsFunc(p, rewrittenByOrigins) {
		return deferred.Errorf(deferred.CodePathNotCanonical, "path %q has a backslash, a ';' or a control character, which origins may rewrite before they route: it cannot be priced", p)
	}
	return deferred.Errorf(deferred.CodePathNotCanonical, "path %q has dot segments or empty segments; request %q", p, cleanPath(p))
}

// rewrittenByOrigins reports the characters canonicalPath refuses.
func rewrittenByOrigins(r rune) bool {
	return r == '\\' || r == ';' || r < 0x20 || r == 0x7f
}

func cleanPath(p string) string {
	c := path.Clean("/" + p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

func (p *Paywall) count(st *request) {
	host := ""
	if st.site != nil {
		host = st.site.Pricing.Host
	}
	p.metrics.Requests.WithLabelValues(host, st.outcome, st.code).Inc()
}
