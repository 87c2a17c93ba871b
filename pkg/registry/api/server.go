// Package api is the HTTP API of the key directory service
// (cmd/keydirectory): operator sign-up, keys, agents and billing profiles
// for crawler operators, admin routes, and the hosted key directories that
// verifiers fetch. Its request and response types and a typed client live in
// pkg/registry/keydir. Storage and rules are pkg/registry's; this package
// maps them to HTTP.
//
//	POST   /v1/operators                        sign up (public, rate-limited)
//	GET    /v1/operators/me                     the caller's operator
//	PUT    /v1/operators/me/billing             set the billing profile
//	GET    /v1/operators/me/billing/wallet-proof?wallet=0x…  the message a wallet signs to pay (rail evm)
//	POST   /v1/keys                             register a key with its proof
//	GET    /v1/keys                             list keys
//	POST   /v1/keys/rotate                      register a key, rotate the active ones
//	DELETE /v1/keys/{keyid}                     revoke a key
//	POST   /v1/keys/{keyid}/directory-proof     add or renew a key's directory proof
//	POST   /v1/agents                           register an external agent URL
//	GET    /v1/agents                           list agents
//	GET    /v1/usage?day=YYYY-MM-DD             the caller's usage and invoices (from the ledger)
//	GET    /agents/{operator id}                hosted directory (public)
//	GET    /.well-known/http-message-signatures-directory  on op-<id>.<hosted base>: that
//	       operator's directory; elsewhere: the service's directory keys (public)
//	GET    /v1/admin/operators                  list operators (admin)
//	POST   /v1/admin/operators/{id}/suspend     suspend (admin)
//	POST   /v1/admin/operators/{id}/reinstate   reinstate (admin)
//	POST   /v1/admin/publishers                 create a publisher account, with its token (admin)
//	GET    /v1/admin/publishers                 list publisher accounts (admin)
//	POST   /v1/admin/publishers/{id}/token      replace a publisher's token (admin)
//	GET    /v1/publishers/{id}                  a publisher account ("me": the caller's)
//	PATCH  /v1/publishers/{id}                  edit it (fee_bps and hosts: admin only)
//	GET    /v1/publishers/{id}/payout/wallet-proof?wallet=0x…  the message a wallet signs to receive payouts
//	POST   /v1/publishers/me/agreements          offer an agreement (publisher token only)
//	GET    /v1/publishers/me/agreements          the publisher's accepted agreements, every version ever accepted
//	GET    /v1/publishers/me/offers?account=&state=&offset=&limit=  its offers pending (or declined, withdrawn), paged
//	POST   /v1/publishers/me/agreements/{id}     offer the next version of one of them
//	GET    /v1/publishers/me/agreements/{id}     its versions
//	POST   /v1/publishers/me/agreements/{id}/versions/{n}/withdraw  withdraw an undecided offer
//	GET    /v1/agreements                       the operator's accepted agreements, every version ever accepted
//	GET    /v1/offers?state=&offset=&limit=     the offers made to it, pending (or declined, withdrawn), paged
//	GET    /v1/agreements/{id}                  one of them, every version
//	GET    /v1/agreements/{id}/versions/{n}/acceptance-message?key_id=K  the bytes K signs to accept now
//	POST   /v1/agreements/{id}/versions/{n}/accept   accept, signed by one of the operator's keys
//	POST   /v1/agreements/{id}/versions/{n}/decline  decline
//	PUT    /v1/operators/me/settlement-period   daily, weekly or monthly invoices
//	GET    /v1/finance/agreements?offset=&limit=  every agreement (finance or admin token)
//	GET    /v1/finance/agreements/{id}          any agreement's versions (finance or admin token)
//	GET    /healthz, /readyz, /metrics
//
// Operator routes take "Authorization: Bearer pct_…"; admin routes the admin
// token; publisher routes a publisher's own token "pcp_…" (its own account
// only) or the admin token, except the agreement routes, which take the
// publisher's own token only; finance routes the finance token (read-only)
// or the admin token. Gateways read the versions an account accepted
// from the registry's Redis, as they read keys and accounts
// (registry.Store.AcceptedAgreements), not through this API. A publisher
// with registry.MaxPendingOffers offers pending with an account gets 409
// too_many_offers. Errors are JSON {code, message, request_id} (internal/httpx).
package api

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/webhook"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultMaxBody caps request bodies.
const DefaultMaxBody = 16 << 10

// DefaultDirectoryMaxAge is the Cache-Control max-age of hosted directories.
const DefaultDirectoryMaxAge = 30 * time.Second

// EVMConfig is what operators on the evm rail are told to approve.
type EVMConfig struct {
	// SettlerAddress is the settler's address (the allowance spender). It
	// and ChainID must be the store's (registry.Options.EVM), which wallet
	// proofs name.
	SettlerAddress string
	// TokenAddress is the USDC contract.
	TokenAddress string
	// ChainID is the chain's id.
	ChainID int64
}

// Config configures a Server. Store is required.
type Config struct {
	Store *registry.Store
	// AdminToken authorizes the admin routes; "" disables them.
	AdminToken string
	// FinanceToken authorizes the read-only finance routes (every
	// agreement); "" leaves them to the admin token.
	FinanceToken string
	// EVM, when its addresses are set, enables the evm rail.
	EVM EVMConfig
	// DirectoryMaxAge is the Cache-Control max-age of hosted directories;
	// 0 means 30 s. Above registry.MaxTTL (60 s) is refused: a cached
	// directory must not outlive the revocation guarantee.
	DirectoryMaxAge time.Duration
	// MaxBody caps request bodies; 0 means 16 KiB.
	MaxBody int64
	// DirectoryKeys are the service's own directory keys: the first adds
	// its signature (label KeyDirectoryLabel, content-digest covered) to
	// every hosted directory response, beside the operators' keys' own
	// possession proofs, which only those keys can make; all are published,
	// each proving possession, at the service's own well-known directory
	// (list a successor second before it signs, to rotate). None means a
	// key generated at start.
	DirectoryKeys []ed25519.PrivateKey
	// DirectoryProofLifetime is how long the signatures made with
	// DirectoryKeys are valid; 0 means 1 h. Below DirectoryMaxAge is
	// refused. (Operators' own proofs carry their own expires.)
	DirectoryProofLifetime time.Duration
	// Logger is the base logger; nil means slog.Default.
	Logger *slog.Logger
	// Metrics receives the service's metrics; nil means a new registry.
	Metrics *prometheus.Registry
	// Usage reads operators' usage and invoices from the ledger; nil makes
	// GET /v1/usage answer 501.
	Usage UsageReader
	// Webhooks stores operators' webhook endpoints (the settler delivers
	// their events); nil makes /v1/operators/me/webhooks answer 501.
	Webhooks *webhook.Store
}

// UsageReader is what GET /v1/usage and /v1/usage/commitments read of the
// ledger.
type UsageReader interface {
	Aggregate(ctx context.Context, account, day string) (*ledger.Aggregate, error)
	Invoice(ctx context.Context, id string) (*ledger.Invoice, error)
	CommitmentsPage(ctx context.Context, account, day, after string, limit int) ([]*ledger.Commitment, string, error)
}

// Server serves the API. Build it with New.
type Server struct {
	store         *registry.Store
	adminDigest   []byte
	financeDigest []byte
	evm           EVMConfig
	maxAge        time.Duration
	maxBody       int64
	log           *slog.Logger
	promReg       *prometheus.Registry
	m             *metrics
	usageReader   UsageReader
	dirSigner     *directorySigner
	webhooks      *webhook.Store
}

// New returns a server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("api: no store")
	}
	s := &Server{store: cfg.Store, evm: cfg.EVM, maxAge: cfg.DirectoryMaxAge, maxBody: cfg.MaxBody, log: cfg.Logger, promReg: cfg.Metrics, usageReader: cfg.Usage, webhooks: cfg.Webhooks}
	if s.maxAge == 0 {
		s.maxAge = DefaultDirectoryMaxAge
	}
	if s.maxAge < time.Second || s.maxAge > registry.MaxTTL {
		return nil, fmt.Errorf("api: directory max-age %s is not in [1s, %s]", s.maxAge, registry.MaxTTL)
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBody
	}
	if cfg.EVM.SettlerAddress != "" {
		d := cfg.Store.EVM()
		if d.IsZero() || !strings.EqualFold(d.Settler, cfg.EVM.SettlerAddress) || d.ChainID != cfg.EVM.ChainID {
			return nil, fmt.Errorf("api: the evm settler %s and chain id %d are not the store's (%s, %d), which wallet proofs name",
				cfg.EVM.SettlerAddress, cfg.EVM.ChainID, d.Settler, d.ChainID)
		}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	ds, err := newDirectorySigner(cfg, s.maxAge, s.log)
	if err != nil {
		return nil, err
	}
	s.dirSigner = ds
	if s.promReg == nil {
		s.promReg = prometheus.NewRegistry()
	}
	if cfg.AdminToken != "" {
		d := sha256.Sum256([]byte(cfg.AdminToken))
		s.adminDigest = d[:]
	}
	if cfg.FinanceToken != "" {
		if cfg.FinanceToken == cfg.AdminToken {
			return nil, errors.New("api: the finance token must differ from the admin token")
		}
		d := sha256.Sum256([]byte(cfg.FinanceToken))
		s.financeDigest = d[:]
	}
	m, err := newMetrics(s.promReg)
	if err != nil {
		return nil, err
	}
	s.m = m
	return s, nil
}

// Handler returns the API with request ids, access logs, panic recovery and
// metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.handle(mux, "POST /v1/operators", s.signUp)
	s.handle(mux, "GET /v1/operators/me", s.authed(s.me))
	s.handle(mux, "PUT /v1/operators/me/billing", s.authed(s.setBilling))
	s.handle(mux, "GET /v1/operators/me/billing/wallet-proof", s.authed(s.walletClaim))
	s.handle(mux, "POST /v1/operators/me/webhooks", s.authed(s.addWebhook))
	s.handle(mux, "GET /v1/operators/me/webhooks", s.authed(s.listWebhooks))
	s.handle(mux, "DELETE /v1/operators/me/webhooks/{id}", s.authed(s.removeWebhook))
	s.handle(mux, "GET /v1/operators/me/webhooks/{id}/deliveries", s.authed(s.webhookDeliveries))
	s.handle(mux, "POST /v1/keys", s.authed(s.registerKey))
	s.handle(mux, "GET /v1/keys", s.authed(s.listKeys))
	s.handle(mux, "POST /v1/keys/rotate", s.authed(s.rotateKey))
	s.handle(mux, "DELETE /v1/keys/{keyid}", s.authed(s.revokeKey))
	s.handle(mux, "POST /v1/keys/{keyid}/directory-proof", s.authed(s.addDirectoryProof))
	s.handle(mux, "POST /v1/agents", s.authed(s.registerAgent))
	s.handle(mux, "GET /v1/agents", s.authed(s.listAgents))
	s.handle(mux, "GET /v1/usage", s.authed(s.usage))
	s.handle(mux, "GET /v1/usage/commitments", s.authed(s.usageCommitments))
	s.handle(mux, "GET /agents/{id}", s.directory)
	s.handle(mux, "GET "+deferred.WellKnownDirectoryPath, s.wellKnownDirectory)
	s.handle(mux, "GET /v1/admin/operators", s.adminOnly(s.listOperators))
	s.handle(mux, "POST /v1/admin/operators/{id}/suspend", s.adminOnly(s.suspend))
	s.handle(mux, "POST /v1/admin/operators/{id}/reinstate", s.adminOnly(s.reinstate))
	s.handle(mux, "POST /v1/admin/publishers", s.adminOnly(s.createPublisher))
	s.handle(mux, "GET /v1/admin/publishers", s.adminOnly(s.listPublishers))
	s.handle(mux, "POST /v1/admin/publishers/{id}/token", s.adminOnly(s.rotatePublisherToken))
	s.handle(mux, "GET /v1/publishers/{id}", s.publisherRoute(s.getPublisher))
	s.handle(mux, "PATCH /v1/publishers/{id}", s.publisherRoute(s.patchPublisher))
	s.handle(mux, "GET /v1/publishers/{id}/payout/wallet-proof", s.publisherRoute(s.payoutWalletClaim))
	s.handle(mux, "POST /v1/publishers/me/agreements", s.publisherOnly(s.offerAgreement))
	s.handle(mux, "GET /v1/publishers/me/agreements", s.publisherOnly(s.publisherAgreements))
	s.handle(mux, "GET /v1/publishers/me/offers", s.publisherOnly(s.publisherOffers))
	s.handle(mux, "POST /v1/publishers/me/agreements/{id}", s.publisherOnly(s.offerAgreement))
	s.handle(mux, "GET /v1/publishers/me/agreements/{id}", s.publisherOnly(s.publisherAgreement))
	s.handle(mux, "POST /v1/publishers/me/agreements/{id}/versions/{version}/withdraw", s.publisherOnly(s.withdrawAgreement))
	s.handle(mux, "GET /v1/agreements", s.authed(s.operatorAgreements))
	s.handle(mux, "GET /v1/offers", s.authed(s.operatorOffers))
	s.handle(mux, "GET /v1/agreements/{id}", s.authed(s.operatorAgreement))
	s.handle(mux, "GET /v1/agreements/{id}/versions/{version}/acceptance-message", s.authed(s.acceptanceMessage))
	s.handle(mux, "POST /v1/agreements/{id}/versions/{version}/accept", s.authed(s.acceptAgreement))
	s.handle(mux, "POST /v1/agreements/{id}/versions/{version}/decline", s.authed(s.declineAgreement))
	s.handle(mux, "PUT /v1/operators/me/settlement-period", s.authed(s.setSettlementPeriod))
	s.handle(mux, "GET /v1/finance/agreements", s.financeOrAdmin(s.allAgreements))
	s.handle(mux, "GET /v1/finance/agreements/{id}", s.financeOrAdmin(s.anyAgreement))
	httpx.Health(mux, httpx.Check{Name: "redis", Fn: func(ctx context.Context) error {
		return s.store.Redis().Ping(ctx).Err()
	}})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.promReg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, r, httpx.Errorf(http.StatusNotFound, "not_found", "no route %s %s", r.Method, r.URL.Path))
	})
	return httpx.Middleware(s.log, s.hostedHosts(s.m.middleware(mux)))
}

// handlerFunc is a handler that returns its error for one place to write.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handle(mux *http.ServeMux, pattern string, h handlerFunc) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			httpx.WriteError(w, r, s.apiError(r, err))
		}
	})
}

// apiError maps registry errors to statuses and codes. Unmapped errors stay
// as they are and become a logged 500.
func (s *Server) apiError(r *http.Request, err error) error {
	var he *httpx.Error
	if errors.As(err, &he) {
		return err
	}
	table := []struct {
		sentinel error
		status   int
		code     string
	}{
		{registry.ErrInvalidJWK, http.StatusBadRequest, "invalid_jwk"},
		{registry.ErrNotEd25519, http.StatusBadRequest, "not_ed25519"},
		{registry.ErrBadProof, http.StatusBadRequest, "bad_proof"},
		{registry.ErrBadDirectoryProof, http.StatusBadRequest, "bad_directory_proof"},
		{registry.ErrDirectoryProofAuthority, http.StatusBadRequest, "directory_proof_wrong_authority"},
		{registry.ErrDirectoryProofExpired, http.StatusBadRequest, "directory_proof_expired"},
		{registry.ErrInvalidBilling, http.StatusBadRequest, "invalid_billing"},
		{registry.ErrWalletProofRequired, http.StatusBadRequest, "wallet_proof_required"},
		{registry.ErrBadWalletProof, http.StatusBadRequest, "bad_wallet_proof"},
		{registry.ErrWalletProofExpired, http.StatusBadRequest, "wallet_proof_expired"},
		{registry.ErrWalletProofDomain, http.StatusBadRequest, "wallet_proof_wrong_domain"},
		{registry.ErrRailNotConfigured, http.StatusBadRequest, "rail_not_configured"},
		{registry.ErrInvalidAgent, http.StatusBadRequest, "invalid_agent_url"},
		{registry.ErrInvalid, http.StatusBadRequest, "invalid_request"},
		{agreement.ErrInvalid, http.StatusBadRequest, "invalid_agreement"},
		{agreement.ErrBadAcceptance, http.StatusBadRequest, "bad_acceptance"},
		{agreement.ErrAcceptanceStale, http.StatusBadRequest, "acceptance_stale"},
		{registry.ErrKeyUnusable, http.StatusBadRequest, "key_unusable"},
		{agreement.ErrOverlap, http.StatusConflict, "agreement_overlap"},
		{registry.ErrHostNotYours, http.StatusForbidden, "host_not_yours"},
		{registry.ErrHostMoved, http.StatusConflict, "host_moved"},
		{registry.ErrHostTaken, http.StatusConflict, "host_taken"},
		{registry.ErrAgreementState, http.StatusConflict, "agreement_not_offered"},
		{registry.ErrUnauthorized, http.StatusUnauthorized, "unauthorized"},
		{registry.ErrSuspended, http.StatusForbidden, "account_suspended"},
		{registry.ErrForbidden, http.StatusForbidden, "forbidden"},
		{registry.ErrNotFound, http.StatusNotFound, "not_found"},
		{registry.ErrDuplicateKey, http.StatusConflict, "duplicate_key"},
		{registry.ErrExists, http.StatusConflict, "exists"},
		{registry.ErrAgentTaken, http.StatusConflict, "agent_taken"},
		{registry.ErrLimit, http.StatusConflict, "limit_reached"},
		{registry.ErrTooManyOffers, http.StatusConflict, "too_many_offers"},
		{registry.ErrRateLimited, http.StatusTooManyRequests, "rate_limited"},
		{registry.ErrBillingProvider, http.StatusBadGateway, "billing_provider_error"},
	}
	for _, e := range table {
		if errors.Is(err, e.sentinel) {
			return &httpx.Error{Status: e.status, Code: e.code, Message: err.Error(), Err: err}
		}
	}
	if errors.Is(err, registry.ErrUnavailable) {
		httpx.Logger(r.Context()).Error("registry unavailable", "err", err)
		return &httpx.Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "the registry's storage is unavailable; try again shortly", Err: err}
	}
	return err
}

// bearer returns the request's bearer token (httpx.BearerToken).
func bearer(r *http.Request) (string, bool) { return httpx.BearerToken(r) }

func unauthorized(w http.ResponseWriter, format string, args ...any) error {
	w.Header().Set("WWW-Authenticate", `Bearer realm="paycrawl"`)
	return httpx.Errorf(http.StatusUnauthorized, "unauthorized", format, args...)
}

// authed wraps an operator route: the bearer token must be an operator's.
func (s *Server) authed(h func(w http.ResponseWriter, r *http.Request, op *registry.Operator) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		tok, ok := bearer(r)
		if !ok {
			return unauthorized(w, "missing API token: send Authorization: Bearer pct_…")
		}
		op, err := s.store.Authenticate(r.Context(), tok)
		if errors.Is(err, registry.ErrUnauthorized) {
			return unauthorized(w, "invalid API token")
		}
		if err != nil {
			return err
		}
		return h(w, r, op)
	}
}

// adminOnly wraps an admin route: the bearer token must be the admin token,
// compared in constant time (as SHA-256 digests, so lengths never leak). An
// operator's valid token is told 403, anything else 401.
func (s *Server) adminOnly(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		tok, ok := bearer(r)
		if !ok {
			return unauthorized(w, "missing admin token: send Authorization: Bearer <admin token>")
		}
		if s.isAdmin(tok) {
			return h(w, r)
		}
		if _, err := s.store.Authenticate(r.Context(), tok); err == nil {
			return httpx.Errorf(http.StatusForbidden, "forbidden", "admin routes are not open to operator tokens")
		}
		return unauthorized(w, "invalid admin token")
	}
}

// clientIP is the connection's remote address (no proxy headers are
// trusted).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
