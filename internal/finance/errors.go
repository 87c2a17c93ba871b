package finance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// Machine-readable error codes of the finance API, besides httpx's.
const (
	codeInvalid     = "invalid_request"
	codeNotFound    = "not_found"
	codeWrongStatus = "wrong_status"
	codeNotChecked  = "not_checked"
	codeBusy        = "settler_busy"
	codeUnavailable = "ledger_unavailable"
	codeCanceled    = "canceled"
	codeRefundLimit = "refund_exceeds"
	codeNoRail      = "rail_unavailable"
	codeNoPrepaid   = "no_prepaid_agreement"
	codeIDUsed      = "topup_id_used"
	// codeHostUnclaimed: a top-up of an agreement whose host its
	// publisher no longer holds (settle.ErrHostUnclaimed).
	codeHostUnclaimed = "host_unclaimed"
	codeSpent         = "topup_spent"
	codeDisputed      = "topup_disputed"
	// codeTopUpConflict: a top-up credited another amount than its
	// invoice's (ledger.ErrPrepaidConflict): a person must look.
	codeTopUpConflict = "topup_conflict"
	// codeConflict: another record already holds what the request would
	// write (ledger.ErrConflict).
	codeConflict = "conflict"
)

// statusClientClosed is the status logged for a request whose client went
// away (nginx's 499); nobody reads the answer.
const statusClientClosed = 499

// classify maps an error of the ledger or the settler to an API error:
// the one place that decides statuses. Anything unknown is a 500 whose
// detail is logged, not shown.
func classify(err error) *httpx.Error {
	var he *httpx.Error
	var te *ledger.TransitionError
	switch {
	case errors.As(err, &he):
		return he
	case errors.As(err, &te):
		return &httpx.Error{Status: http.StatusConflict, Code: codeWrongStatus, Err: err,
			Message: fmt.Sprintf("invoice %s is %s: cannot %s", te.Invoice, te.Current, refused(te))}
	case errors.Is(err, settle.ErrBusy):
		return &httpx.Error{Status: http.StatusLocked, Code: codeBusy, Err: err,
			Message: "the settler is charging right now, try again in a minute"}
	case errors.Is(err, settle.ErrNotChecked):
		return &httpx.Error{Status: http.StatusConflict, Code: codeNotChecked, Err: err, Message: human(err)}
	case errors.Is(err, settle.ErrNoRail):
		return &httpx.Error{Status: http.StatusConflict, Code: codeNoRail, Err: err, Message: human(err)}
	case errors.Is(err, settle.ErrNoPrepaid):
		return &httpx.Error{Status: http.StatusConflict, Code: codeNoPrepaid, Err: err, Message: human(err)}
	case errors.Is(err, settle.ErrHostUnclaimed):
		return &httpx.Error{Status: http.StatusConflict, Code: codeHostUnclaimed, Err: err, Message: human(err)}
	case errors.Is(err, settle.ErrTopUpConflict):
		return &httpx.Error{Status: http.StatusConflict, Code: codeIDUsed, Err: err, Message: human(err)}
	case errors.Is(err, settle.ErrTopUpSpent):
		return &httpx.Error{Status: http.StatusConflict, Code: codeSpent, Err: err, Message: human(err)}
	case errors.Is(err, settle.ErrTopUpDisputed), errors.Is(err, ledger.ErrPrepaidDisputed):
		return &httpx.Error{Status: http.StatusConflict, Code: codeDisputed, Err: err, Message: human(err)}
	case errors.Is(err, ledger.ErrPrepaidConflict):
		return &httpx.Error{Status: http.StatusConflict, Code: codeTopUpConflict, Err: err,
			Message: human(err) + "; nothing was changed: a person must reconcile the top-up's credit"}
	case errors.Is(err, ledger.ErrConflict):
		return &httpx.Error{Status: http.StatusConflict, Code: codeConflict, Err: err, Message: human(err)}
	case errors.Is(err, ledger.ErrRefundExceeds):
		return &httpx.Error{Status: http.StatusConflict, Code: codeRefundLimit, Err: err, Message: human(err)}
	case errors.Is(err, ledger.ErrNotFound):
		return &httpx.Error{Status: http.StatusNotFound, Code: codeNotFound, Err: err, Message: human(err)}
	case errors.Is(err, ledger.ErrInvalid):
		return &httpx.Error{Status: http.StatusBadRequest, Code: codeInvalid, Err: err, Message: human(err)}
	case payoutError(err) != nil:
		return payoutError(err)
	case errors.Is(err, context.Canceled):
		return &httpx.Error{Status: statusClientClosed, Code: codeCanceled, Err: err, Message: "the request was cancelled"}
	case errors.Is(err, ledger.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return &httpx.Error{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Err: err,
			Message: "the ledger is unavailable right now; nothing was changed, try again"}
	}
	return nil
}

// apiError is classify for a handler; what it cannot classify is left for
// httpx.WriteError to log and answer with a bare 500.
func apiError(err error) error {
	if e := classify(err); e != nil {
		return e
	}
	return err
}

// refused names what a TransitionError refused.
func refused(te *ledger.TransitionError) string {
	if te.Action != "" {
		return te.Action
	}
	return "move to " + string(te.To)
}

// human strips the package prefixes of an error message ("ledger: invalid
// argument: …") so that people read the sentence that matters.
func human(err error) string {
	msg := err.Error()
	for _, p := range []string{
		"settle: invoice not checked: ", "ledger: invalid argument: ", "ledger: not found: ", "settle: ", "ledger: ",
		"earnings: not allowed in the payout's status: ", "earnings: invalid: ", "earnings: ",
	} {
		msg = strings.ReplaceAll(msg, p, "")
	}
	return msg
}

// notFound is the answer for an invoice id that is malformed or unknown.
func notFound(id string) *httpx.Error {
	return httpx.Errorf(http.StatusNotFound, codeNotFound, "no invoice %s", clipID(id))
}

// clipID bounds an id echoed in a message.
func clipID(id string) string {
	if len(id) > 200 {
		return id[:200] + "…"
	}
	return id
}

// badRequest is a 400 invalid_request.
func badRequest(format string, args ...any) *httpx.Error {
	return httpx.Errorf(http.StatusBadRequest, codeInvalid, format, args...)
}
