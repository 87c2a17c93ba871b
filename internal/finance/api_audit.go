package finance

import (
	"encoding/json"
	"net/http"

	"github.com/paycrawl/paycrawl/internal/finance/wire"
	"github.com/paycrawl/paycrawl/internal/httpx"
)

// auditProgressEvery is how many commitments pass between progress records.
const auditProgressEvery = 10_000

// auditNDJSON streams an invoice's audit as NDJSON: a failure record per
// commitment that fails, a progress record every auditProgressEvery
// commitments, then the summary. The body is flushed after every batch, so
// the client sees failures as they are found and the server holds one batch.
func (s *Server) auditNDJSON(w http.ResponseWriter, r *http.Request, _ principal) error {
	inv, err := s.invoice(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	st := newStream(w)
	enc := json.NewEncoder(st)
	var last int64
	rep, err := s.auditor.Audit(r.Context(), inv, AuditHooks{
		Failure: func(f AuditFailure) error { return enc.Encode(failureWire(f)) },
		Progress: func(n int64) error {
			if n/auditProgressEvery > last/auditProgressEvery {
				last = n
				if err := enc.Encode(wire.AuditProgress{Type: wire.AuditTypeProgress, Checked: n}); err != nil {
					return err
				}
			}
			return st.Flush()
		},
	})
	if err != nil {
		if !st.started() {
			w.Header().Del("Content-Type")
			return err // nothing sent yet: a proper error response
		}
		s.log.Error("finance: audit failed", "invoice", inv.ID, "err", err)
		e := classify(err)
		if e == nil {
			e = &httpx.Error{Code: "internal_error", Message: "the audit stopped: internal error"}
		}
		_ = enc.Encode(wire.AuditError{Type: wire.AuditTypeError, Code: e.Code, Message: e.Message})
		return st.Flush()
	}
	if err := enc.Encode(summaryWire(rep)); err != nil {
		return nil // the client went away
	}
	_ = st.Flush()
	return nil
}

// failureWire converts a failure for the API.
func failureWire(f AuditFailure) wire.AuditFailure {
	c := f.Commitment
	return wire.AuditFailure{Type: wire.AuditTypeFailure, Commitment: c.ID, Received: c.Received,
		Publisher: c.Publisher, Site: c.Site, Path: c.Path, Price: c.Price.String(), KeyID: c.KeyID, Reason: f.Reason()}
}

// summaryWire converts a report for the API.
func summaryWire(rep *AuditReport) wire.AuditSummary {
	out := wire.AuditSummary{Type: wire.AuditTypeSummary, Invoice: rep.Invoice, Commitments: rep.Commitments,
		Verified: rep.Verified, Failed: rep.Failed, OtherCurrency: rep.OtherCurrency, SumsOK: rep.SumsOK(),
		Lines: []wire.AuditLine{}, Problems: rep.Problems, OK: rep.OK()}
	for i, l := range rep.Lines {
		n := 0
		if l.Listed {
			n = i + 1
		}
		out.Lines = append(out.Lines, wire.AuditLine{N: n, Publisher: l.Publisher, Site: l.Site, Requests: l.Requests,
			Amount: l.Amount.String(), CommittedRequests: l.Committed, CommittedAmount: l.CommittedAmount.String(), OK: l.OK(),
			Kind: l.Kind, AgreementID: l.AgreementID, AgreementVersion: l.AgreementVersion})
	}
	return out
}
