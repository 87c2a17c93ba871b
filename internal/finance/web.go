package finance

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// webRoutes registers the web page.
func (s *Server) webRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /static/style.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write(styleCSS)
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.Handle("POST /logout", s.webPost(s.logout))
	mux.Handle("GET /{$}", s.web(s.dayPage))
	mux.Handle("GET /invoices/{id}", s.web(s.invoicePage))
	mux.Handle("POST /invoices/{id}/{action}", s.webPost(s.invoiceAction))
	mux.Handle("GET /invoices/{id}/audit", s.web(s.auditPage))
	mux.Handle("GET /invoices/{id}/commitments.csv", s.web(s.webCommitmentsCSV))
	mux.Handle("GET /days/{day}/invoices.csv", s.web(s.webDayCSV))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		ss, ok := s.sessionOf(r)
		var u *session
		if ok {
			u = &ss
		}
		s.errorPage(w, r, u, httpx.Errorf(http.StatusNotFound, codeNotFound, "There is no page at %s.", clipID(r.URL.Path)))
	})
}

// webHandler is a page handler for a signed-in person.
type webHandler func(w http.ResponseWriter, r *http.Request, ss session) error

// web requires a session (else sends people to the login page) and shows
// the handler's error as a page.
func (s *Server) web(h webHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ss, ok := s.sessionOf(r)
		if !ok {
			s.clearSession(w, r)
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if err := h(w, r, ss); err != nil {
			s.errorPage(w, r, &ss, err)
		}
	})
}

// webPost is web for a form post: it also requires the post to come from
// this site and to carry the session's CSRF token.
func (s *Server) webPost(h webHandler) http.Handler {
	return s.web(func(w http.ResponseWriter, r *http.Request, ss session) error {
		if !sameOrigin(r) {
			return httpx.Errorf(http.StatusForbidden, "csrf", "This form was sent from another site; nothing was changed.")
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if err := r.ParseForm(); err != nil {
			return badRequest("The form could not be read.")
		}
		if !s.checkCSRF(ss, r.PostFormValue(csrfField)) {
			return httpx.Errorf(http.StatusForbidden, "csrf",
				"This form has expired or did not come from this page; nothing was changed. Reload the page and try again.")
		}
		return h(w, r, ss)
	})
}

// errorPage shows err as a page with its status; an error nobody
// classified is logged and shown as a plain 500.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, ss *session, err error) {
	e := classify(err)
	if e == nil {
		httpx.Logger(r.Context()).Error("finance: page failed", "path", r.URL.Path, "err", err)
		e = &httpx.Error{Status: http.StatusInternalServerError, Code: "internal_error",
			Message: "Something went wrong on our side. It is logged with request id " + httpx.RequestID(r.Context()) + "."}
	}
	s.pages.render(w, r, e.Status, "error", s.data(ss, http.StatusText(e.Status), e))
}

// data starts a page's data.
func (s *Server) data(ss *session, title string, page any) *pageData {
	d := &pageData{Title: title, User: ss, Page: page, Payouts: s.payouts != nil}
	if ss != nil {
		d.CSRF = s.csrf(*ss)
	}
	return d
}

// loginView is the login page's data.
type loginView struct {
	Next  string
	Error string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if _, ok := s.sessionOf(r); ok {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	s.pages.render(w, r, http.StatusOK, "login", s.data(nil, "Sign in", loginView{Next: next}))
}

// login exchanges a pasted bearer token for a session cookie. The cookie
// carries the token's name and role, signed; never the token.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if !sameOrigin(r) || r.ParseForm() != nil {
		s.pages.render(w, r, http.StatusForbidden, "login", s.data(nil, "Sign in",
			loginView{Next: "/", Error: "This sign-in form was sent from another site."}))
		return
	}
	next := safeNext(r.PostFormValue("next"))
	t, ok := s.lookup(strings.TrimSpace(r.PostFormValue("token")))
	if !ok {
		s.pages.render(w, r, http.StatusUnauthorized, "login", s.data(nil, "Sign in",
			loginView{Next: next, Error: "That token is not recognised. Paste a finance or viewer token."}))
		return
	}
	s.setSession(w, r, s.newSession(t))
	s.log.Info("finance: signed in", "actor", t.Name, "role", t.Role, "request_id", httpx.RequestID(r.Context()))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ session) error {
	s.clearSession(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// safeNext keeps a post-login redirect on this site: a clean relative path
// ("/" and a path, optionally a query), else "/". Only printable ASCII other
// than backslash is allowed, since browsers drop tabs and newlines from a
// URL and read a backslash as a slash: "/\t/evil.example" or "/\\evil" would
// leave the site.
func safeNext(next string) string {
	if len(next) > 2048 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	return next
}

// dayView is the home page's data: the queue of what needs a person,
// the chart, and the invoices of a day or range that match the filters.
type dayView struct {
	// Day is the day shown (From when the range is one day); From and To
	// the range.
	Day, From, To string
	// Latest reports that no day was asked for: Day is the latest with
	// invoices.
	Latest bool
	// Status, Account, Rail and Q are the filters.
	Status, Account, Rail, Q string
	Statuses                 []ledger.Status
	Rails                    []string
	// Crawlers are the range's crawler accounts, by name, for the filter.
	Crawlers []crawlerOption
	Summary  *summary
	Rows     []row
	// Total is the number of the range's invoices, before the filters.
	Total int
	// CSV is the export link of a single day, with the filters.
	CSV string
	// Queue is what needs a person in the QueueDays days up to today.
	Queue     []queueRow
	QueueDays int
	// Charts are billed vs charged per day, one per currency, over the
	// range (or the ChartDays days up to a single day).
	Charts    []chartSeries
	ChartFrom string
	ChartTo   string
}

// crawlerOption is one crawler in the filter's list.
type crawlerOption struct {
	ID string
	operatorInfo
}

// row is one invoice in the day's table.
type row struct {
	Inv *ledger.Invoice
	invoiceFigures
	// Operator is who the account is (empty when unknown).
	Operator operatorInfo
}

// queueRow is one invoice in the queue.
type queueRow struct {
	Inv      *ledger.Invoice
	Operator operatorInfo
	Reason   string
}

// chartDays is how many days the chart shows up to a single day.
const chartDays = 14

func (s *Server) dayPage(w http.ResponseWriter, r *http.Request, ss session) error {
	ctx := r.Context()
	// The filter form sends every field: a range given wins over the day
	// field, which still holds the day shown.
	qv := r.URL.Query()
	if qv.Get("from") != "" || qv.Get("to") != "" {
		qv.Del("day")
	}
	q, err := s.parseQuery(ctx, qv, listKeys, 0)
	if err != nil {
		return err
	}
	all, matched, err := s.rangeInvoices(ctx, q, nil)
	if err != nil {
		return err
	}
	v := dayView{Day: q.From, From: q.From, To: q.To, Latest: q.Latest, Status: string(q.Status), Account: q.Account,
		Rail: q.Rail, Q: q.Q, Statuses: statuses, Rails: rails, Summary: summarize(q.From, matched), Total: len(all),
		QueueDays: queueDays}
	if q.OneDay() {
		cq := q.encode()
		cq.Del("day")
		v.CSV = "/days/" + q.From + "/invoices.csv"
		if len(cq) > 0 {
			v.CSV += "?" + cq.Encode()
		}
	}
	// The queue: every day up to today, whatever the filters.
	qq := listQuery{To: ledger.Day(s.now())}
	qq.From = shiftDay(qq.To, -(queueDays - 1))
	_, queued, err := s.rangeInvoices(ctx, qq, needsPerson)
	if err != nil {
		return err
	}
	sortQueue(queued)
	// The chart: the range, or the days up to a single day, by crawler
	// and rail (a chart of one status or one invoice tells nothing).
	cq := listQuery{From: q.From, To: q.To, Account: q.Account, Rail: q.Rail}
	var chartInvs []*ledger.Invoice
	for _, inv := range all {
		if cq.match(inv, nil) {
			chartInvs = append(chartInvs, inv)
		}
	}
	if q.OneDay() {
		cq.From = shiftDay(q.To, -(chartDays - 1))
		if _, chartInvs, err = s.rangeInvoices(ctx, cq, nil); err != nil {
			return err
		}
	}
	v.Charts, v.ChartFrom, v.ChartTo = chartOf(cq.days(), chartInvs), cq.From, cq.To
	names := s.names(ctx, append(accountsOf(all), accountsOf(queued)...))
	for _, a := range accountsOf(all) {
		if !slices.ContainsFunc(v.Crawlers, func(c crawlerOption) bool { return c.ID == a }) {
			v.Crawlers = append(v.Crawlers, crawlerOption{ID: a, operatorInfo: names[a]})
		}
	}
	if q.Account != "" && !slices.ContainsFunc(v.Crawlers, func(c crawlerOption) bool { return c.ID == q.Account }) {
		v.Crawlers = append(v.Crawlers, crawlerOption{ID: q.Account, operatorInfo: names[q.Account]})
	}
	sort.Slice(v.Crawlers, func(i, j int) bool {
		a, b := v.Crawlers[i], v.Crawlers[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.ID < b.ID
	})
	for _, inv := range matched {
		v.Rows = append(v.Rows, row{Inv: inv, invoiceFigures: figures(inv), Operator: names[inv.Account]})
	}
	for _, inv := range queued {
		v.Queue = append(v.Queue, queueRow{Inv: inv, Operator: names[inv.Account], Reason: queueReason(inv)})
	}
	title := "Invoices of " + q.From
	if !q.OneDay() {
		title = "Invoices from " + q.From + " to " + q.To
	}
	s.pages.render(w, r, http.StatusOK, "day", s.data(&ss, title, v))
	return nil
}

// invoiceView is the invoice page's data.
type invoiceView struct {
	Inv *ledger.Invoice
	invoiceFigures
	// Operator is who the account is (empty when unknown).
	Operator operatorInfo
	// Actions are the actions the status allows, if the person may act.
	Actions map[string]bool
	CanAct  bool
	// Form holds what a refused form carried, to show it again.
	Form url.Values
}

// invoicePage shows an invoice, with a flash message after an action.
func (s *Server) invoicePage(w http.ResponseWriter, r *http.Request, ss session) error {
	inv, err := s.invoice(r)
	if err != nil {
		return err
	}
	d := s.invoiceData(r, ss, inv, nil)
	q := r.URL.Query()
	if a := q.Get("done"); a != "" {
		line, _ := strconv.Atoi(q.Get("line"))
		d.Flash, d.FlashKind = doneMessage(a, q.Get("changed") == "1", line, inv)
		if q.Get("warning") == "1" {
			d.Flash, d.FlashKind = "The refund is recorded, but the rail has not given its outcome yet: it stays pending and the settler finishes it.", "info"
		}
		if a == actRefund && isTopUp(inv) && len(inv.Refunds) > 0 {
			if spent := inv.Charged - inv.Refunded - inv.RefundPending; spent > 0 {
				d.Flash += fmt.Sprintf(" The top-up's credit that requests drew (%s) is not refunded.", formatMoney(inv.Currency, spent))
			}
		}
	}
	s.pages.render(w, r, http.StatusOK, "invoice", d)
	return nil
}

func (s *Server) invoiceData(r *http.Request, ss session, inv *ledger.Invoice, form url.Values) *pageData {
	v := invoiceView{Inv: inv, invoiceFigures: figures(inv), Actions: map[string]bool{}, CanAct: ss.Role.CanAct(), Form: form,
		Operator: s.names(r.Context(), []string{inv.Account})[inv.Account]}
	if v.CanAct {
		for _, a := range actionsFor(inv) {
			v.Actions[a] = true
		}
	}
	return s.data(&ss, inv.ID, v)
}

// doneMessage is the flash message after an action.
func doneMessage(action string, changed bool, line int, inv *ledger.Invoice) (msg, kind string) {
	if !changed {
		if action == actCredit {
			return fmt.Sprintf("Line %d already had that credit; nothing changed.", line), "info"
		}
		return fmt.Sprintf("The invoice was already %s; nothing changed.", inv.Status), "info"
	}
	switch action {
	case actHold:
		return "Invoice held. It will not be approved or charged until someone releases it.", "ok"
	case actRelease:
		return "Invoice released to draft. The settler approves it once its review window has passed.", "ok"
	case actVoid:
		return "Invoice voided. It will never be charged.", "ok"
	case actApprove:
		return "Invoice approved. The next settlement run charges it.", "ok"
	case actCredit:
		return fmt.Sprintf("Credit recorded on line %d. The total is now %s.", line, formatMoney(inv.Currency, inv.Total)), "ok"
	case actRefund:
		if n := len(inv.Refunds); n > 0 {
			rf := inv.Refunds[n-1]
			switch rf.Status {
			case ledger.RefundDone:
				return fmt.Sprintf("Refunded %s (%s). %s refunded in all.", formatMoney(inv.Currency, rf.Amount), rf.Reference,
					formatMoney(inv.Currency, inv.Refunded)), "ok"
			case ledger.RefundFailed:
				return fmt.Sprintf("The refund of %s failed: %s. Nothing was refunded.", formatMoney(inv.Currency, rf.Amount), rf.Error), "error"
			}
			return fmt.Sprintf("The refund of %s is pending; the settler finishes it.", formatMoney(inv.Currency, rf.Amount)), "info"
		}
	}
	return "", ""
}

// confirmView is the confirmation step of an action.
type confirmView struct {
	Inv *ledger.Invoice
	// Operator is who the account is (empty when unknown).
	Operator operatorInfo
	Action   string
	Reason   string
	// Line and Amount are a credit's (Line from 1); Amount a refund's.
	Line        int
	LineInfo    ledger.Line
	Amount      money.Micros
	NewTotal    money.Micros
	Consequence string
}

// invoiceAction runs hold, release, void, approve, credit or refund from a form:
// first a confirmation page, then (confirm=yes) the action and a redirect
// (303) back to the invoice with a message. A refused action shows the
// invoice again with the reason, never a 500.
func (s *Server) invoiceAction(w http.ResponseWriter, r *http.Request, ss session) error {
	name := r.PathValue("action")
	switch name {
	case actHold, actRelease, actVoid, actApprove, actCredit, actRefund:
	default:
		return httpx.Errorf(http.StatusNotFound, codeNotFound, "There is no action %q.", clipID(name))
	}
	inv, err := s.invoice(r)
	if err != nil {
		return err
	}
	if !ss.Role.CanAct() {
		return httpx.Errorf(http.StatusForbidden, "forbidden",
			"Your token (%s) has the viewer role: it may read invoices but not act on them.", ss.Name)
	}
	a := action{name: name, id: inv.ID, reason: strings.TrimSpace(r.PostFormValue("reason"))}
	refuse := func(status int, msg string) error {
		d := s.invoiceData(r, ss, inv, r.PostForm)
		d.Flash, d.FlashKind = msg, "error"
		s.pages.render(w, r, status, "invoice", d)
		return nil
	}
	if name == actCredit {
		if a.line, err = lineNumber(r.PostFormValue("line")); err != nil {
			return refuse(http.StatusBadRequest, "Choose the line to credit.")
		}
		if a.amount, err = parseAmount(r.PostFormValue("amount")); err != nil {
			return refuse(http.StatusBadRequest, "The credit must be an amount such as 0.25, with at most 6 decimals.")
		}
	}
	if name == actRefund {
		if amt := strings.TrimSpace(r.PostFormValue("amount")); amt == "" {
			a.amount = inv.Refundable()
			// A top-up gives back its unspent credit only.
			left, topUp, err := s.ops.TopUpRefundable(r.Context(), inv.ID)
			if err != nil {
				e := classify(err)
				if e == nil {
					return err
				}
				return refuse(e.Status, e.Message)
			}
			if topUp {
				a.amount = left
			}
		} else if a.amount, err = parseAmount(amt); err != nil || a.amount <= 0 {
			return refuse(http.StatusBadRequest, "The refund must be an amount above 0 such as 0.25, with at most 6 decimals; leave it empty to refund all that is left.")
		}
	}
	if a.reason == "" && (name == actHold || name == actVoid || name == actCredit || name == actRefund) {
		return refuse(http.StatusBadRequest, fmt.Sprintf("A reason is required to %s; it is recorded in the invoice's history.", verb(name)))
	}
	if r.PostFormValue("confirm") != "yes" {
		v, msg := s.confirmation(inv, a)
		if msg != "" {
			return refuse(http.StatusConflict, msg)
		}
		v.Operator = s.names(r.Context(), []string{inv.Account})[inv.Account]
		s.pages.render(w, r, http.StatusOK, "confirm", s.data(&ss, "Confirm: "+verb(name), v))
		return nil
	}
	res, err := s.act(r, principal{Name: ss.Name, Role: ss.Role}, a)
	if err != nil {
		e := classify(err)
		if e == nil {
			return err
		}
		if fresh, ferr := s.l.Invoice(r.Context(), inv.ID); ferr == nil {
			inv = fresh
		}
		return refuse(e.Status, e.Message)
	}
	to := "/invoices/" + url.PathEscape(inv.ID) + "?done=" + name + "&changed=" + boolDigit(res.Changed)
	if name == actCredit {
		to += "&line=" + itoa(a.line)
	}
	if res.Warning != "" && name == actRefund && lastRefundPending(res.Invoice) {
		to += "&warning=1"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// confirmation describes what an action will do, or says why the
// invoice's status refuses it (checked again, for real, when confirmed).
func (s *Server) confirmation(inv *ledger.Invoice, a action) (confirmView, string) {
	v := confirmView{Inv: inv, Action: a.name, Reason: a.reason, Line: a.line, Amount: a.amount}
	total := formatMoney(inv.Currency, inv.Total)
	switch a.name {
	case actHold:
		v.Consequence = "The invoice (" + total + ") will not be approved or charged until someone releases it."
	case actRelease:
		v.Consequence = "The invoice returns to draft; the settler approves it once its review window has passed."
	case actVoid:
		v.Consequence = "The invoice (" + total + ") will never be charged, and its carried-in amount returns to the crawler's balance. This cannot be undone."
	case actApprove:
		v.Consequence = "The invoice is approved now, before its review window ends: the next settlement run charges " + total + "."
	case actRefund:
		if a.amount > inv.Refundable() {
			return v, fmt.Sprintf("A refund of %s is above the %s left to refund.",
				formatMoney(inv.Currency, a.amount), formatMoney(inv.Currency, inv.Refundable()))
		}
		v.Consequence = fmt.Sprintf("%s goes back to the payer on the %s rail (charged %s, %s refunded before). This cannot be undone.",
			formatMoney(inv.Currency, a.amount), inv.Rail, formatMoney(inv.Currency, inv.Charged), formatMoney(inv.Currency, inv.Refunded))
		if isTopUp(inv) {
			v.Consequence = fmt.Sprintf("%s goes back to the payer on the %s rail: the prepaid top-up's credit not yet spent, taken back from the crawler's prepaid balance first (charged %s; what requests drew is not refunded). This cannot be undone.",
				formatMoney(inv.Currency, a.amount), inv.Rail, formatMoney(inv.Currency, inv.Charged))
		}
	case actCredit:
		if a.line > len(inv.Lines) {
			return v, fmt.Sprintf("Invoice %s has %d lines, no line %d.", inv.ID, len(inv.Lines), a.line)
		}
		v.LineInfo = inv.Lines[a.line-1]
		if a.amount > v.LineInfo.Amount {
			return v, fmt.Sprintf("A credit of %s exceeds line %d's amount of %s.",
				formatMoney(inv.Currency, a.amount), a.line, formatMoney(inv.Currency, v.LineInfo.Amount))
		}
		v.NewTotal = inv.Total + v.LineInfo.Credit - a.amount
		v.Consequence = fmt.Sprintf("Line %d (%s, %s) gets a credit of %s, replacing its credit of %s; the total becomes %s.",
			a.line, v.LineInfo.Publisher, v.LineInfo.Site, formatMoney(inv.Currency, a.amount),
			formatMoney(inv.Currency, v.LineInfo.Credit), formatMoney(inv.Currency, v.NewTotal))
	}
	if !can(inv, a.name) && !alreadyDone(inv, a) {
		return v, fmt.Sprintf("Invoice %s is %s: cannot %s.", inv.ID, inv.Status, verb(a.name))
	}
	return v, ""
}

// alreadyDone reports an action that already took effect, which the
// settler answers with "nothing changed" rather than a refusal.
func alreadyDone(inv *ledger.Invoice, a action) bool {
	switch a.name {
	case actHold:
		return inv.Status == ledger.StatusHeld
	case actRelease:
		return inv.Status == ledger.StatusDraft
	case actVoid:
		return inv.Status == ledger.StatusVoid
	case actApprove:
		return inv.Status == ledger.StatusApproved
	}
	return false
}

// verb names an action in a sentence.
func verb(action string) string {
	if action == actCredit {
		return "credit a line"
	}
	return action
}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// auditView is the audit page's data.
type auditView struct {
	Inv    *ledger.Invoice
	Report *AuditReport
	// Failures are the first maxShownFailures failures.
	Failures []AuditFailure
	Shown    int
}

// maxShownFailures bounds the failures the audit page lists; the API
// streams them all.
const maxShownFailures = 200

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, ss session) error {
	inv, err := s.invoice(r)
	if err != nil {
		return err
	}
	v := auditView{Inv: inv}
	// The page is written at the end; while the audit makes progress, the
	// server's write timeout must not cut it.
	rc := http.NewResponseController(w)
	v.Report, err = s.auditor.Audit(r.Context(), inv, AuditHooks{
		Failure: func(f AuditFailure) error {
			if len(v.Failures) < maxShownFailures {
				v.Failures = append(v.Failures, f)
			}
			return nil
		},
		Progress: func(int64) error {
			_ = rc.SetWriteDeadline(time.Now().Add(streamIdle))
			return nil
		},
	})
	if err != nil {
		return err
	}
	v.Shown = len(v.Failures)
	s.pages.render(w, r, http.StatusOK, "audit", s.data(&ss, "Audit of "+inv.ID, v))
	return nil
}

func (s *Server) webDayCSV(w http.ResponseWriter, r *http.Request, ss session) error {
	return s.dayCSV(w, r, principal{Name: ss.Name, Role: ss.Role})
}

func (s *Server) webCommitmentsCSV(w http.ResponseWriter, r *http.Request, ss session) error {
	inv, err := s.invoice(r)
	if err != nil {
		return err
	}
	return s.streamCommitments(w, r, inv)
}

// isTopUp reports whether inv is a prepaid top-up's invoice (one line of
// kind topup).
func isTopUp(inv *ledger.Invoice) bool {
	return len(inv.Lines) == 1 && inv.Lines[0].Kind == ledger.LineTopUp
}

// lastRefundPending reports whether inv's latest refund is still pending.
func lastRefundPending(inv *ledger.Invoice) bool {
	n := len(inv.Refunds)
	return n > 0 && inv.Refunds[n-1].Status == ledger.RefundPending
}
