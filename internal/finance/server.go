package finance

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
	"github.com/paycrawl/paycrawl/pkg/webhook"
)

// Ledger is what the finance interface reads (*ledger.Ledger).
type Ledger interface {
	Invoice(ctx context.Context, id string) (*ledger.Invoice, error)
	Invoices(ctx context.Context, day string) ([]*ledger.Invoice, error)
	Commitments(ctx context.Context, account, day string, fn func(*ledger.Commitment) error) error
	PublicKey(ctx context.Context, account, keyid string) (string, error)
}

var _ Ledger = (*ledger.Ledger)(nil)

// Operations are the finance actions (*settle.Settler): each takes the
// settler lock, is idempotent, and refuses a status that forbids it with a
// *ledger.TransitionError.
type Operations interface {
	Hold(ctx context.Context, id string, r settle.Review) (*settle.ReviewResult, error)
	Release(ctx context.Context, id string, r settle.Review) (*settle.ReviewResult, error)
	Void(ctx context.Context, id string, r settle.Review) (*settle.ReviewResult, error)
	ApproveEarly(ctx context.Context, id string, r settle.Review) (*settle.ReviewResult, error)
	Credit(ctx context.Context, id string, line int, amount money.Micros, r settle.Review) (*settle.ReviewResult, error)
	Refund(ctx context.Context, id string, amount money.Micros, r settle.Review) (*settle.ReviewResult, error)
	// TopUpRefundable says whether an invoice is a prepaid top-up and what
	// its refund would give back now (its unspent credit only).
	TopUpRefundable(ctx context.Context, id string) (money.Micros, bool, error)
	// OrderTopUp buys prepaid credit now (POST /v1/topups).
	OrderTopUp(ctx context.Context, o settle.TopUpOrder) (*settle.TopUpResult, error)
}

var _ Operations = (*settle.Settler)(nil)

// Options are a Server's dependencies.
type Options struct {
	// Ledger and Ops are required.
	Ledger Ledger
	Ops    Operations
	// Operators, if set, names the crawler accounts (operator name and
	// contact) wherever an id is shown; nil shows ids only.
	Operators Operators
	// Webhooks, if set, stores the finance team's webhook endpoints
	// (/v1/webhooks); nil answers those routes with a 404.
	Webhooks *webhook.Store
	// Config is validated by New.
	Config Config
	// Now is the clock (the default day is the latest with invoices up to
	// today by it, sessions expire by it); default time.Now.
	Now func() time.Time
	// Logger; default discards.
	Logger *slog.Logger
	// Registerer, if set, receives the finance metrics.
	Registerer prometheus.Registerer
	// AuditWorkers bounds the signatures verified at once; 0 means one
	// per CPU.
	AuditWorkers int
	// Agreements, if set, lets the audit re-derive charges and fee lines
	// from the crawlers' agreements (Auditor.Agreements).
	Agreements AgreementSource
	// Payouts, if set, serves the payouts API (/v1/payouts) and page
	// (/payouts); nil answers those routes with a 404.
	Payouts Payouts
	// Disputes, with StripeWebhookSecret, serves POST /v1/stripe/events:
	// Stripe's dispute events, verified by their signature, become
	// chargebacks of publishers' earnings. Either unset: no such route.
	Disputes Disputes
	// StripeWebhookSecret is the Stripe endpoint's signing secret
	// (whsec_…).
	StripeWebhookSecret string
	// Mount, if set, adds routes of other pages served beside finance's
	// (the publishers' page, internal/publisher) to the same mux, under
	// the same security headers.
	Mount interface{ Routes(mux *http.ServeMux) }
}

// Server serves the finance API and web page. Build it with New.
type Server struct {
	l         Ledger
	ops       Operations
	operators Operators
	webhooks  *webhook.Store
	cfg       Config
	now       func() time.Time
	log       *slog.Logger
	tokens    []tokenEntry
	secret    []byte
	ttl       time.Duration
	auditor   *Auditor
	pages     *pages
	actions   *prometheus.CounterVec
	mount     interface{ Routes(mux *http.ServeMux) }
	// disputes and stripeSecret serve Stripe's events.
	disputes     Disputes
	stripeSecret string
	payouts      Payouts
}

// tokenEntry is a configured token with its decoded hash.
type tokenEntry struct {
	Token
	sum []byte
}

// New returns a Server.
func New(o Options) (*Server, error) {
	var errs []error
	if o.Ledger == nil {
		errs = append(errs, errors.New("finance: a ledger is required"))
	}
	if o.Ops == nil {
		errs = append(errs, errors.New("finance: the settler's operations are required"))
	}
	if err := o.Config.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s := &Server{l: o.Ledger, ops: o.Ops, operators: o.Operators, webhooks: o.Webhooks, cfg: o.Config, now: o.Now, log: o.Logger, ttl: o.Config.SessionTTL,
		mount: o.Mount, disputes: o.Disputes, stripeSecret: o.StripeWebhookSecret,
		payouts: o.Payouts}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.ttl == 0 {
		s.ttl = DefaultSessionTTL
	}
	for _, t := range o.Config.Tokens {
		sum, _ := hex.DecodeString(t.TokenSHA256)
		s.tokens = append(s.tokens, tokenEntry{Token: t, sum: sum})
	}
	if o.Config.SessionSecret != "" {
		k := sha256.Sum256([]byte("paycrawl finance session\x00" + o.Config.SessionSecret))
		s.secret = k[:]
	} else {
		s.secret = make([]byte, 32)
		if _, err := rand.Read(s.secret); err != nil {
			return nil, err
		}
	}
	s.auditor = &Auditor{Ledger: o.Ledger, Workers: o.AuditWorkers, Agreements: o.Agreements}
	var err error
	if s.pages, err = loadPages(); err != nil {
		return nil, err
	}
	s.actions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "paycrawl_finance_actions_total",
		Help: "Finance actions on invoices, by action and result (changed, unchanged, refused, busy, error).",
	}, []string{"action", "result"})
	if o.Registerer != nil {
		if err := o.Registerer.Register(s.actions); err != nil {
			return nil, err
		}
	}
	if len(s.tokens) == 0 {
		s.log.Warn("finance: no tokens configured (finance.tokens): the finance API and page refuse everyone")
	}
	return s, nil
}

// maxBody bounds a JSON or form request body.
const maxBody = 16 << 10

// Handler returns the finance API (/v1/…) and web page (/, /login,
// /invoices/…), with request ids, access logs and security headers.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.webhookRoutes(mux)
	s.stripeRoutes(mux)
	s.payoutRoutes(mux)
	s.webPayoutRoutes(mux)
	s.apiRoutes(mux)
	s.webRoutes(mux)
	if s.mount != nil {
		s.mount.Routes(mux)
	}
	return httpx.Middleware(s.log, securityHeaders(mux))
}

// securityHeaders sets headers every response carries: no framing, no
// sniffing, no referrer, no caching of invoice data, and a strict content
// security policy (the page has no script at all).
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; "+
			"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// yesterday is the default day: the last one the settler can have closed.
func (s *Server) yesterday() string { return ledger.Day(s.now().AddDate(0, 0, -1)) }
