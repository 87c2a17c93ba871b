package finance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/paycrawl/paycrawl/internal/finance/wire"
	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// apiRoutes registers the JSON API.
func (s *Server) apiRoutes(mux *http.ServeMux) {
	mux.Handle("GET /v1/invoices", s.api(false, s.listInvoices))
	mux.Handle("GET /v1/queue", s.api(false, s.queue))
	mux.Handle("GET /v1/chart", s.api(false, s.chart))
	mux.Handle("GET /v1/invoices/{id}", s.api(false, s.getInvoice))
	for _, a := range []string{actHold, actRelease, actVoid, actApprove} {
		mux.Handle("POST /v1/invoices/{id}/"+a, s.api(true, s.statusAction(a)))
	}
	mux.Handle("POST /v1/invoices/{id}/lines/{n}/credit", s.api(true, s.creditLine))
	mux.Handle("POST /v1/invoices/{id}/refund", s.api(true, s.refund))
	mux.Handle("POST /v1/topups", s.api(true, s.topUp))
	mux.Handle("GET /v1/days/{day}/summary", s.api(false, s.daySummary))
	mux.Handle("GET /v1/days/{day}/invoices.csv", s.api(false, s.dayCSV))
	mux.Handle("GET /v1/invoices/{id}/commitments.csv", s.api(false, s.commitmentsCSV))
	mux.Handle("GET /v1/invoices/{id}/audit", s.api(false, s.auditNDJSON))
	mux.Handle("/v1/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteError(w, r, httpx.Errorf(http.StatusNotFound, codeNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
	}))
}

// statuses a list may be filtered by.
var statuses = []ledger.Status{
	ledger.StatusDraft, ledger.StatusHeld, ledger.StatusApproved, ledger.StatusCharging, ledger.StatusPending,
	ledger.StatusPaid, ledger.StatusFailed, ledger.StatusVoid, ledger.StatusCarried,
}

// parseStatus reads a status filter; "" means all.
func parseStatus(s string) (ledger.Status, error) {
	if s == "" {
		return "", nil
	}
	for _, st := range statuses {
		if string(st) == s {
			return st, nil
		}
	}
	return "", badRequest("status %q: want one of draft, held, approved, charging, pending, paid, failed, void, carried", clipID(s))
}

// parseDay reads a day; "" is yesterday (UTC).
func (s *Server) parseDay(d string) (string, error) {
	if d == "" {
		return s.yesterday(), nil
	}
	if _, _, _, err := ledger.ParseInvoiceID(ledger.InvoiceID("x", d, "USD")); err != nil {
		return "", badRequest("day %q: want YYYY-MM-DD", clipID(d))
	}
	return d, nil
}

func (s *Server) listInvoices(w http.ResponseWriter, r *http.Request, _ principal) error {
	q, err := s.parseQuery(r.Context(), r.URL.Query(), listKeys, 0)
	if err != nil {
		return err
	}
	_, invs, err := s.rangeInvoices(r.Context(), q, nil)
	if err != nil {
		return err
	}
	sum := summarize("", invs)
	out := wire.InvoiceList{From: q.From, To: q.To, Status: string(q.Status), Account: q.Account, Rail: q.Rail, Q: q.Q,
		Totals: sum.Totals.wire(), Voided: sum.Voided.wire(), Invoices: s.wireInvoices(r.Context(), invs)}
	if q.OneDay() {
		out.Day = q.From
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

// queue serves what needs a person across days.
func (s *Server) queue(w http.ResponseWriter, r *http.Request, _ principal) error {
	q, err := s.parseQuery(r.Context(), r.URL.Query(), queueKeys, queueDays)
	if err != nil {
		return err
	}
	_, invs, err := s.rangeInvoices(r.Context(), q, needsPerson)
	if err != nil {
		return err
	}
	sortQueue(invs)
	out := wire.Queue{From: q.From, To: q.To, Items: make([]wire.QueueItem, 0, len(invs))}
	for i, wi := range s.wireInvoices(r.Context(), invs) {
		out.Items = append(out.Items, wire.QueueItem{Reason: queueReason(invs[i]), Invoice: wi})
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

// chart serves billed and charged per day over a range.
func (s *Server) chart(w http.ResponseWriter, r *http.Request, _ principal) error {
	q, err := s.parseQuery(r.Context(), r.URL.Query(), chartKeys, queueDays)
	if err != nil {
		return err
	}
	_, invs, err := s.rangeInvoices(r.Context(), q, nil)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, wireChart(q.From, q.To, chartOf(q.days(), invs)))
	return nil
}

// wireInvoices converts invoices for the API, with their operators' names.
func (s *Server) wireInvoices(ctx context.Context, invs []*ledger.Invoice) []wire.Invoice {
	accounts := make([]string, len(invs))
	for i, inv := range invs {
		accounts[i] = inv.Account
	}
	names := s.names(ctx, accounts)
	out := make([]wire.Invoice, len(invs))
	for i, inv := range invs {
		out[i] = toWire(inv)
		out[i].OperatorName, out[i].OperatorContact = names[inv.Account].Name, names[inv.Account].Contact
		if isTopUp(inv) && inv.Refundable() > 0 {
			s.topUpRefundable(ctx, inv, &out[i])
		}
	}
	return out
}

// topUpRefundable sets what a prepaid top-up's refund may give back, its
// unspent credit (Operations.TopUpRefundable), where the charge less its
// refunds was: 0, and no refund action, once requests drew it all or while
// a dispute holds it. If the ledger cannot say, the charge's figure stays
// and the refund itself decides.
func (s *Server) topUpRefundable(ctx context.Context, inv *ledger.Invoice, w *wire.Invoice) {
	left, ok, err := s.ops.TopUpRefundable(ctx, inv.ID)
	switch {
	case !ok:
		return
	case err == nil:
		w.Refundable = left.String()
		return
	case errors.Is(err, settle.ErrTopUpSpent), errors.Is(err, settle.ErrTopUpDisputed),
		errors.Is(err, ledger.ErrPrepaidDisputed), errors.Is(err, ledger.ErrRefundExceeds):
		w.Refundable = money.Micros(0).String()
		w.Actions = slices.DeleteFunc(w.Actions, func(a string) bool { return a == actRefund })
	}
}

// wireInvoice is wireInvoices of one.
func (s *Server) wireInvoice(ctx context.Context, inv *ledger.Invoice) wire.Invoice {
	return s.wireInvoices(ctx, []*ledger.Invoice{inv})[0]
}

// invoice reads the invoice named by the path; a malformed or unknown id
// is a 404.
func (s *Server) invoice(r *http.Request) (*ledger.Invoice, error) {
	id := r.PathValue("id")
	if _, _, _, err := ledger.ParseInvoiceID(id); err != nil {
		return nil, notFound(id)
	}
	inv, err := s.l.Invoice(r.Context(), id)
	if errors.Is(err, ledger.ErrNotFound) {
		return nil, notFound(id)
	}
	return inv, err
}

func (s *Server) getInvoice(w http.ResponseWriter, r *http.Request, _ principal) error {
	inv, err := s.invoice(r)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, s.wireInvoice(r.Context(), inv))
	return nil
}

// decodeOptional decodes a JSON body into v; an empty body leaves v as is.
func decodeOptional(w http.ResponseWriter, r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	return httpx.DecodeJSON(w, r, maxBody, v)
}

// statusAction serves hold, release, void and approve.
func (s *Server) statusAction(name string) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, p principal) error {
		var req wire.ActionRequest
		if err := decodeOptional(w, r, &req); err != nil {
			return err
		}
		id := r.PathValue("id")
		if _, _, _, err := ledger.ParseInvoiceID(id); err != nil {
			return notFound(id)
		}
		res, err := s.act(r, p, action{name: name, id: id, reason: req.Reason})
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, s.actionResult(r.Context(), name, res, 0))
		return nil
	}
}

func (s *Server) creditLine(w http.ResponseWriter, r *http.Request, p principal) error {
	var req wire.CreditRequest
	if err := httpx.DecodeJSON(w, r, maxBody, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, _, _, err := ledger.ParseInvoiceID(id); err != nil {
		return notFound(id)
	}
	n, err := lineNumber(r.PathValue("n"))
	if err != nil {
		return err
	}
	amount, err := parseAmount(req.Amount)
	if err != nil {
		return err
	}
	res, err := s.act(r, p, action{name: actCredit, id: id, reason: req.Reason, line: n, amount: amount})
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, s.actionResult(r.Context(), actCredit, res, n))
	return nil
}

// refund serves POST /v1/invoices/{id}/refund.
func (s *Server) refund(w http.ResponseWriter, r *http.Request, p principal) error {
	var req wire.RefundRequest
	if err := httpx.DecodeJSON(w, r, maxBody, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, _, _, err := ledger.ParseInvoiceID(id); err != nil {
		return notFound(id)
	}
	var amount money.Micros
	if a := strings.TrimSpace(req.Amount); a != "" {
		var err error
		if amount, err = parseAmount(a); err != nil {
			return err
		}
		if amount <= 0 {
			return badRequest("amount %q: want more than 0, or no amount to refund all that is left", clipID(a))
		}
	}
	res, err := s.act(r, p, action{name: actRefund, id: id, reason: req.Reason, amount: amount})
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, s.actionResult(r.Context(), actRefund, res, 0))
	return nil
}

// lineNumber reads a line number (from 1).
func lineNumber(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1_000_000 {
		return 0, badRequest("line %q: want a line number, from 1", clipID(s))
	}
	return n, nil
}

// parseAmount reads a credit: a non-negative decimal string.
func parseAmount(s string) (money.Micros, error) {
	m, err := money.Parse(strings.TrimSpace(s))
	if err != nil {
		return 0, badRequest("amount %q: want a decimal amount such as 0.01, at most 6 decimal places", clipID(s))
	}
	return m, nil
}

// action is one finance action asked for.
type action struct {
	// name is hold, release, void, approve or credit.
	name, id, reason string
	// line (from 1) and amount are a credit's.
	line   int
	amount money.Micros
}

// act runs a as p, and counts it.
func (s *Server) act(r *http.Request, p principal, a action) (*settle.ReviewResult, error) {
	rv := settle.Review{Actor: p.Name, Reason: strings.TrimSpace(a.reason)}
	ctx := r.Context()
	var res *settle.ReviewResult
	var err error
	switch a.name {
	case actHold:
		res, err = s.ops.Hold(ctx, a.id, rv)
	case actRelease:
		res, err = s.ops.Release(ctx, a.id, rv)
	case actVoid:
		res, err = s.ops.Void(ctx, a.id, rv)
	case actApprove:
		res, err = s.ops.ApproveEarly(ctx, a.id, rv)
	case actCredit:
		res, err = s.ops.Credit(ctx, a.id, a.line-1, a.amount, rv)
	case actRefund:
		res, err = s.ops.Refund(ctx, a.id, a.amount, rv)
	default:
		return nil, fmt.Errorf("finance: unknown action %q", a.name)
	}
	s.count(a.name, err == nil && res.Changed, err)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// count counts one finance action by its result: changed, unchanged (it
// had taken effect already), busy, refused or error.
func (s *Server) count(action string, changed bool, err error) {
	result := "error"
	switch e := classify(err); {
	case err == nil && changed:
		result = "changed"
	case err == nil:
		result = "unchanged"
	case e != nil && e.Status == http.StatusLocked:
		result = "busy"
	case e != nil && e.Status < 500 && e.Status != statusClientClosed:
		result = "refused"
	}
	s.actions.WithLabelValues(action, result).Inc()
}

// actionResult is the answer to an action.
func (s *Server) actionResult(ctx context.Context, action string, res *settle.ReviewResult, line int) wire.ActionResult {
	return wire.ActionResult{Action: action, Changed: res.Changed, Message: actionMessage(action, res, line),
		Warning: res.Warning, Invoice: s.wireInvoice(ctx, res.Invoice)}
}

// actionMessage says what an action did, for people.
func actionMessage(action string, res *settle.ReviewResult, line int) string {
	id := res.Invoice.ID
	if !res.Changed {
		if action == actCredit {
			return fmt.Sprintf("Line %d of %s already has that credit; nothing changed.", line, id)
		}
		return fmt.Sprintf("Invoice %s is already %s; nothing changed.", id, res.Invoice.Status)
	}
	switch action {
	case actHold:
		return fmt.Sprintf("Invoice %s is held: it will not be approved or charged until released.", id)
	case actRelease:
		return fmt.Sprintf("Invoice %s is released to draft: the settler approves it after its review window.", id)
	case actVoid:
		return fmt.Sprintf("Invoice %s is void: it will never be charged.", id)
	case actApprove:
		return fmt.Sprintf("Invoice %s is approved: the next settlement run charges it.", id)
	case actRefund:
		inv := res.Invoice
		if n := len(inv.Refunds); n > 0 {
			rf := inv.Refunds[n-1]
			switch rf.Status {
			case ledger.RefundDone:
				return fmt.Sprintf("Refunded %s %s of %s (%s); %s %s refunded in all.", rf.Amount, inv.Currency, id, rf.Reference, inv.Refunded, inv.Currency)
			case ledger.RefundFailed:
				return fmt.Sprintf("The refund of %s %s of %s failed: %s. Nothing was refunded.", rf.Amount, inv.Currency, id, rf.Error)
			}
			return fmt.Sprintf("The refund of %s %s of %s is pending: the settler finishes it.", rf.Amount, inv.Currency, id)
		}
	case actCredit:
		inv := res.Invoice
		if line >= 1 && line <= len(inv.Lines) {
			return fmt.Sprintf("Line %d of %s now has a credit of %s %s; the total is %s %s.",
				line, id, inv.Currency, inv.Lines[line-1].Credit, inv.Currency, inv.Total)
		}
	}
	return fmt.Sprintf("Invoice %s is %s.", id, res.Invoice.Status)
}

func (s *Server) daySummary(w http.ResponseWriter, r *http.Request, _ principal) error {
	day, err := s.pathDay(r)
	if err != nil {
		return err
	}
	invs, err := s.l.Invoices(r.Context(), day)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, summarize(day, invs).wire())
	return nil
}

// pathDay reads the {day} of a path.
func (s *Server) pathDay(r *http.Request) (string, error) {
	d := r.PathValue("day")
	if d == "" {
		return "", badRequest("a day is required, YYYY-MM-DD")
	}
	return s.parseDay(d)
}

func (s *Server) dayCSV(w http.ResponseWriter, r *http.Request, _ principal) error {
	day, err := s.pathDay(r)
	if err != nil {
		return err
	}
	qv := r.URL.Query()
	if err := checkKeys(qv, []string{"status", "account", "rail", "q"}); err != nil {
		return err
	}
	qv.Set("day", day)
	q, err := s.parseQuery(r.Context(), qv, listKeys, 0)
	if err != nil {
		return err
	}
	_, invs, err := s.rangeInvoices(r.Context(), q, nil)
	if err != nil {
		return err
	}
	attachment(w, "text/csv; charset=utf-8", "invoices-"+day+".csv")
	return writeInvoicesCSV(newStream(w), invs, s.names(r.Context(), accountsOf(invs)))
}

func (s *Server) commitmentsCSV(w http.ResponseWriter, r *http.Request, _ principal) error {
	inv, err := s.invoice(r)
	if err != nil {
		return err
	}
	return s.streamCommitments(w, r, inv)
}

// streamCommitments writes an invoice's commitments as CSV. Once the first
// row is out the status is sent, so an error after it ends the body with a
// last line that says so instead of a JSON error.
func (s *Server) streamCommitments(w http.ResponseWriter, r *http.Request, inv *ledger.Invoice) error {
	attachment(w, "text/csv; charset=utf-8", "commitments-"+inv.ID+".csv")
	st := newStream(w)
	if err := writeCommitmentsCSV(r.Context(), st, s.l, inv); err != nil {
		s.log.Error("finance: commitments export failed", "invoice", inv.ID, "err", err)
		_, _ = io.WriteString(st, "# export failed: "+human(err)+"\n")
		st.Flush()
	}
	return nil
}

// attachment sets the headers of a download.
func attachment(w http.ResponseWriter, contentType, filename string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
}
