// Package publisher is the publishers' page and statement downloads: what
// each publisher earned (revenue per day as a server-rendered SVG chart,
// crawlers by name with requests, revenue and refusals, payouts with their
// references) and its statement per month as JSON, CSV or printable HTML.
// The settler's finance server mounts it under /publisher/ (web page,
// signed in with the publisher's own token, pcp_…) and /v1/publisher/
// (the statement for a bearer token).
package publisher

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/earnings"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

// Accounts authenticates publishers and reads their accounts
// (*registry.Store).
type Accounts interface {
	AuthenticatePublisher(ctx context.Context, token string) (*registry.Publisher, error)
	Publisher(ctx context.Context, id string) (*registry.Publisher, error)
	// CurrentPublisherTokenFingerprint names the publisher's token now: a
	// session opened with another token (rotated since) is over.
	CurrentPublisherTokenFingerprint(ctx context.Context, id string) (string, error)
}

var _ Accounts = (*registry.Store)(nil)

// Refusals counts what a publisher's gateway refused, by crawler account and
// reason ("blocked", "over_cap", "bad_signature"), over [from, to).
type Refusals interface {
	Refusals(ctx context.Context, publisher string, from, to time.Time) (map[string]map[string]int64, error)
}

// Options configure a Server. Book and Accounts are required.
type Options struct {
	Book     *earnings.Book
	Accounts Accounts
	// Names names crawler accounts (the operator's name); nil shows ids.
	Names func(ctx context.Context, account string) string
	// Refusals, if set, fills the crawlers' refusal columns.
	Refusals Refusals
	// Secret signs sessions; nil draws one at start.
	Secret []byte
	// SessionTTL bounds a session; default 8 h.
	SessionTTL time.Duration
	// SecureCookies marks cookies Secure (behind TLS).
	SecureCookies bool
	Now           func() time.Time
	Logger        *slog.Logger
}

// Server serves the page and the statements.
type Server struct {
	o    Options
	page *template.Template
	stmt *template.Template
	css  []byte
}

//go:embed templates
var files embed.FS

const cookieName = "paycrawl_publisher"

// New returns a Server.
func New(o Options) (*Server, error) {
	if o.Book == nil || o.Accounts == nil {
		return nil, errors.New("publisher: an earnings book and the publishers' accounts are required")
	}
	if len(o.Secret) == 0 {
		o.Secret = make([]byte, 32)
		if _, err := rand.Read(o.Secret); err != nil {
			return nil, err
		}
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 8 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	page, err := template.ParseFS(files, "templates/page.html")
	if err != nil {
		return nil, err
	}
	stmt, err := template.ParseFS(files, "templates/statement.html")
	if err != nil {
		return nil, err
	}
	css, err := files.ReadFile("templates/style.css")
	if err != nil {
		return nil, err
	}
	return &Server{o: o, page: page, stmt: stmt, css: css}, nil
}

// Routes registers the server's routes on mux: GET /publisher/ (the page),
// POST /publisher/login and /publisher/logout, GET /publisher/statement and
// GET /v1/publisher/statement (bearer token), GET /v1/publisher/refusals
// (bearer token), GET /publisher/style.css.
func (s *Server) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /publisher/{$}", s.index)
	mux.HandleFunc("GET /publisher/style.css", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		_, _ = w.Write(s.css)
	})
	mux.HandleFunc("POST /publisher/login", s.login)
	mux.HandleFunc("POST /publisher/logout", s.logout)
	mux.HandleFunc("GET /publisher/statement", func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.session(r)
		if !ok {
			http.Redirect(w, r, "/publisher/", http.StatusSeeOther)
			return
		}
		s.statement(w, r, p)
	})
	mux.HandleFunc("GET /v1/publisher/statement", func(w http.ResponseWriter, r *http.Request) {
		if p, ok := s.bearer(w, r); ok {
			s.statement(w, r, p)
		}
	})
	mux.HandleFunc("GET /v1/publisher/refusals", func(w http.ResponseWriter, r *http.Request) {
		if p, ok := s.bearer(w, r); ok {
			s.refusals(w, r, p)
		}
	})
}

// bearer returns the publisher of the request's bearer token, or answers
// 401 (no token, or not a publisher's), or 503 when the registry cannot
// tell.
func (s *Server) bearer(w http.ResponseWriter, r *http.Request) (*registry.Publisher, bool) {
	var p *registry.Publisher
	tok, ok := httpx.BearerToken(r)
	if ok {
		var err error
		p, err = s.o.Accounts.AuthenticatePublisher(r.Context(), tok)
		if errors.Is(err, registry.ErrUnavailable) {
			s.o.Logger.Error("publisher api: authenticating", "err", err)
			httpx.WriteError(w, r, httpx.Errorf(http.StatusServiceUnavailable, "unavailable", "the key directory cannot be read now; retry"))
			return nil, false
		}
		ok = err == nil
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="paycrawl-publisher"`)
		httpx.WriteError(w, r, httpx.Errorf(http.StatusUnauthorized, "unauthorized", "a publisher token (Authorization: Bearer pcp_…) is required"))
		return nil, false
	}
	return p, true
}

// session is what the cookie carries, signed: the publisher, the expiry
// and the fingerprint of the token it signed in with
// (registry.PublisherTokenFingerprint), so that rotating a leaked token
// also ends the sessions opened with it.
type session struct {
	Publisher string `json:"p"`
	Exp       int64  `json:"e"`
	Token     string `json:"t"`
}

func (s *Server) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.o.Secret)
	m.Write([]byte("publisher-session\x00" + payload))
	return m.Sum(nil)
}

// session returns the signed-in publisher, re-read from the registry, if
// its token is still the one the session was opened with.
func (s *Server) session(r *http.Request) (*registry.Publisher, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil || len(c.Value) > 512 {
		return nil, false
	}
	payload, sig, ok := strings.Cut(c.Value, ".")
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err != nil || !hmac.Equal(got, s.mac(payload)) {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	var ss session
	if err != nil || json.Unmarshal(raw, &ss) != nil || s.o.Now().Unix() >= ss.Exp || ss.Token == "" {
		return nil, false
	}
	fp, err := s.o.Accounts.CurrentPublisherTokenFingerprint(r.Context(), ss.Publisher)
	if err != nil || !hmac.Equal([]byte(fp), []byte(ss.Token)) {
		return nil, false
	}
	p, err := s.o.Accounts.Publisher(r.Context(), ss.Publisher)
	return p, err == nil
}

// sameOrigin refuses a cross-site form post (cookies are SameSite=Strict
// too).
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if !sameOrigin(r) {
		httpx.WriteError(w, r, httpx.Errorf(http.StatusForbidden, "cross_origin", "a sign-in must come from this page"))
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	p, err := s.o.Accounts.AuthenticatePublisher(r.Context(), token)
	if err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		s.render(w, r, s.page, map[string]any{"Error": "That is not a publisher token. Publisher tokens start with pcp_."})
		return
	}
	fp, err := registry.PublisherTokenFingerprint(token)
	if err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		s.render(w, r, s.page, map[string]any{"Error": "That is not a publisher token. Publisher tokens start with pcp_."})
		return
	}
	raw, _ := json.Marshal(session{Publisher: p.ID, Exp: s.o.Now().Add(s.o.SessionTTL).Unix(), Token: fp})
	payload := base64.RawURLEncoding.EncodeToString(raw)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload)),
		Path: "/publisher/", HttpOnly: true, Secure: s.o.SecureCookies, SameSite: http.SameSiteStrictMode, MaxAge: int(s.o.SessionTTL.Seconds())})
	s.o.Logger.Info("publisher: signed in", "publisher", p.ID)
	http.Redirect(w, r, "/publisher/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/publisher/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/publisher/", http.StatusSeeOther)
}

// month reads ?month=YYYY-MM (this month by default) and returns its bounds.
func (s *Server) month(r *http.Request) (string, time.Time, time.Time, error) {
	m := r.URL.Query().Get("month")
	if m == "" {
		m = s.o.Now().UTC().Format("2006-01")
	}
	t, err := time.Parse("2006-01", m)
	if err != nil {
		return "", time.Time{}, time.Time{}, httpx.Errorf(http.StatusBadRequest, "invalid_month", "month %q is not YYYY-MM", clip(m))
	}
	return m, t, t.AddDate(0, 1, 0), nil
}

func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, t *template.Template, data any) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		httpx.WriteError(w, r, fmt.Errorf("publisher: rendering: %w", err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// totalsRow is a line of the totals table, formatted.
type totalsRow struct {
	Currency                                                                string
	Requests                                                                int64
	Gross, Credits, Voids, Refunds, Chargebacks, Fee, Net, PaidOut, Balance string
}

// totalsOf formats a statement's totals, one row per currency.
func totalsOf(st *earnings.Statement) []totalsRow {
	var out []totalsRow
	for _, cur := range currencies(st) {
		t := st.Totals[cur]
		f := func(m money.Micros) string { return formatMoney(cur, m) }
		out = append(out, totalsRow{Currency: cur, Requests: t.Requests, Gross: f(t.Gross), Credits: f(t.Credits), Voids: f(t.Voids),
			Refunds: f(t.Refunds), Chargebacks: f(t.Chargebacks), Fee: f(t.Fee), Net: f(t.Net), PaidOut: f(st.PaidOut[cur]), Balance: f(st.Balance[cur])})
	}
	return out
}

// crawlerRow is a line of the crawlers table.
type crawlerRow struct {
	Account, Name, Currency, Net   string
	Requests                       int64
	Blocked, OverCap, BadSignature string
}

// chart is one currency's revenue chart.
type chart struct {
	Currency string
	SVG      template.HTML
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	p, ok := s.session(r)
	if !ok {
		s.render(w, r, s.page, map[string]any{})
		return
	}
	month, from, to, st, err := s.load(r, p)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	data := map[string]any{"Publisher": p.ID, "Name": p.Name, "Month": month}
	totals := totalsOf(st)
	var charts []chart
	for _, cur := range currencies(st) {
		charts = append(charts, chart{Currency: cur, SVG: revenueSVG(cur, st.Days, from, to)})
	}
	refused, note := s.readRefusals(r, p, from, to)
	data["Totals"], data["Charts"], data["Crawlers"], data["RefusalsNote"] = totals, charts, s.crawlerRows(r.Context(), st, refused), note
	data["Payouts"] = payoutRows(st.Payouts)
	s.render(w, r, s.page, data)
}

// payoutRow is a payout, formatted.
type payoutRow struct{ ID, Status, Amount, Rail, Destination, Reference string }

func payoutRows(pos []*earnings.Payout) []payoutRow {
	out := make([]payoutRow, 0, len(pos))
	for _, p := range pos {
		out = append(out, payoutRow{ID: p.ID, Status: string(p.Status), Amount: formatMoney(p.Currency, p.Amount), Rail: p.Rail,
			Destination: p.Destination, Reference: p.Reference})
	}
	return out
}

// statementRow is a crawler's or site's statement line, formatted.
type statementRow struct {
	Key, Label, Currency                                  string
	Requests                                              int64
	Gross, Credits, Voids, Refunds, Chargebacks, Fee, Net string
}

func rowsOf(rows []earnings.StatementRow) []statementRow {
	out := make([]statementRow, 0, len(rows))
	for _, r := range rows {
		label := r.Name
		if label == "" {
			label = r.Key
		}
		f := func(m money.Micros) string { return formatMoney(r.Currency, m) }
		out = append(out, statementRow{Key: r.Key, Label: label, Currency: r.Currency, Requests: r.Requests, Gross: f(r.Gross), Credits: f(r.Credits),
			Voids: f(r.Voids), Refunds: f(r.Refunds), Chargebacks: f(r.Chargebacks), Fee: f(r.Fee), Net: f(r.Net)})
	}
	return out
}

// load reads the statement of p for the request's ?month=.
func (s *Server) load(r *http.Request, p *registry.Publisher) (string, time.Time, time.Time, *earnings.Statement, error) {
	month, from, to, err := s.month(r)
	if err != nil {
		return "", time.Time{}, time.Time{}, nil, err
	}
	st, err := s.o.Book.Statement(r.Context(), p.ID, from, to, s.o.Names)
	if err != nil {
		return "", time.Time{}, time.Time{}, nil, httpx.Errorf(http.StatusServiceUnavailable, "unavailable", "reading earnings: %v", err)
	}
	return month, from, to, st, nil
}

// statement answers a publisher's statement of ?month= in ?format= json
// (the default), csv or html.
func (s *Server) statement(w http.ResponseWriter, r *http.Request, p *registry.Publisher) {
	month, from, to, st, err := s.load(r, p)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	file := "statement-" + p.ID + "-" + month
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
		w.Header().Set("Content-Type", "application/json")
		_ = writeJSON(w, st, p.Name)
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+file+`.csv"`)
		_ = writeCSV(w, st, p.Name)
	case "html":
		s.render(w, r, s.stmt, map[string]any{"Publisher": p.ID, "Name": p.Name, "From": from.Format(time.DateOnly), "To": to.Format(time.DateOnly),
			"Note": statementNote, "Totals": totalsOf(st), "Payouts": payoutRows(st.Payouts), "Crawlers": rowsOf(st.Crawlers), "Sites": rowsOf(st.Sites)})
	default:
		httpx.WriteError(w, r, httpx.Errorf(http.StatusBadRequest, "invalid_format", "format %q is not json, csv or html", clip(f)))
	}
}
