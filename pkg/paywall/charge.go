package paywall

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// chargeWriter meters the handler's response: its first status decides
// the charge, before any byte goes out. It never buffers the body.
type chargeWriter struct {
	http.ResponseWriter
	p     *Paywall
	r     *http.Request
	st    *request
	wrote bool
	// discard drops the handler's body: a refused charge, or an uncharged
	// HEAD or OPTIONS of a paid resource.
	discard bool
}

// WriteHeader charges a 2xx status of a paid request, then sends the
// headers; a failed charge is answered with the refusal instead.
func (w *chargeWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		// 1xx informational answers (103 Early Hints) carry no content.
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.wrote = true
	if !w.st.decided {
		w.p.metrics.Origin.Observe(time.Since(w.st.received).Seconds())
	}
	if err := w.p.settle(w.r, w.st, code, w.Header()); err != nil {
		h := w.Header()
		for k := range h {
			delete(h, k)
		}
		w.discard = true
		w.p.refuseCharge(w.ResponseWriter, w.r, w.st, err)
		return
	}
	if w.st.bodyless {
		w.discard = true
		h := w.Header()
		h.Del("Content-Encoding")
		if w.r.Method != http.MethodHead {
			// A HEAD answer never has a body, and its Content-Length stays
			// meaningful; an OPTIONS answer carries no content of a paid page.
			h.Set("Content-Length", "0")
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write sends body bytes, after an implicit 200 if no status was written.
func (w *chargeWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.discard {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// FlushError flushes, after an implicit 200 if no status was written.
func (w *chargeWriter) FlushError() error {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.discard {
		return nil
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush implements http.Flusher for handlers that stream.
func (w *chargeWriter) Flush() { _ = w.FlushError() }

// Unwrap lets http.ResponseController reach the underlying writer (read
// deadlines, full duplex).
func (w *chargeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ModifyResponse is an httputil.ReverseProxy ModifyResponse hook for a
// proxy wrapped by this paywall: it charges the origin's response (and
// drops the body of an uncharged OPTIONS of a paid page) before the proxy
// reads any of its body. A failed charge is returned for ErrorHandler to
// answer, so that nothing of the origin's body is read or sent.
func (p *Paywall) ModifyResponse(resp *http.Response) error {
	st := stateOf(resp.Request.Context())
	if st == nil {
		return nil
	}
	p.metrics.Origin.Observe(time.Since(st.received).Seconds())
	if st.bodyless && resp.Request.Method != http.MethodHead {
		_ = resp.Body.Close()
		resp.Body = http.NoBody
		resp.ContentLength = 0
		resp.TransferEncoding = nil
		resp.Header.Del("Content-Encoding")
		resp.Header.Set("Content-Length", "0")
	}
	return p.settle(resp.Request, st, resp.StatusCode, resp.Header)
}

// settle decides the charge of a response whose status is known and
// nothing of which is sent: a 2xx of a paid request appends its
// commitment and gets the receipt headers in h. It runs once per request;
// later calls do nothing.
func (p *Paywall) settle(r *http.Request, st *request, status int, h http.Header) error {
	if st.decided {
		return nil
	}
	st.decided = true
	if st.commitment == nil {
		return nil
	}
	if status < 200 || status > 299 {
		st.outcome = outcomeNotCharged
		return nil
	}
	if p.o.BeforeCharge != nil {
		if err := p.o.BeforeCharge(r, st.commitment); err != nil {
			return &hookError{err: err}
		}
	}
	id, err := p.append(r.Context(), st)
	if err != nil {
		return &appendError{err: err}
	}
	st.chargeID = id
	c := st.commitment
	rc := deferred.Receipt{
		Scheme: st.scheme, Network: p.o.Network, OfferID: c.OfferID, CommitmentID: id,
		Payer:     st.payer,
		Charged:   money.Amount{Currency: c.Currency, Value: c.Price},
		Timestamp: st.received,
		Agreement: c.AgreementID, AgreementVersion: c.AgreementVersion, Drawn: c.Drawn,
	}
	if c.AgreementID != "" {
		rc.Charge = string(c.Charge)
	}
	if err := rc.WriteHeaders(h, st.dialect); err != nil {
		return err
	}
	h.Set("Cache-Control", "private, no-store")
	st.outcome = outcomeCharged
	p.metrics.Charged.WithLabelValues(st.site.Pricing.Host, st.commitment.Currency).Add(float64(st.commitment.Price))
	if p.o.AfterCharge != nil {
		p.o.AfterCharge(r, st.commitment, id)
	}
	return nil
}

// appendTries bounds how often one commitment is sent to the ledger while
// its outcome is unknown.
const appendTries = 3

// append records the commitment. An append that failed on the way (a
// timeout, a dropped connection) may still have landed; it is sent again
// with the same server-minted request id, which the ledger answers
// idempotently: with the original commitment id if the first one landed,
// by recording it now if not. A resend that is answered therefore settles
// the outcome either way, so that a crawler is neither billed for a page it
// was refused nor refused a page it was billed for. When no resend is
// answered the outcome stays unknown, and the error says so
// (*unconfirmedError).
func (p *Paywall) append(ctx context.Context, st *request) (string, error) {
	var id string
	var err error
	backoff := 20 * time.Millisecond
	for try := 1; ; try++ {
		actx, cancel := context.WithTimeout(ctx, p.o.LedgerTimeout)
		t0 := time.Now()
		id, err = p.o.Ledger.Append(actx, st.commitment, st.limits)
		p.metrics.Ledger.WithLabelValues("append").Observe(time.Since(t0).Seconds())
		cancel()
		if err == nil || !outcomeUnknown(err) {
			p.remember(st, err)
			return id, err
		}
		if try == appendTries || ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(backoff):
			backoff *= 4
		case <-ctx.Done():
		}
	}
	if ctx.Err() != nil {
		p.o.Logger(ctx).Warn("client went away while its commitment's outcome was unknown; it may have been recorded",
			"request_id", st.commitment.RequestID, "account", st.commitment.Account, "err", err)
	}
	return "", &unconfirmedError{err: err}
}

// remember notes in p.memo what the ledger answered to st's append: a
// commitment recorded (its replay ids, its price in the day's spend) or a
// cap refusal (the spend it proves: above the cap less the price). A replay
// refusal is not noted: which id the ledger holds, and until when, is not
// known here.
func (p *Paywall) remember(st *request, err error) {
	c := st.commitment
	switch {
	case err == nil:
		p.memo.Recorded(c.Account, c.ReplayIDs, c.ReplayUntil)
		p.memo.AddSpent(c.Account, p.days.Of(c.Received), c.Currency, c.Price)
	case errors.Is(err, ledger.ErrOverCap) && st.limits.DailyCap > 0:
		price := c.Price
		if q := st.limits.Quota; q != nil {
			// Only an overage of a subscription meets the cap.
			price = q.Overage
		}
		p.memo.SpentAtLeast(c.Account, p.days.Of(c.Received), c.Currency, st.limits.DailyCap-price+1)
	}
}

// outcomeUnknown reports whether a failed append may nonetheless have
// landed: the ledger was unreachable or did not answer in time.
func outcomeUnknown(err error) bool {
	return errors.Is(err, ledger.ErrUnavailable) || isTimeout(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// unconfirmedError is an append that the ledger neither confirmed nor
// refused: the commitment may or may not be recorded.
type unconfirmedError struct{ err error }

func (e *unconfirmedError) Error() string { return "ledger append unconfirmed: " + e.err.Error() }
func (e *unconfirmedError) Unwrap() error { return e.err }

// appendError is a failed ledger append.
type appendError struct{ err error }

func (e *appendError) Error() string { return "ledger append: " + e.err.Error() }
func (e *appendError) Unwrap() error { return e.err }

// hookError is a charge that BeforeCharge refused.
type hookError struct{ err error }

func (e *hookError) Error() string { return "before charge: " + e.err.Error() }
func (e *hookError) Unwrap() error { return e.err }

// refuseCharge answers a request whose charge failed (settle's error):
// the ledger's refusal, a hook's, or a receipt that could not be written.
func (p *Paywall) refuseCharge(w http.ResponseWriter, r *http.Request, st *request, err error) {
	p.refuse(w, r, st, refusalOf(err, st))
}

// refusalOf maps settle's error to the refusal to answer, and notes the
// request's outcome.
func refusalOf(err error, st *request) error {
	var ae *appendError
	var he *hookError
	switch {
	case errors.As(err, &ae):
		st.outcome = outcomeLedgerError
		if errors.As(ae.err, new(*unconfirmedError)) {
			st.outcome = outcomeUnconfirmed
		}
		return ledgerRefusal(ae.err, st.commitment.RequestID)
	case errors.As(err, &he):
		st.outcome = outcomeRefused
		return he.err
	}
	return err
}

// ledgerRefusal maps a failed append of the request requestID to the
// refusal the crawler sees. A refusal says "nothing was charged" only when
// the ledger refused the commitment, which it does atomically; an append
// whose outcome stayed unknown says that it may have been recorded.
func ledgerRefusal(err error, requestID string) error {
	switch {
	case errors.Is(err, ledger.ErrReplay):
		return &deferred.Error{Code: deferred.CodeReplay, Message: "this signature was already used; sign each request anew (nothing was charged)", Err: err}
	case errors.Is(err, ledger.ErrOverCap):
		return &deferred.Error{Code: deferred.CodeOverCap, Message: "your daily spend cap is reached; nothing was charged", Err: err}
	case errors.Is(err, ledger.ErrDayClosed):
		return &deferred.Error{Code: deferred.CodeLedgerUnavailable, Message: "this billing day is already closed (is the server's clock behind?); nothing was charged", Err: err}
	case errors.Is(err, ledger.ErrOverMaxPrice):
		return &deferred.Error{Code: deferred.CodePriceAboveMax, Message: "the price is above your account's max price, or an overage above what this request committed to; nothing was charged", Err: err}
	case errors.Is(err, ledger.ErrQuotaExhausted):
		return &deferred.Error{Code: deferred.CodeQuotaExhausted, Message: "your subscription's requests for this period are used up and it stops there (hard stop); nothing was charged. It resumes with the next period", Err: err}
	case errors.Is(err, ledger.ErrPrepaidExhausted):
		return &deferred.Error{Code: deferred.CodePrepaidExhausted, Message: "your prepaid balance is below this request's price; nothing was charged. It resumes once a top-up is credited", Err: err}
	case errors.As(err, new(*unconfirmedError)):
		return &deferred.Error{Code: deferred.CodeChargeUnconfirmed, Err: err, Message: "the ledger did not confirm the payment in time: " +
			"it may have been recorded, though nothing of the page was sent (request id " + requestID + "). " +
			"Reconcile your receipts with the day's commitments (crawlctl reconcile); finance credits a charge for a page that was not delivered"}
	default:
		return &deferred.Error{Code: deferred.CodeLedgerUnavailable, Message: "the ledger refused to record the payment; nothing was charged, try again shortly", Err: err}
	}
}
