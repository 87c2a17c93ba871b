package publisher

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/earnings"
	"github.com/paycrawl/paycrawl/pkg/refusals"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

var _ Refusals = (*refusals.Reader)(nil)

// RefusalRows is what a Refusals may also answer (*refusals.Reader): the
// counts by day, crawler, reason and code, for the JSON API.
type RefusalRows interface {
	Rows(ctx context.Context, publisher string, from, to time.Time) ([]refusals.Row, error)
}

var _ RefusalRows = (*refusals.Reader)(nil)

// Labels of the reserved crawler buckets of pkg/refusals.
var bucketLabels = map[string]string{
	refusals.Unverified: "Unverified (no proven crawler)",
	refusals.Others:     "Other crawlers (over the day's bound)",
}

// readRefusals reads p's counts over [from, to), and the note the page
// shows instead when there are none to show.
func (s *Server) readRefusals(r *http.Request, p *registry.Publisher, from, to time.Time) (map[string]map[string]int64, string) {
	if s.o.Refusals == nil {
		return nil, "Refusals are not recorded for this gateway."
	}
	refused, err := s.o.Refusals.Refusals(r.Context(), p.ID, from, to)
	if err != nil {
		s.o.Logger.Warn("publisher: reading refusals", "publisher", p.ID, "err", err)
		return nil, "Refusals could not be read just now; reload the page to try again."
	}
	return refused, ""
}

// crawlerRows are the crawlers table: each crawler that earned (a row per
// currency, its refusals on the first), then each that was only refused,
// then the unverified and overflow buckets.
func (s *Server) crawlerRows(ctx context.Context, st *earnings.Statement, refused map[string]map[string]int64) []crawlerRow {
	counts := func(row *crawlerRow, acct string) {
		if refused == nil {
			row.Blocked, row.OverCap, row.BadSignature = "—", "—", "—"
			return
		}
		byReason := refused[acct]
		row.Blocked = fmt.Sprint(byReason[refusals.ReasonBlocked])
		row.OverCap = fmt.Sprint(byReason[refusals.ReasonOverCap])
		row.BadSignature = fmt.Sprint(byReason[refusals.ReasonBadSignature])
	}
	var rows []crawlerRow
	seen := map[string]bool{}
	for _, c := range st.Crawlers {
		name := c.Name
		if name == "" {
			name = c.Key
		}
		row := crawlerRow{Account: c.Key, Name: name, Currency: c.Currency, Requests: c.Requests, Net: formatMoney(c.Currency, c.Net)}
		if !seen[c.Key] {
			counts(&row, c.Key)
			seen[c.Key] = true
		}
		rows = append(rows, row)
	}
	var only []string
	for acct := range refused {
		if !seen[acct] && bucketLabels[acct] == "" {
			only = append(only, acct)
		}
	}
	sort.Strings(only)
	for _, b := range []string{refusals.Unverified, refusals.Others} {
		if refused[b] != nil {
			only = append(only, b)
		}
	}
	for _, acct := range only {
		name := bucketLabels[acct]
		if name == "" && s.o.Names != nil {
			name = s.o.Names(ctx, acct)
		}
		if name == "" {
			name = acct
		}
		row := crawlerRow{Account: acct, Name: name, Net: "—"}
		counts(&row, acct)
		rows = append(rows, row)
	}
	return rows
}

// RefusalsJSON is the answer of GET /v1/publisher/refusals: a month's
// counts by crawler and reason, and by day, crawler, reason and code.
type RefusalsJSON struct {
	Publisher string `json:"publisher"`
	Month     string `json:"month"`
	// Crawlers maps an operator account (or "unverified", "others") to
	// its counts by reason.
	Crawlers map[string]map[string]int64 `json:"crawlers"`
	// Rows are the counts by day and code.
	Rows []refusals.Row `json:"rows"`
}

// refusals answers p's refusal counts of ?month=.
func (s *Server) refusals(w http.ResponseWriter, r *http.Request, p *registry.Publisher) {
	month, from, to, err := s.month(r)
	if err != nil {
		httpx.WriteError(w, r, err)
		return
	}
	if s.o.Refusals == nil {
		httpx.WriteError(w, r, httpx.Errorf(http.StatusNotFound, "refusals_not_recorded", "refusals are not recorded for this gateway"))
		return
	}
	out := RefusalsJSON{Publisher: p.ID, Month: month, Rows: []refusals.Row{}}
	out.Crawlers, err = s.o.Refusals.Refusals(r.Context(), p.ID, from, to)
	if rr, ok := s.o.Refusals.(RefusalRows); ok && err == nil {
		var rows []refusals.Row
		rows, err = rr.Rows(r.Context(), p.ID, from, to)
		out.Rows = append(out.Rows, rows...)
	}
	if err != nil {
		// The cause (which may name internal addresses) is logged, not sent.
		s.o.Logger.Warn("publisher: reading refusals", "publisher", p.ID, "err", err)
		httpx.WriteError(w, r, httpx.Errorf(http.StatusServiceUnavailable, "unavailable", "the refusal counts could not be read just now; try again shortly"))
		return
	}
	httpx.WriteJSON(w, http.StatusOK, out)
}
