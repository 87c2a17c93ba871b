package paywall

import (
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/paycrawl/paycrawl/pkg/deferred"
)

// ErrorHandler is an httputil.ReverseProxy ErrorHandler for a proxy
// wrapped by this paywall: it answers a failed charge (ModifyResponse's
// error) with the ledger's refusal (503, or the ledger's own code), a
// malformed or oversized client body as the client's fault, a client that
// went away with nothing at all, an origin timeout with 504 and any other
// origin failure with 502. Nothing is charged in any case but the
// unconfirmed append, whose refusal says so.
func (p *Paywall) ErrorHandler(w http.ResponseWriter, r *http.Request, err error) {
	st := stateOf(r.Context())
	if st == nil {
		p.o.Logger(r.Context()).Warn("proxy error outside the paywall", "err", err)
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	st.decided = true
	w = unwrap(w)
	log := p.o.Logger(r.Context())
	switch {
	case errors.As(err, new(*appendError)), errors.As(err, new(*hookError)):
		p.refuseCharge(w, r, st, err)
	case st.body.clientFault() != nil:
		// The client's own body was malformed (bad chunking) or cut short:
		// its fault, never blamed on the origin.
		st.outcome = outcomeRefused
		log.Info("request body unreadable", "err", st.body.clientFault())
		w.Header().Set("Connection", "close")
		p.refuse(w, r, st, deferred.Errorf(deferred.CodeBodyInvalid, "the request body could not be read: it is malformed or shorter than announced"))
	case r.Context().Err() != nil:
		st.outcome = outcomeClientGone
		log.Info("client went away", "err", err)
		w.WriteHeader(499) // nginx's "client closed request", for the logs
	case isTimeout(err):
		st.outcome = outcomeOriginError
		p.refuse(w, r, st, deferred.Errorf(deferred.CodeOriginTimeout, "the origin did not answer in time"))
	default:
		st.outcome = outcomeOriginError
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			st.outcome = outcomeRefused
			p.refuse(w, r, st, deferred.Errorf(deferred.CodeBodyTooLarge, "request body over %d bytes", mb.Limit))
			return
		}
		log.Warn("origin error", "site", st.site.Pricing.Host, "err", err)
		p.refuse(w, r, st, deferred.Errorf(deferred.CodeOriginError, "the origin could not be reached"))
	}
}

// bodyReader is the client's request body on its way to the handler; it
// keeps the first read error other than io.EOF. A proxy's transport reads
// it on a goroutine of its own, possibly still while the error handler
// looks.
type bodyReader struct {
	io.ReadCloser
	mu  sync.Mutex
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.mu.Lock()
		if b.err == nil {
			b.err = err
		}
		b.mu.Unlock()
	}
	return n, err
}

// clientFault returns the body's read error when it was the client's fault
// (malformed or short), not the paywall's own size cap.
func (b *bodyReader) clientFault() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil || errors.As(b.err, new(*http.MaxBytesError)) {
		return nil
	}
	return b.err
}
