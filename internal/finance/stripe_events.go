package finance

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	stripeapi "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// Disputes records card disputes in publishers' earnings
// (*settle.Disputes).
type Disputes interface {
	Apply(ctx context.Context, d settle.Dispute) (*settle.DisputeResult, error)
}

var _ Disputes = (*settle.Disputes)(nil)

// maxDisputeCents bounds a dispute's amount (a billion units), far above
// any charge and far below an overflow of micro-units.
const maxDisputeCents = 100_000_000_000

// maxStripeEvent bounds a Stripe event's body.
const maxStripeEvent = 256 << 10

// StripeEventResult answers a Stripe event: Received always (Stripe stops
// retrying on a 2xx), with what it did or why it did nothing.
type StripeEventResult struct {
	Received bool   `json:"received"`
	Event    string `json:"event"`
	Type     string `json:"type"`
	// Dispute and Invoice are the dispute recorded and its invoice;
	// Entries how many earnings entries were new (0 on a replay).
	Dispute string `json:"dispute,omitempty"`
	Invoice string `json:"invoice,omitempty"`
	Entries int    `json:"entries"`
	// Ignored says why an event changes nothing.
	Ignored string `json:"ignored,omitempty"`
}

// stripeRoutes registers POST /v1/stripe/events when disputes and the
// endpoint's signing secret are configured. Stripe authenticates it, not a
// bearer token: every event must carry a valid Stripe-Signature.
func (s *Server) stripeRoutes(mux *http.ServeMux) {
	if s.disputes == nil || s.stripeSecret == "" {
		return
	}
	mux.HandleFunc("POST /v1/stripe/events", func(w http.ResponseWriter, r *http.Request) {
		res, err := s.stripeEvent(w, r)
		if err != nil {
			httpx.WriteError(w, r, apiError(err))
			return
		}
		httpx.WriteJSON(w, http.StatusOK, res)
	})
}

// stripeEvent verifies a Stripe event (signature over the raw body,
// timestamp within five minutes) and applies the dispute events to
// earnings: funds withdrawn (or a dispute opened or lost) is a chargeback,
// funds reinstated (or a dispute won) gives it back. Replays and retries
// are idempotent by the dispute's id. A dispute of a charge paycrawl did
// not make, or one that does not match its invoice, is answered 200 with
// why (Stripe would retry anything else for days) and logged, and so is
// one whose top-up's credit conflicts with its invoice (ledger.ErrConflict:
// nothing recorded, for a person to settle); a ledger
// that cannot be reached is a 503, so that Stripe retries.
func (s *Server) stripeEvent(w http.ResponseWriter, r *http.Request) (*StripeEventResult, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxStripeEvent))
	if err != nil {
		return nil, httpx.Errorf(http.StatusRequestEntityTooLarge, "too_large", "a Stripe event is at most %d bytes", maxStripeEvent)
	}
	ev, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), s.stripeSecret,
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	if err != nil {
		return nil, httpx.Errorf(http.StatusBadRequest, "bad_signature", "the Stripe-Signature does not verify for this endpoint's secret: %v", err)
	}
	res := &StripeEventResult{Received: true, Event: ev.ID, Type: string(ev.Type)}
	d, why, err := disputeOf(ev)
	if err != nil {
		return nil, err
	}
	if why != "" {
		res.Ignored = why
		return res, nil
	}
	res.Dispute = d.ID
	out, err := s.disputes.Apply(r.Context(), d)
	switch {
	case errors.Is(err, settle.ErrNotOurs):
		s.log.Info("finance: a Stripe dispute of a charge that is not paycrawl's", "dispute", d.ID, "event", ev.ID, "err", err)
		res.Ignored = human(err)
		return res, nil
	case errors.Is(err, ledger.ErrInvalid):
		s.log.Error("finance: a Stripe dispute that does not match its invoice: settle it by hand", "dispute", d.ID, "event", ev.ID, "err", err)
		res.Ignored = human(err)
		return res, nil
	case errors.Is(err, ledger.ErrConflict):
		// Permanent: Stripe's retries would fail the same way for days.
		s.log.Error("finance: A STRIPE DISPUTE NOT RECORDED: its top-up's credit does not match its invoice; settle it by hand",
			"dispute", d.ID, "event", ev.ID, "err", err)
		res.Ignored = human(err)
		return res, nil
	case err != nil:
		return nil, err
	}
	res.Invoice, res.Entries = out.Invoice, out.Entries
	return res, nil
}

// disputeOf reads the dispute of a dispute event, or says why the event
// changes nothing.
func disputeOf(ev stripeapi.Event) (settle.Dispute, string, error) {
	var action settle.DisputeAction
	var dp stripeapi.Dispute
	if strings.HasPrefix(string(ev.Type), "charge.dispute.") {
		if ev.Data == nil || json.Unmarshal(ev.Data.Raw, &dp) != nil || dp.ID == "" {
			return settle.Dispute{}, "", badRequest("event %s: data.object is not a dispute", clipID(ev.ID))
		}
	}
	inquiry := strings.HasPrefix(string(dp.Status), "warning_")
	switch ev.Type {
	case "charge.dispute.funds_withdrawn":
		action = settle.DisputeChargeback
	case "charge.dispute.created":
		if inquiry {
			return settle.Dispute{}, "an inquiry: no funds were withdrawn", nil
		}
		action = settle.DisputeChargeback
	case "charge.dispute.funds_reinstated":
		action = settle.DisputeReinstated
	case "charge.dispute.closed":
		switch dp.Status {
		case stripeapi.DisputeStatusLost:
			action = settle.DisputeChargeback
		case stripeapi.DisputeStatusWon:
			action = settle.DisputeReinstated
		default:
			return settle.Dispute{}, "a dispute closed as " + string(dp.Status) + ": no funds move", nil
		}
	default:
		return settle.Dispute{}, "not a dispute event: nothing to do", nil
	}
	if dp.PaymentIntent == nil || dp.PaymentIntent.ID == "" {
		return settle.Dispute{}, "the dispute names no PaymentIntent: not a paycrawl charge", nil
	}
	if dp.Amount <= 0 || dp.Amount > maxDisputeCents {
		return settle.Dispute{}, "", badRequest("dispute %s: amount %d", clipID(dp.ID), dp.Amount)
	}
	return settle.Dispute{ID: dp.ID, PaymentIntent: dp.PaymentIntent.ID, Amount: money.FromCents(dp.Amount),
		Currency: strings.ToUpper(string(dp.Currency)), Action: action, At: time.Unix(ev.Created, 0).UTC()}, "", nil
}
