package facilitator

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/deferred"
)

// Codes of a resource server's bad input, each with its x402 reason
// (x402 v2 §9).
const (
	codeInvalidJSON         = "invalid_json"
	codeBodyTooLarge        = "body_too_large"
	codeInvalidVersion      = "invalid_x402_version"
	codeInvalidPayload      = "invalid_payload"
	codeInvalidRequirements = "invalid_payment_requirements"
	codeUnsupportedScheme   = "unsupported_scheme"
	codeInvalidNetwork      = "invalid_network"
	codePayeeNotYours       = "payee_not_yours"
)

// x402Reasons maps each code to the reason x402 clients know.
var x402Reasons = map[string]string{
	codeInvalidJSON:         "invalid_payload",
	codeBodyTooLarge:        "invalid_payload",
	codeInvalidVersion:      "invalid_x402_version",
	codeInvalidPayload:      "invalid_payload",
	codeInvalidRequirements: "invalid_payment_requirements",
	codeUnsupportedScheme:   "unsupported_scheme",
	codeInvalidNetwork:      "invalid_network",
	codePayeeNotYours:       "invalid_payment_requirements",
}

// inputError is a resource server's bad input: a 4xx with a code.
type inputError struct {
	status        int
	code, message string
}

func (e *inputError) Error() string { return e.code + ": " + e.message }

func bad(status int, code, format string, args ...any) error {
	return &inputError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// outcome is how a refusal is answered: its HTTP status, the x402 reason,
// the message and paycrawl's own code.
type outcome struct {
	status                int
	reason, message, code string
}

// outcomeOf maps an error of decode, Authorize or Record to its answer.
// The resource server's bad input is its 4xx; a payment the crawler's
// request does not make (a bad signature, price, cap, replay) is a 200
// whose isValid or success is false, as x402 clients expect; a ledger or
// directory that cannot answer is a 503, and the call may be sent again
// (settle is idempotent).
func outcomeOf(r *http.Request, err error) outcome {
	var ie *inputError
	if errors.As(err, &ie) {
		return outcome{status: ie.status, reason: x402Reasons[ie.code], message: ie.message, code: ie.code}
	}
	code := deferred.CodeOf(err)
	msg, ok := deferred.MessageOf(err)
	if !ok {
		httpx.Logger(r.Context()).Error("facilitator: internal error", "err", err)
	}
	status := http.StatusOK
	if code.Status() >= 500 {
		status = http.StatusServiceUnavailable
	}
	return outcome{status: status, reason: code.X402(), message: msg, code: string(code)}
}
