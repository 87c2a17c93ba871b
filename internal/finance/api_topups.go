package finance

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/paycrawl/paycrawl/internal/finance/wire"
	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// actTopUp counts top-ups among the finance actions.
const actTopUp = "topup"

// topUp serves POST /v1/topups: finance buys prepaid credit for a crawler
// now (settle.Settler.OrderTopUp), charged on its rail and credited only
// once paid. The request's id makes it idempotent: the same id again
// answers with that top-up, charged once.
func (s *Server) topUp(w http.ResponseWriter, r *http.Request, p principal) error {
	var req wire.TopUpRequest
	if err := httpx.DecodeJSON(w, r, maxBody, &req); err != nil {
		return err
	}
	o := settle.TopUpOrder{ID: strings.TrimSpace(req.ID), Account: strings.TrimSpace(req.Account),
		Agreement: strings.TrimSpace(req.Agreement), Review: settle.Review{Actor: p.Name, Reason: strings.TrimSpace(req.Reason)}}
	switch {
	case o.ID == "":
		return badRequest("id is required: the top-up's id (1 to 32 lower-case letters and digits), which makes a retry charge nothing twice")
	case o.Account == "" || o.Agreement == "":
		return badRequest("account and agreement are required: the crawler operator (op_…) and its prepaid agreement (agr_…)")
	}
	if a := strings.TrimSpace(req.Amount); a != "" {
		var err error
		if o.Amount, err = parseAmount(a); err != nil {
			return err
		}
		if o.Amount <= 0 {
			return badRequest("amount %q: want more than 0, or no amount for the agreement's own top-up amount", clipID(a))
		}
	}
	res, err := s.ops.OrderTopUp(r.Context(), o)
	s.count(actTopUp, err == nil && res.Created, err)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, wire.TopUpResult{Created: res.Created, Message: topUpMessage(res),
		Balance: res.Balance.String(), Invoice: s.wireInvoice(r.Context(), res.Invoice)})
	return nil
}

// topUpMessage says what a top-up did, for people.
func topUpMessage(res *settle.TopUpResult) string {
	inv := res.Invoice
	amount := money.Micros(0)
	if len(inv.Lines) == 1 {
		amount = inv.Lines[0].Amount
	}
	what := fmt.Sprintf("Top-up %s of %s %s", inv.ID, inv.Currency, amount)
	if !res.Created {
		what += " (this id was used already: nothing was charged again)"
	}
	switch inv.Status {
	case ledger.StatusPaid:
		return fmt.Sprintf("%s is paid and credited: the prepaid balance is %s %s.", what, inv.Currency, res.Balance)
	case ledger.StatusFailed:
		return fmt.Sprintf("%s failed (%s): nothing was credited; the settler retries it on its schedule.", what, inv.Error)
	default:
		return fmt.Sprintf("%s is %s: it is credited once its charge is paid; the settler's next run follows it up.", what, inv.Status)
	}
}
