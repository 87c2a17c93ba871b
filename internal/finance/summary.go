package finance

import (
	"sort"

	"github.com/paycrawl/paycrawl/internal/finance/wire"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// amounts maps a currency to an amount.
type amounts map[string]money.Micros

func (a amounts) add(cur string, m money.Micros) {
	if m != 0 {
		a[cur] += m
	}
}

// wire formats the amounts as decimal strings.
func (a amounts) wire() map[string]string {
	out := make(map[string]string, len(a))
	for cur, m := range a {
		out[cur] = m.String()
	}
	return out
}

// Sorted lists the amounts by currency, for templates.
func (a amounts) Sorted() []money.Amount {
	out := make([]money.Amount, 0, len(a))
	for cur, m := range a {
		out = append(out, money.Amount{Currency: cur, Value: m})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Currency < out[j].Currency })
	return out
}

// bucket is the invoices of one status or rail in one currency.
type bucket struct {
	Key, Currency  string
	Invoices       int
	Total, Charged money.Micros
}

// summary is a day at a glance.
type summary struct {
	Day      string
	Invoices int
	Requests int64
	// Totals is what was billed: the totals of every invoice but the void
	// ones, which Voided adds up apart.
	Totals, Voided, Credits, CarriedIn,
	Charged, CarriedOut amounts
	// ByStatus follows the state machine's order; ByRail is sorted.
	ByStatus, ByRail []bucket
}

// railNone names the rail of invoices not charged yet.
const railNone = "none"

// summarize adds up a day's invoices.
func summarize(day string, invs []*ledger.Invoice) *summary {
	s := &summary{Day: day, Invoices: len(invs), Totals: amounts{}, Voided: amounts{}, Credits: amounts{}, CarriedIn: amounts{},
		Charged: amounts{}, CarriedOut: amounts{}}
	byStatus := map[[2]string]*bucket{}
	byRail := map[[2]string]*bucket{}
	put := func(m map[[2]string]*bucket, key string, inv *ledger.Invoice) {
		k := [2]string{key, inv.Currency}
		b, ok := m[k]
		if !ok {
			b = &bucket{Key: key, Currency: inv.Currency}
			m[k] = b
		}
		b.Invoices++
		b.Total += inv.Total
		b.Charged += inv.Charged
	}
	for _, inv := range invs {
		f := figures(inv)
		put(byStatus, string(inv.Status), inv)
		if inv.Status == ledger.StatusVoid {
			// A void invoice is never charged: it is not billed, and its
			// requests, credits and carry-in do not count either.
			s.Voided.add(inv.Currency, inv.Total)
			continue
		}
		s.Requests += f.Requests
		s.Totals.add(inv.Currency, inv.Total)
		s.Credits.add(inv.Currency, f.Credits)
		s.CarriedIn.add(inv.Currency, inv.CarriedIn)
		s.Charged.add(inv.Currency, inv.Charged)
		s.CarriedOut.add(inv.Currency, inv.CarriedOut)
		rail := inv.Rail
		if rail == "" {
			rail = railNone
		}
		put(byRail, rail, inv)
	}
	order := map[string]int{}
	for i, st := range statuses {
		order[string(st)] = i
	}
	s.ByStatus = sortedBuckets(byStatus, func(a, b bucket) bool {
		if order[a.Key] != order[b.Key] {
			return order[a.Key] < order[b.Key]
		}
		return a.Currency < b.Currency
	})
	s.ByRail = sortedBuckets(byRail, func(a, b bucket) bool {
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		return a.Currency < b.Currency
	})
	return s
}

func sortedBuckets(m map[[2]string]*bucket, less func(a, b bucket) bool) []bucket {
	out := make([]bucket, 0, len(m))
	for _, b := range m {
		out = append(out, *b)
	}
	sort.Slice(out, func(i, j int) bool { return less(out[i], out[j]) })
	return out
}

// wire converts the summary for the API.
func (s *summary) wire() wire.Summary {
	out := wire.Summary{Day: s.Day, Invoices: s.Invoices, Requests: s.Requests, Totals: s.Totals.wire(), Voided: s.Voided.wire(),
		Credits: s.Credits.wire(), CarriedIn: s.CarriedIn.wire(), Charged: s.Charged.wire(),
		CarriedOut: s.CarriedOut.wire(), ByStatus: []wire.Bucket{}, ByRail: []wire.Bucket{}}
	for _, b := range s.ByStatus {
		out.ByStatus = append(out.ByStatus, b.wire())
	}
	for _, b := range s.ByRail {
		out.ByRail = append(out.ByRail, b.wire())
	}
	return out
}

func (b bucket) wire() wire.Bucket {
	return wire.Bucket{Key: b.Key, Currency: b.Currency, Invoices: b.Invoices, Total: b.Total.String(), Charged: b.Charged.String()}
}

// sortLines orders audit lines by publisher and site.
func sortLines(ls []AuditLine) {
	sort.Slice(ls, func(i, j int) bool {
		if ls[i].Publisher != ls[j].Publisher {
			return ls[i].Publisher < ls[j].Publisher
		}
		return ls[i].Site < ls[j].Site
	})
}
