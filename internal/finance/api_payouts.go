package finance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/paycrawl/paycrawl/internal/finance/wire"
	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/earnings"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// Payouts are the finance actions on publishers' payouts
// (*settle.Payouts): each takes the payouts lock and records the actor
// and the reason in the payout's history.
type Payouts interface {
	List(ctx context.Context) ([]*earnings.Payout, error)
	Payout(ctx context.Context, id string) (*earnings.Payout, error)
	Act(ctx context.Context, id string, a settle.PayoutAction, actor, reason string) (*earnings.Payout, error)
}

var _ Payouts = (*settle.Payouts)(nil)

// payoutActions are the finance actions on payouts, in the order pages
// show them.
var payoutActions = []settle.PayoutAction{settle.PayoutHold, settle.PayoutRelease, settle.PayoutCancel}

// payoutRoutes registers the payouts API when the server has payouts:
// GET /v1/payouts (?status=, ?publisher=), GET /v1/payouts/{id} and POST
// /v1/payouts/{id}/hold|release|cancel.
func (s *Server) payoutRoutes(mux *http.ServeMux) {
	if s.payouts == nil {
		return
	}
	mux.Handle("GET /v1/payouts", s.api(false, s.listPayouts))
	mux.Handle("GET /v1/payouts/{id}", s.api(false, s.getPayout))
	for _, a := range payoutActions {
		mux.Handle("POST /v1/payouts/{id}/"+string(a), s.api(true, s.payoutAction(a)))
	}
}

func (s *Server) listPayouts(w http.ResponseWriter, r *http.Request, _ principal) error {
	q := r.URL.Query()
	if err := checkKeys(q, []string{"status", "publisher"}); err != nil {
		return err
	}
	status, pub := q.Get("status"), q.Get("publisher")
	if status != "" && !knownPayoutStatus(status) {
		return badRequest("status %q: want one of pending, held, sending, paid, failed, carried, canceled", clipID(status))
	}
	pos, err := s.payouts.List(r.Context())
	if err != nil {
		return err
	}
	out := wire.PayoutList{Payouts: []wire.Payout{}}
	for _, p := range pos {
		if (status == "" || string(p.Status) == status) && (pub == "" || p.Publisher == pub) {
			out.Payouts = append(out.Payouts, payoutWire(p))
		}
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

func knownPayoutStatus(s string) bool {
	return slices.Contains([]earnings.PayoutStatus{earnings.PayoutPending, earnings.PayoutHeld, earnings.PayoutSending, earnings.PayoutPaid,
		earnings.PayoutFailed, earnings.PayoutCarried, earnings.PayoutCanceled}, earnings.PayoutStatus(s))
}

func (s *Server) getPayout(w http.ResponseWriter, r *http.Request, _ principal) error {
	p, err := s.payout(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, payoutWire(p))
	return nil
}

// payout reads a payout; a malformed or unknown id is a 404.
func (s *Server) payout(ctx context.Context, id string) (*earnings.Payout, error) {
	p, err := s.payouts.Payout(ctx, id)
	if errors.Is(err, earnings.ErrNotFound) || errors.Is(err, earnings.ErrInvalid) {
		return nil, httpx.Errorf(http.StatusNotFound, codeNotFound, "no payout %s", clipID(id))
	}
	return p, err
}

// payoutAction serves hold, release and cancel. An action already taken
// (hold of a held payout) answers 200 with changed false; one the status
// forbids (release of a paid payout) 409 wrong_status; a missing reason
// 400; a payout run holding the lock 423.
func (s *Server) payoutAction(a settle.PayoutAction) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, pr principal) error {
		var req wire.ActionRequest
		if err := decodeOptional(w, r, &req); err != nil {
			return err
		}
		reason := strings.TrimSpace(req.Reason)
		if reason == "" {
			return badRequest("a reason is required to %s a payout", a)
		}
		res, err := s.actOnPayout(r.Context(), pr, a, r.PathValue("id"), reason)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, res)
		return nil
	}
}

// actOnPayout applies a to payout id as pr, and counts it.
func (s *Server) actOnPayout(ctx context.Context, pr principal, a settle.PayoutAction, id, reason string) (*wire.PayoutActionResult, error) {
	name := "payout_" + string(a)
	cur, err := s.payout(ctx, id)
	if err != nil {
		s.actions.WithLabelValues(name, "refused").Inc()
		return nil, err
	}
	to, from, _ := settle.ActionTarget(a)
	if cur.Status == to {
		s.actions.WithLabelValues(name, "unchanged").Inc()
		return &wire.PayoutActionResult{Action: string(a), Message: fmt.Sprintf("Payout %s is already %s; nothing changed.", id, to),
			Payout: payoutWire(cur)}, nil
	}
	if !slices.Contains(from, cur.Status) {
		s.actions.WithLabelValues(name, "refused").Inc()
		return nil, httpx.Errorf(http.StatusConflict, codeWrongStatus, "payout %s is %s: cannot %s it", id, cur.Status, a)
	}
	p, err := s.payouts.Act(ctx, id, a, pr.Name, reason)
	result := "changed"
	switch e := classify(err); {
	case err == nil:
	case e != nil && e.Status == http.StatusLocked:
		result = "busy"
	case e != nil && e.Status < 500:
		result = "refused"
	default:
		result = "error"
	}
	s.actions.WithLabelValues(name, result).Inc()
	if err != nil {
		return nil, err
	}
	return &wire.PayoutActionResult{Action: string(a), Changed: true, Message: payoutMessage(a, p), Payout: payoutWire(p)}, nil
}

// payoutMessage says what an action did, for people.
func payoutMessage(a settle.PayoutAction, p *earnings.Payout) string {
	switch a {
	case settle.PayoutHold:
		return fmt.Sprintf("Payout %s is held: no run sends it until it is released.", p.ID)
	case settle.PayoutRelease:
		return fmt.Sprintf("Payout %s is released: the next payout run sends %s %s.", p.ID, p.Amount, p.Currency)
	case settle.PayoutCancel:
		return fmt.Sprintf("Payout %s is canceled: its %s %s went back to the publisher's balance.", p.ID, p.Amount, p.Currency)
	}
	return fmt.Sprintf("Payout %s is %s.", p.ID, p.Status)
}

// payoutWire converts a payout for the API.
func payoutWire(p *earnings.Payout) wire.Payout {
	out := wire.Payout{ID: p.ID, Publisher: p.Publisher, Period: p.Period, Currency: p.Currency, Amount: p.Amount.String(),
		Minimum: p.Minimum.String(), Rail: p.Rail, Destination: p.Destination, Status: string(p.Status), Attempt: p.Attempt,
		Reference: p.Reference, Error: p.Error, Reason: p.Reason, Created: p.Created, Updated: p.Updated, Actions: []string{}}
	for _, h := range p.History {
		out.History = append(out.History, wire.PayoutEvent{Kind: h.Kind, From: h.From, To: h.To, At: h.At, Actor: h.Actor,
			Reason: h.Reason, Reference: h.Reference, Attempt: h.Attempt})
	}
	for _, a := range payoutActions {
		if _, from, _ := settle.ActionTarget(a); slices.Contains(from, p.Status) {
			out.Actions = append(out.Actions, string(a))
		}
	}
	return out
}

// payoutError classifies the errors of payouts: a status that forbids the
// action is a 409, a payout run holding the lock a 423.
func payoutError(err error) *httpx.Error {
	switch {
	case errors.Is(err, earnings.ErrStatus):
		return &httpx.Error{Status: http.StatusConflict, Code: codeWrongStatus, Err: err, Message: human(err)}
	case errors.Is(err, earnings.ErrNotFound):
		return &httpx.Error{Status: http.StatusNotFound, Code: codeNotFound, Err: err, Message: human(err)}
	case errors.Is(err, earnings.ErrInvalid):
		return &httpx.Error{Status: http.StatusBadRequest, Code: codeInvalid, Err: err, Message: human(err)}
	case errors.Is(err, ledger.ErrLocked):
		return &httpx.Error{Status: http.StatusLocked, Code: codeBusy, Err: err,
			Message: "a payout run holds the payouts lock right now; nothing was changed, try again in a minute"}
	}
	return nil
}
