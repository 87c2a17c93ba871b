package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

// usageCommitments answers GET /v1/usage/commitments?day=&after=&limit=:
// one page of the operator's own commitments of a day, with what a crawler
// needs to reconcile them against the answers it received (the signature
// id, the gateway's request id, the commitment id of the receipt).
func (s *Server) usageCommitments(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	q := r.URL.Query()
	for k := range q {
		if k != "day" && k != "after" && k != "limit" {
			return httpx.Errorf(http.StatusBadRequest, "invalid_request", "unknown query parameter %q (day, after, limit)", k)
		}
	}
	day := q.Get("day")
	if day == "" {
		day = s.store.Now().UTC().Format(time.DateOnly)
	}
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		return httpx.Errorf(http.StatusBadRequest, "invalid_request", "day %q is not YYYY-MM-DD", day)
	}
	limit := 500
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > ledger.MaxPage {
			return httpx.Errorf(http.StatusBadRequest, "invalid_request", "limit %q is not an integer in [1, %d]", v, ledger.MaxPage)
		}
		limit = n
	}
	if s.usageReader == nil {
		return httpx.Errorf(http.StatusNotImplemented, "not_implemented", "this key directory has no ledger configured")
	}
	page, next, err := s.usageReader.CommitmentsPage(r.Context(), op.ID, day, q.Get("after"), limit)
	if err != nil {
		if errors.Is(err, ledger.ErrInvalid) {
			return httpx.Errorf(http.StatusBadRequest, "invalid_request", "%v", err)
		}
		return httpx.Errorf(http.StatusServiceUnavailable, "ledger_unavailable", "reading the ledger: %v", err)
	}
	out := keydir.CommitmentsResponse{Day: day, Operator: op.ID, Commitments: make([]keydir.CommitmentJSON, 0, len(page)), Next: next}
	for _, c := range page {
		sig := ""
		if n := len(c.ReplayIDs); n > 0 {
			sig = c.ReplayIDs[n-1] // the signature-bytes id is always the last
		}
		out.Commitments = append(out.Commitments, keydir.CommitmentJSON{
			ID: c.ID, RequestID: c.RequestID, Received: c.Received.UTC(), Site: c.Site, Path: c.Path,
			Price: c.Price.String(), Currency: c.Currency, SignatureID: sig,
		})
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}
