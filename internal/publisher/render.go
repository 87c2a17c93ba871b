package publisher

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/pkg/earnings"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// SumsJSON is the wire form of earnings.Sums: amounts as decimal strings.
type SumsJSON struct {
	Requests int64  `json:"requests"`
	Gross    string `json:"gross"`
	Credits  string `json:"credits"`
	Voids    string `json:"voids"`
	Refunds  string `json:"refunds"`
	// Chargebacks are disputes lost (negative) and won back (positive).
	Chargebacks string `json:"chargebacks"`
	Fee         string `json:"fee"`
	Net         string `json:"net"`
	PaidOut     string `json:"paid_out,omitempty"`
}

func sumsJSON(s earnings.Sums) SumsJSON {
	return SumsJSON{Requests: s.Requests, Gross: s.Gross.String(), Credits: s.Credits.String(), Voids: s.Voids.String(),
		Refunds: s.Refunds.String(), Chargebacks: s.Chargebacks.String(), Fee: s.Fee.String(), Net: s.Net.String()}
}

// RowJSON is a crawler's or a site's line of a statement.
type RowJSON struct {
	Crawler  string `json:"crawler,omitempty"`
	Name     string `json:"name,omitempty"`
	Site     string `json:"site,omitempty"`
	Currency string `json:"currency"`
	SumsJSON
}

// PayoutJSON is a payout as a statement shows it.
type PayoutJSON struct {
	ID          string `json:"id"`
	Period      string `json:"period"`
	Status      string `json:"status"`
	Amount      string `json:"amount"`
	Currency    string `json:"currency"`
	Rail        string `json:"rail"`
	Destination string `json:"destination"`
	Reference   string `json:"reference,omitempty"`
	Updated     string `json:"updated"`
}

// StatementJSON is the JSON statement of a publisher and period.
type StatementJSON struct {
	Publisher string              `json:"publisher"`
	Name      string              `json:"name,omitempty"`
	From      string              `json:"from"`
	To        string              `json:"to"`
	Totals    map[string]SumsJSON `json:"totals"`
	Balance   map[string]string   `json:"balance"`
	Payouts   []PayoutJSON        `json:"payouts"`
	Crawlers  []RowJSON           `json:"crawlers"`
	Sites     []RowJSON           `json:"sites"`
	Entries   int                 `json:"entries"`
	Note      string              `json:"note"`
}

const statementNote = "net = gross - credits - voids + refunds + chargebacks - fee; the fee is the platform's basis points of each earning, rounded toward zero; every entry traces to an invoice line and its commitments"

func statementJSON(st *earnings.Statement, name string) StatementJSON {
	out := StatementJSON{Publisher: st.Publisher, Name: name, From: st.From.Format(time.DateOnly), To: st.To.Format(time.DateOnly),
		Totals: map[string]SumsJSON{}, Balance: map[string]string{}, Payouts: []PayoutJSON{}, Crawlers: []RowJSON{}, Sites: []RowJSON{},
		Entries: st.Entries, Note: statementNote}
	for cur, s := range st.Totals {
		j := sumsJSON(s)
		j.PaidOut = st.PaidOut[cur].String()
		out.Totals[cur] = j
	}
	for cur, paid := range st.PaidOut {
		if _, ok := out.Totals[cur]; !ok {
			out.Totals[cur] = SumsJSON{Gross: "0.00", Credits: "0.00", Voids: "0.00", Refunds: "0.00", Chargebacks: "0.00", Fee: "0.00", Net: "0.00", PaidOut: paid.String()}
		}
	}
	for cur, b := range st.Balance {
		out.Balance[cur] = b.String()
	}
	for _, p := range st.Payouts {
		out.Payouts = append(out.Payouts, PayoutJSON{ID: p.ID, Period: p.Period, Status: string(p.Status), Amount: p.Amount.String(), Currency: p.Currency,
			Rail: p.Rail, Destination: p.Destination, Reference: p.Reference, Updated: p.Updated.Format(time.RFC3339)})
	}
	for _, r := range st.Crawlers {
		out.Crawlers = append(out.Crawlers, RowJSON{Crawler: r.Key, Name: r.Name, Currency: r.Currency, SumsJSON: sumsJSON(r.Sums)})
	}
	for _, r := range st.Sites {
		out.Sites = append(out.Sites, RowJSON{Site: r.Key, Currency: r.Currency, SumsJSON: sumsJSON(r.Sums)})
	}
	return out
}

// writeJSON writes the JSON statement.
func writeJSON(w io.Writer, st *earnings.Statement, name string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(statementJSON(st, name))
}

// writeCSV writes the statement as CSV: one header, then the totals, the
// crawlers, the sites and the payouts, each row saying which it is.
func writeCSV(w io.Writer, st *earnings.Statement, name string) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"section", "key", "name", "currency", "requests", "gross", "credits", "voids", "refunds", "chargebacks", "fee", "net", "paid_out", "status", "reference"})
	row := func(section, key, nm, cur string, s earnings.Sums, paid string) {
		_ = cw.Write([]string{section, key, nm, cur, strconv.FormatInt(s.Requests, 10), s.Gross.String(), s.Credits.String(), s.Voids.String(),
			s.Refunds.String(), s.Chargebacks.String(), s.Fee.String(), s.Net.String(), paid, "", ""})
	}
	for _, cur := range currencies(st) {
		row("total", st.Publisher, name, cur, st.Totals[cur], st.PaidOut[cur].String())
	}
	for _, r := range st.Crawlers {
		row("crawler", r.Key, r.Name, r.Currency, r.Sums, "")
	}
	for _, r := range st.Sites {
		row("site", r.Key, "", r.Currency, r.Sums, "")
	}
	for _, p := range st.Payouts {
		_ = cw.Write([]string{"payout", p.ID, p.Rail + " " + p.Destination, p.Currency, "", "", "", "", "", "", "", "", p.Amount.String(), string(p.Status), p.Reference})
	}
	cw.Flush()
	return cw.Error()
}

// currencies lists the statement's currencies, sorted.
func currencies(st *earnings.Statement) []string {
	seen := map[string]bool{}
	for c := range st.Totals {
		seen[c] = true
	}
	for c := range st.PaidOut {
		seen[c] = true
	}
	out := make([]string, 0, len(seen))
	for c := range seen {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// formatMoney writes "USD 1,234.50".
func formatMoney(cur string, m money.Micros) string {
	s := m.String()
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if frac != "" {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return cur + "\u00a0" + out
}

// Chart sizes, in SVG units.
const (
	chartW, chartH                   = 720, 200
	chartLeft, chartTop, chartBottom = 40, 24, 28
)

// revenueSVG draws net revenue per day of one currency as bars, every day
// of [from, to) present.
func revenueSVG(cur string, days []earnings.StatementDay, from, to time.Time) template.HTML {
	var all []earnings.StatementDay
	by := map[string]earnings.StatementDay{}
	for _, d := range days {
		if d.Currency == cur {
			by[d.Day] = d
		}
	}
	for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
		k := d.Format(time.DateOnly)
		all = append(all, earnings.StatementDay{Day: k, Currency: cur, Net: by[k].Net})
	}
	var peak money.Micros
	for _, d := range all {
		peak = max(peak, d.Net)
	}
	n := max(len(all), 1)
	plotH := chartH - chartTop - chartBottom
	slot := (chartW - 2*chartLeft) / n
	bar := max(slot*3/5, 1)
	base := chartTop + plotH
	var b strings.Builder
	id := "revenue-" + strings.ToLower(template.HTMLEscapeString(cur))
	fmt.Fprintf(&b, `<svg class="chart" id="%s" viewBox="0 0 %d %d" role="img" aria-label="Net revenue per day in %s">`, id, chartW, chartH, template.HTMLEscapeString(cur))
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#cdd2d8"/>`, chartLeft, base, chartW-chartLeft, base)
	fmt.Fprintf(&b, `<text x="%d" y="14" font-size="12" fill="#66707b">max %s</text>`, chartLeft, template.HTMLEscapeString(formatMoney(cur, peak)))
	for i, d := range all {
		h := 0
		if peak > 0 && d.Net > 0 {
			h = max(int(int64(d.Net)*int64(plotH)/int64(peak)), 1)
		}
		x := chartLeft + i*slot + (slot-bar)/2
		fmt.Fprintf(&b, `<rect class="bar" data-day="%s" data-amount="%s" x="%d" y="%d" width="%d" height="%d" fill="#1a7f37"><title>%s: %s</title></rect>`,
			d.Day, d.Net.String(), x, base-h, bar, h, d.Day, template.HTMLEscapeString(formatMoney(cur, d.Net)))
		if len(all) <= 8 || i%((len(all)+6)/7) == 0 {
			fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#66707b" text-anchor="middle">%s</text>`, x+bar/2, chartH-10, d.Day[5:])
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built from escaped parts
}
