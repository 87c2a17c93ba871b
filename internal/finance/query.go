package finance

import (
	"context"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// MaxRangeDays is the longest range of days one list, queue or chart reads.
const MaxRangeDays = 93

// queueDays is how far back the queue looks by default.
const queueDays = 31

// Rails a list may be filtered by; railNone is an invoice not charged yet.
var rails = []string{"stripe", "evm", railNone}

// listQuery is a list's filter: a day or a range of days, and what an
// invoice must match. The zero value of a field matches everything.
type listQuery struct {
	// From and To are the range, inclusive; From == To is one day.
	From, To string
	// Latest is set when no day was asked for and From (== To) is the
	// latest day with invoices.
	Latest  bool
	Status  ledger.Status
	Account string
	Rail    string
	// Q is a search: an invoice id, a payment reference (PaymentIntent,
	// transaction hash) or a part of one, case-insensitive.
	Q string
}

// queryKeys are the parameters each list accepts; any other is a 400,
// so that a misspelt filter never silently shows everything.
var (
	listKeys  = []string{"day", "from", "to", "status", "account", "rail", "q"}
	queueKeys = []string{"from", "to", "account", "rail", "q"}
	chartKeys = []string{"from", "to", "account", "rail"}
)

// checkKeys refuses a parameter not in allowed, and a repeated one.
func checkKeys(q url.Values, allowed []string) error {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ok := false
		for _, a := range allowed {
			ok = ok || a == k
		}
		if !ok {
			return badRequest("unknown query parameter %q: this list takes %s", clipID(k), strings.Join(allowed, ", "))
		}
		if len(q[k]) > 1 {
			return badRequest("query parameter %q is given %d times: give it once", clipID(k), len(q[k]))
		}
	}
	return nil
}

// parseQuery reads a list's filter from q. With neither day nor range it
// is the latest day with invoices (defDays 0), or the defDays days ending
// today; a range with only one end reaches defDays (or MaxRangeDays) days
// from the other.
func (s *Server) parseQuery(ctx context.Context, q url.Values, allowed []string, defDays int) (listQuery, error) {
	var lq listQuery
	if err := checkKeys(q, allowed); err != nil {
		return lq, err
	}
	var err error
	if lq.Status, err = parseStatus(q.Get("status")); err != nil {
		return lq, err
	}
	lq.Account = strings.TrimSpace(q.Get("account"))
	if len(lq.Account) > 128 {
		return lq, badRequest("account: at most 128 characters")
	}
	if lq.Rail = q.Get("rail"); lq.Rail != "" {
		ok := false
		for _, r := range rails {
			ok = ok || r == lq.Rail
		}
		if !ok {
			return lq, badRequest("rail %q: want one of %s", clipID(lq.Rail), strings.Join(rails, ", "))
		}
	}
	lq.Q = strings.TrimSpace(q.Get("q"))
	if len(lq.Q) > 200 {
		return lq, badRequest("q: at most 200 characters")
	}
	day, from, to := q.Get("day"), q.Get("from"), q.Get("to")
	switch {
	case day != "" && (from != "" || to != ""):
		return lq, badRequest("give day, or from and to, not both")
	case day != "":
		if lq.From, err = s.parseDay(day); err != nil {
			return lq, err
		}
		lq.To = lq.From
	case from != "" || to != "":
		today := ledger.Day(s.now())
		lq.From, lq.To = from, to
		if lq.To == "" {
			lq.To = today
		}
		if lq.From == "" {
			n := defDays
			if n == 0 {
				n = queueDays
			}
			lq.From = shiftDay(lq.To, -(n - 1))
		}
		if _, err := s.parseDay(lq.From); err != nil {
			return lq, badRequest("from %q: want YYYY-MM-DD", clipID(lq.From))
		}
		if _, err := s.parseDay(lq.To); err != nil {
			return lq, badRequest("to %q: want YYYY-MM-DD", clipID(lq.To))
		}
		if lq.To < lq.From {
			return lq, badRequest("to %s is before from %s", lq.To, lq.From)
		}
		if n := daysBetween(lq.From, lq.To) + 1; n > MaxRangeDays {
			return lq, badRequest("%d days from %s to %s: at most %d at a time", n, lq.From, lq.To, MaxRangeDays)
		}
	case defDays == 0:
		lq.From, err = s.latestDay(ctx)
		if err != nil {
			return lq, err
		}
		lq.To, lq.Latest = lq.From, true
	default:
		lq.To = ledger.Day(s.now())
		lq.From = shiftDay(lq.To, -(defDays - 1))
	}
	return lq, nil
}

// latestDay is the latest day with invoices, looking back MaxRangeDays
// from today; yesterday when there is none.
func (s *Server) latestDay(ctx context.Context) (string, error) {
	today := ledger.Day(s.now())
	for i := 0; i < MaxRangeDays; i++ {
		d := shiftDay(today, -i)
		invs, err := s.l.Invoices(ctx, d)
		if err != nil {
			return "", err
		}
		if len(invs) > 0 {
			return d, nil
		}
	}
	return s.yesterday(), nil
}

// days lists the days of q's range, oldest first.
func (q listQuery) days() []string {
	var out []string
	for d := q.From; d <= q.To; d = shiftDay(d, 1) {
		out = append(out, d)
	}
	return out
}

// OneDay reports a query of a single day.
func (q listQuery) OneDay() bool { return q.From == q.To }

// match reports whether inv passes q's filters (not the range).
func (q listQuery) match(inv *ledger.Invoice, st func(ledger.Status) bool) bool {
	if q.Status != "" && inv.Status != q.Status || st != nil && !st(inv.Status) {
		return false
	}
	if q.Account != "" && inv.Account != q.Account {
		return false
	}
	if q.Rail != "" {
		rail := inv.Rail
		if rail == "" {
			rail = railNone
		}
		if rail != q.Rail {
			return false
		}
	}
	if q.Q != "" {
		needle := strings.ToLower(q.Q)
		hit := false
		for _, hay := range []string{inv.ID, inv.PaymentIntent, inv.TxHash} {
			hit = hit || hay != "" && strings.Contains(strings.ToLower(hay), needle)
		}
		for _, a := range inv.Attempts {
			hit = hit || a.Reference != "" && strings.Contains(strings.ToLower(a.Reference), needle)
		}
		if !hit {
			return false
		}
	}
	return true
}

// rangeInvoices reads the invoices of q's days, newest day first, and
// returns all of them and those that match q (and st, if not nil).
func (s *Server) rangeInvoices(ctx context.Context, q listQuery, st func(ledger.Status) bool) (all, matched []*ledger.Invoice, err error) {
	days := q.days()
	for i := len(days) - 1; i >= 0; i-- {
		invs, err := s.l.Invoices(ctx, days[i])
		if err != nil {
			return nil, nil, err
		}
		for _, inv := range invs {
			all = append(all, inv)
			if q.match(inv, st) {
				matched = append(matched, inv)
			}
		}
	}
	return all, matched, nil
}

// encode writes q back as a query string (for links: CSV, chart), without
// the range when it is the default latest day.
func (q listQuery) encode() url.Values {
	v := url.Values{}
	switch {
	case q.OneDay():
		v.Set("day", q.From)
	default:
		v.Set("from", q.From)
		v.Set("to", q.To)
	}
	if q.Status != "" {
		v.Set("status", string(q.Status))
	}
	for k, s := range map[string]string{"account": q.Account, "rail": q.Rail, "q": q.Q} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// shiftDay moves a YYYY-MM-DD day by n days.
func shiftDay(day string, n int) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return day
	}
	return t.AddDate(0, 0, n).Format(time.DateOnly)
}

// daysBetween counts the days from a to b.
func daysBetween(a, b string) int {
	ta, _ := time.Parse(time.DateOnly, a)
	tb, _ := time.Parse(time.DateOnly, b)
	return int(tb.Sub(ta).Hours() / 24)
}

// needsPerson reports the statuses the queue lists: a person must decide
// (held: release or void; failed: retry or void; drafts in review: approve,
// hold or let the window pass; pending: check that the charge lands).
func needsPerson(st ledger.Status) bool {
	switch st {
	case ledger.StatusHeld, ledger.StatusFailed, ledger.StatusPending, ledger.StatusDraft:
		return true
	}
	return false
}

// queueReason says why an invoice is in the queue, for people.
func queueReason(inv *ledger.Invoice) string {
	switch inv.Status {
	case ledger.StatusHeld:
		return "Held: release it to be charged, or void it."
	case ledger.StatusFailed:
		if inv.Error != "" {
			return "The charge failed (" + inv.Error + "): the settler retries; void it or contact the crawler."
		}
		return "The charge failed: the settler retries; void it or contact the crawler."
	case ledger.StatusPending:
		return "The charge is pending on the rail: check that it lands."
	case ledger.StatusDraft:
		if inv.Check == ledger.CheckMismatch {
			return "In review, and its day did not match its commitments: audit it, then hold or credit."
		}
		return "In review: approve, hold or credit it before its review window ends."
	}
	return string(inv.Status)
}

// queueRank orders the queue: the most urgent status first.
func queueRank(st ledger.Status) int {
	switch st {
	case ledger.StatusFailed:
		return 0
	case ledger.StatusHeld:
		return 1
	case ledger.StatusPending:
		return 2
	}
	return 3
}

// sortQueue orders invoices by urgency, then newest day first, then id.
func sortQueue(invs []*ledger.Invoice) {
	sort.SliceStable(invs, func(i, j int) bool {
		a, b := invs[i], invs[j]
		if queueRank(a.Status) != queueRank(b.Status) {
			return queueRank(a.Status) < queueRank(b.Status)
		}
		if a.Day != b.Day {
			return a.Day > b.Day
		}
		return a.ID < b.ID
	})
}
