package archive

import (
	"fmt"
	"sort"

	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// sums adds up records as an Entry states them.
type sums struct {
	count           int64
	firstID, lastID string
	curs            map[string]Sum
	sites           map[[3]string]Sum
}

func newSums() *sums {
	return &sums{curs: map[string]Sum{}, sites: map[[3]string]Sum{}}
}

func (s *sums) add(r *Record) {
	if s.count == 0 {
		s.firstID = r.ID
	}
	s.count++
	s.lastID = r.ID
	c := s.curs[r.Currency]
	c.Count++
	c.Amount += r.Price
	s.curs[r.Currency] = c
	k := [3]string{r.Currency, r.Publisher, r.Site}
	t := s.sites[k]
	t.Count++
	t.Amount += r.Price
	s.sites[k] = t
}

// fill writes the sums into e.
func (s *sums) fill(e *Entry) {
	e.Count, e.FirstID, e.LastID = s.count, s.firstID, s.lastID
	e.Currencies = make(map[string]Sum, len(s.curs))
	for c, t := range s.curs {
		e.Currencies[c] = t
	}
	e.Sites = e.Sites[:0]
	for k, t := range s.sites {
		e.Sites = append(e.Sites, SiteSum{Currency: k[0], Publisher: k[1], Site: k[2], Sum: t})
	}
	sort.Slice(e.Sites, func(i, j int) bool {
		x, y := e.Sites[i], e.Sites[j]
		if x.Currency != y.Currency {
			return x.Currency < y.Currency
		}
		if x.Publisher != y.Publisher {
			return x.Publisher < y.Publisher
		}
		return x.Site < y.Site
	})
}

// differences lists how s differs from what e states.
func (s *sums) differences(e *Entry) []string {
	var out []string
	if s.count != e.Count || s.firstID != e.FirstID || s.lastID != e.LastID {
		out = append(out, fmt.Sprintf("%d commitments %s..%s, the entry says %d %s..%s",
			s.count, s.firstID, s.lastID, e.Count, e.FirstID, e.LastID))
	}
	var got Entry
	s.fill(&got)
	if len(got.Currencies) != len(e.Currencies) {
		out = append(out, fmt.Sprintf("%d currencies, the entry says %d", len(got.Currencies), len(e.Currencies)))
	}
	for c, t := range got.Currencies {
		if e.Currencies[c] != t {
			out = append(out, fmt.Sprintf("%s: %d for %d, the entry says %d for %d", c, t.Count, t.Amount, e.Currencies[c].Count, e.Currencies[c].Amount))
		}
	}
	if len(got.Sites) != len(e.Sites) {
		out = append(out, fmt.Sprintf("%d publisher sites, the entry says %d", len(got.Sites), len(e.Sites)))
	} else {
		for i := range got.Sites {
			if got.Sites[i] != e.Sites[i] {
				out = append(out, fmt.Sprintf("site %+v, the entry says %+v", got.Sites[i], e.Sites[i]))
			}
		}
	}
	return out
}

// invoiceDifferences lists how the sums of e differ from the lines of its
// invoices of the day alone (invs): every currency must have its invoice
// (one of invs or of lines, the lines invoices, which are checked
// otherwise), and every publisher site of a currency of invs its line with
// the same count and amount.
func invoiceDifferences(e *Entry, invs, lines []*ledger.Invoice) []string {
	var out []string
	byCur := map[string]*ledger.Invoice{}
	for _, inv := range append(append([]*ledger.Invoice(nil), invs...), lines...) {
		byCur[inv.Currency] = inv
	}
	for c := range e.Currencies {
		if byCur[c] == nil {
			out = append(out, "no invoice for the "+c+" commitments")
		}
	}
	checked := map[string]bool{}
	for _, inv := range invs {
		checked[inv.Currency] = true
	}
	sites := map[[3]string]Sum{}
	for _, s := range e.Sites {
		if checked[s.Currency] {
			sites[[3]string{s.Currency, s.Publisher, s.Site}] = s.Sum
		}
	}
	for _, inv := range invs {
		var total Sum
		for _, l := range inv.Lines {
			k := [3]string{inv.Currency, l.Publisher, l.Site}
			got, ok := sites[k]
			delete(sites, k)
			if !ok || got.Count != l.Count || got.Amount != int64(l.Amount) {
				out = append(out, fmt.Sprintf("invoice %s line %s %s: %d for %d, the segment holds %d for %d",
					inv.ID, l.Publisher, l.Site, l.Count, l.Amount, got.Count, got.Amount))
			}
			total.Count += l.Count
			total.Amount += int64(l.Amount)
		}
		if got := e.Currencies[inv.Currency]; got != total {
			out = append(out, fmt.Sprintf("invoice %s: %d for %d, the segment holds %d for %d",
				inv.ID, total.Count, total.Amount, got.Count, got.Amount))
		}
	}
	for k, s := range sites {
		out = append(out, fmt.Sprintf("%s %s %s: %d commitments for %d on no invoice line", k[0], k[1], k[2], s.Count, s.Amount))
	}
	sort.Strings(out)
	return out
}

// invoiceRefs are the invoices as an Entry records them.
func invoiceRefs(invs []*ledger.Invoice) []InvoiceRef {
	out := make([]InvoiceRef, 0, len(invs))
	for _, inv := range invs {
		out = append(out, InvoiceRef{ID: inv.ID, Currency: inv.Currency, Status: string(inv.Status), Total: int64(inv.Total)})
	}
	return out
}
