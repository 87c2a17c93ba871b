package finance

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/paycrawl/paycrawl/internal/finance/wire"
	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// payoutsView is the payouts page's data.
type payoutsView struct {
	Payouts []wire.Payout
}

// webPayoutRoutes registers the payouts page when the server has payouts:
// GET /payouts, and POST /payouts/{id}/{action} from its forms.
func (s *Server) webPayoutRoutes(mux *http.ServeMux) {
	if s.payouts == nil {
		return
	}
	mux.Handle("GET /payouts", s.web(s.payoutsPage))
	mux.Handle("POST /payouts/{id}/{action}", s.webPost(s.webPayoutAction))
}

func (s *Server) payoutsPage(w http.ResponseWriter, r *http.Request, ss session) error {
	return s.renderPayouts(w, r, ss, http.StatusOK, s.doneFlash(r))
}

// doneFlash is the message after an action redirected here
// (?done=<action>&payout=<id>&changed=0|1), written by the server from the
// payout as it is now: the link carries no text of its own.
func (s *Server) doneFlash(r *http.Request) string {
	q := r.URL.Query()
	a := settle.PayoutAction(q.Get("done"))
	if _, _, ok := settle.ActionTarget(a); !ok {
		return ""
	}
	p, err := s.payouts.Payout(r.Context(), q.Get("payout"))
	if err != nil {
		return ""
	}
	if q.Get("changed") != "1" {
		return "Payout " + p.ID + " is already " + string(p.Status) + "; nothing changed."
	}
	return payoutMessage(a, p)
}

// renderPayouts renders the payouts page with status and a flash ("" for
// none; kind error when status is not 200).
func (s *Server) renderPayouts(w http.ResponseWriter, r *http.Request, ss session, status int, flash string) error {
	pos, err := s.payouts.List(r.Context())
	if err != nil {
		return err
	}
	v := payoutsView{Payouts: make([]wire.Payout, 0, len(pos))}
	for _, p := range pos {
		v.Payouts = append(v.Payouts, payoutWire(p))
	}
	d := s.data(&ss, "Payouts", v)
	if flash != "" {
		d.Flash, d.FlashKind = flash, "ok"
		if status != http.StatusOK {
			d.FlashKind = "error"
		}
	}
	s.pages.render(w, r, status, "payouts", d)
	return nil
}

// webPayoutAction holds, releases or cancels a payout from the page's
// form, as the API does, and shows the page again with what happened.
func (s *Server) webPayoutAction(w http.ResponseWriter, r *http.Request, ss session) error {
	a := settle.PayoutAction(r.PathValue("action"))
	if _, _, ok := settle.ActionTarget(a); !ok {
		return httpx.Errorf(http.StatusNotFound, codeNotFound, "There is no payout action %q.", clipID(string(a)))
	}
	if !ss.Role.CanAct() {
		return httpx.Errorf(http.StatusForbidden, "forbidden",
			"Your token (%s) has the viewer role: it may read payouts but not act on them.", ss.Name)
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		return s.renderPayouts(w, r, ss, http.StatusBadRequest, "A reason is required to "+string(a)+" a payout; it is recorded in its history.")
	}
	res, err := s.actOnPayout(r.Context(), principal{Name: ss.Name, Role: ss.Role}, a, r.PathValue("id"), reason)
	if err != nil {
		e := classify(err)
		if e == nil {
			return err
		}
		return s.renderPayouts(w, r, ss, e.Status, e.Message)
	}
	http.Redirect(w, r, "/payouts?done="+url.QueryEscape(string(a))+"&payout="+url.QueryEscape(res.Payout.ID)+
		"&changed="+boolDigit(res.Changed)+"#"+url.QueryEscape(res.Payout.ID), http.StatusSeeOther)
	return nil
}
