package earnings

import (
	"context"
	"sort"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// Sums are the amounts of a set of entries, in one currency. Net = Gross -
// Credits - Voids + Refunds + Chargebacks - Fee (Refunds, Chargebacks and
// a reversal's fee are negative; a won dispute's reinstatement is positive
// and sits with Chargebacks).
type Sums struct {
	Requests                                              int64
	Gross, Credits, Voids, Refunds, Chargebacks, Fee, Net money.Micros
}

func (s *Sums) add(e Entry) {
	s.Requests += e.Requests
	switch e.Kind {
	case KindRefund:
		s.Refunds += e.Gross
	case KindChargeback, KindReinstated:
		s.Chargebacks += e.Gross
	default:
		s.Gross += e.Gross
	}
	s.Credits += e.Credit
	s.Voids += e.Voided
	s.Fee += e.Fee
	s.Net += e.Net
}

// StatementRow is one crawler's or one site's sums in one currency.
type StatementRow struct {
	// Key is the crawler's account id or the site; Name the crawler
	// operator's name ("" for sites, or when unknown).
	Key, Name, Currency string
	Sums
}

// StatementDay is one day's net earnings in one currency.
type StatementDay struct {
	Day, Currency string
	Net           money.Micros
	Requests      int64
}

// Statement is what a publisher earned and was paid in a period.
type Statement struct {
	Publisher string
	// From and To bound the period: entries earned (collected, voided,
	// reversed) at From <= t < To; payouts paid then.
	From, To time.Time
	// Totals are by currency; PaidOut is what payouts paid in the period.
	Totals  map[string]Sums
	PaidOut map[string]money.Micros
	// Balance is the publisher's balance now, by currency.
	Balance  map[string]money.Micros
	Payouts  []*Payout
	Crawlers []StatementRow
	Sites    []StatementRow
	Days     []StatementDay
	// Entries is the count of entries, each traceable to its invoice line.
	Entries int
}

// Statement builds publisher's statement of [from, to). names, if set,
// names crawler accounts (their operator's name).
func (b *Book) Statement(ctx context.Context, publisher string, from, to time.Time, names func(ctx context.Context, account string) string) (*Statement, error) {
	entries, err := b.Entries(ctx, publisher, from, to)
	if err != nil {
		return nil, err
	}
	st := &Statement{Publisher: publisher, From: from, To: to, Totals: map[string]Sums{}, PaidOut: map[string]money.Micros{}, Entries: len(entries)}
	crawlers := map[[2]string]*StatementRow{}
	sites := map[[2]string]*StatementRow{}
	days := map[[2]string]*StatementDay{}
	for _, e := range entries {
		t := st.Totals[e.Currency]
		t.add(e)
		st.Totals[e.Currency] = t
		row := func(m map[[2]string]*StatementRow, key string) *StatementRow {
			r, ok := m[[2]string{key, e.Currency}]
			if !ok {
				r = &StatementRow{Key: key, Currency: e.Currency}
				m[[2]string{key, e.Currency}] = r
			}
			return r
		}
		row(crawlers, e.Account).add(e)
		row(sites, e.Site).add(e)
		day := e.At.UTC().Format(time.DateOnly)
		d, ok := days[[2]string{day, e.Currency}]
		if !ok {
			d = &StatementDay{Day: day, Currency: e.Currency}
			days[[2]string{day, e.Currency}] = d
		}
		d.Net += e.Net
		d.Requests += e.Requests
	}
	flat := func(m map[[2]string]*StatementRow) []StatementRow {
		out := make([]StatementRow, 0, len(m))
		for _, r := range m {
			out = append(out, *r)
		}
		sort.Slice(out, func(i, j int) bool {
			if out[i].Net != out[j].Net {
				return out[i].Net > out[j].Net
			}
			return out[i].Key+out[i].Currency < out[j].Key+out[j].Currency
		})
		return out
	}
	st.Crawlers, st.Sites = flat(crawlers), flat(sites)
	if names != nil {
		for i := range st.Crawlers {
			st.Crawlers[i].Name = names(ctx, st.Crawlers[i].Key)
		}
	}
	for _, d := range days {
		st.Days = append(st.Days, *d)
	}
	sort.Slice(st.Days, func(i, j int) bool { return st.Days[i].Day+st.Days[i].Currency < st.Days[j].Day+st.Days[j].Currency })
	pos, err := b.Payouts(ctx, publisher)
	if err != nil {
		return nil, err
	}
	for _, p := range pos {
		if p.Status == PayoutPaid && !p.Updated.Before(from) && p.Updated.Before(to) {
			st.PaidOut[p.Currency] += p.Amount
		}
		if !p.Created.Before(from) && p.Created.Before(to) || p.Status == PayoutPaid && !p.Updated.Before(from) && p.Updated.Before(to) {
			st.Payouts = append(st.Payouts, p)
		}
	}
	if st.Balance, err = b.Balances(ctx, publisher); err != nil {
		return nil, err
	}
	return st, nil
}
