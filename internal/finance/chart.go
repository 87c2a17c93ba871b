package finance

import (
	"fmt"
	"html/template"
	"sort"
	"strings"

	"github.com/paycrawl/paycrawl/internal/finance/wire"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// chartDay is one day's billed and charged amounts in one currency.
type chartDay struct {
	Day             string
	Billed, Charged money.Micros
}

// chartSeries is one currency's days over a range, every day present.
type chartSeries struct {
	Currency string
	Days     []chartDay
}

// chartOf adds up invoices by currency and day over days (oldest first):
// billed is the invoices' totals but the void ones', charged what the
// rails collected.
func chartOf(days []string, invs []*ledger.Invoice) []chartSeries {
	idx := make(map[string]int, len(days))
	for i, d := range days {
		idx[d] = i
	}
	by := map[string]*chartSeries{}
	for _, inv := range invs {
		i, ok := idx[inv.Day]
		if !ok {
			continue
		}
		cs := by[inv.Currency]
		if cs == nil {
			cs = &chartSeries{Currency: inv.Currency, Days: make([]chartDay, len(days))}
			for j, d := range days {
				cs.Days[j].Day = d
			}
			by[inv.Currency] = cs
		}
		if inv.Status != ledger.StatusVoid {
			cs.Days[i].Billed += inv.Total
		}
		cs.Days[i].Charged += inv.Charged
	}
	out := make([]chartSeries, 0, len(by))
	for _, cs := range by {
		out = append(out, *cs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Currency < out[j].Currency })
	return out
}

// wireChart converts series for the API.
func wireChart(from, to string, series []chartSeries) wire.Chart {
	out := wire.Chart{From: from, To: to, Series: []wire.ChartSeries{}}
	for _, cs := range series {
		ws := wire.ChartSeries{Currency: cs.Currency, Days: make([]wire.ChartDay, len(cs.Days))}
		for i, d := range cs.Days {
			ws.Days[i] = wire.ChartDay{Day: d.Day, Billed: d.Billed.String(), Charged: d.Charged.String()}
		}
		out.Series = append(out.Series, ws)
	}
	return out
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH         = 720, 220
	chartLeft, chartBottom = 8, 28
	chartTop               = 24
)

// SVG draws the series as grouped bars, billed and charged side by side
// for each day, server-side (the page runs no script). Heights are
// integer fractions of the largest amount: no float touches an amount.
// Each bar has a <title> with its exact amount, for a pointer and a screen
// reader alike.
func (cs chartSeries) SVG() template.HTML {
	var peak money.Micros
	for _, d := range cs.Days {
		peak = max(peak, d.Billed, d.Charged)
	}
	n := len(cs.Days)
	plotH := chartH - chartTop - chartBottom
	slot := (chartW - chartLeft*2) / max(n, 1)
	bar := max(slot*2/5, 1)
	var b strings.Builder
	id := "chart-" + strings.ToLower(cs.Currency)
	fmt.Fprintf(&b, `<svg class="chart" id="%s" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-title" preserveAspectRatio="xMidYMid meet">`, id, chartW, chartH, id)
	fmt.Fprintf(&b, `<title id="%s-title">Billed and charged per day in %s, %s to %s; largest day %s</title>`,
		id, template.HTMLEscapeString(cs.Currency), cs.Days[0].Day, cs.Days[n-1].Day, template.HTMLEscapeString(formatMoney(cs.Currency, peak)))
	base := chartTop + plotH
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#cdd2d8"/>`, chartLeft, base, chartW-chartLeft, base)
	fmt.Fprintf(&b, `<text x="%d" y="14" font-size="12" fill="#66707b">max %s</text>`, chartLeft, template.HTMLEscapeString(formatMoney(cs.Currency, peak)))
	height := func(v money.Micros) int {
		if peak <= 0 || v <= 0 {
			return 0
		}
		return max(int(int64(v)*int64(plotH)/int64(peak)), 1)
	}
	for i, d := range cs.Days {
		x := chartLeft + i*slot + (slot-2*bar)/2
		for j, v := range []money.Micros{d.Billed, d.Charged} {
			h := height(v)
			kind, fill := "billed", "#8fb3ea"
			if j == 1 {
				kind, fill = "charged", "#1a7f37"
			}
			fmt.Fprintf(&b, `<rect class="bar %s" data-day="%s" data-amount="%s" x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s %s: %s</title></rect>`,
				kind, d.Day, v.String(), x+j*bar, base-h, bar, h, fill, d.Day, kind, template.HTMLEscapeString(formatMoney(cs.Currency, v)))
		}
		if n <= 8 || i == 0 || i == n-1 || i%((n+6)/7) == 0 {
			fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#66707b" text-anchor="middle">%s</text>`, x+bar, chartH-10, d.Day[5:])
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // built here from escaped parts
}
