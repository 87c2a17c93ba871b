package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/paycrawl/paycrawl/pkg/settle"
)

// emit writes v as indented JSON, or the human form.
func emit(w io.Writer, asJSON bool, v any, human func(io.Writer)) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	human(w)
	return nil
}

// Amounts in JSON are decimal strings ("12.34"), never numbers.
func totalsJSON(t settle.Totals) map[string]string {
	out := make(map[string]string, len(t))
	for cur, m := range t {
		out[cur] = m.String()
	}
	return out
}

func totalsText(t settle.Totals) string {
	if len(t) == 0 {
		return "none"
	}
	curs := make([]string, 0, len(t))
	for c := range t {
		curs = append(curs, c)
	}
	sort.Strings(curs)
	parts := make([]string, len(curs))
	for i, c := range curs {
		parts[i] = t[c].String() + " " + c
	}
	return strings.Join(parts, ", ")
}

type closeJSON struct {
	Day         string            `json:"day"`
	Accounts    int               `json:"accounts"`
	Created     int               `json:"created"`
	Existing    int               `json:"existing"`
	Held        int               `json:"held"`
	Commitments int64             `json:"commitments"`
	Totals      map[string]string `json:"totals"`
	Mismatches  []string          `json:"mismatches,omitempty"`
}

func closeView(r *settle.CloseReport) closeJSON {
	return closeJSON{Day: r.Day, Accounts: r.Accounts, Created: r.Created, Existing: r.Existing, Held: r.Held,
		Commitments: r.Commitments, Totals: totalsJSON(r.Totals), Mismatches: r.Mismatches}
}

func writeClose(w io.Writer, r *settle.CloseReport) {
	fmt.Fprintf(w, "closed %s: %d crawlers, %d invoices (%d new, %d existing), %d held; %d commitments; totals %s\n",
		r.Day, r.Accounts, r.Created+r.Existing, r.Created, r.Existing, r.Held, r.Commitments, totalsText(r.Totals))
	for _, m := range r.Mismatches {
		fmt.Fprintf(w, "  HELD: %s\n", m)
	}
}

type approveJSON struct {
	Day       string `json:"day"`
	Approved  int    `json:"approved"`
	Waiting   int    `json:"in_review"`
	Unchecked int    `json:"not_checked"`
}

func approveView(r *settle.ApproveReport) *approveJSON {
	if r == nil {
		return nil
	}
	return &approveJSON{Day: r.Day, Approved: r.Approved, Waiting: r.Waiting, Unchecked: r.Unchecked}
}

func writeApprove(w io.Writer, r *settle.ApproveReport) {
	if r == nil {
		return
	}
	fmt.Fprintf(w, "approved %s: %d approved, %d in review, %d not checked yet\n", r.Day, r.Approved, r.Waiting, r.Unchecked)
}

type resultJSON struct {
	Invoice    string `json:"invoice"`
	Account    string `json:"account"`
	Currency   string `json:"currency"`
	Rail       string `json:"rail"`
	Attempt    int64  `json:"attempt"`
	Action     string `json:"action"`
	Status     string `json:"status"`
	Reference  string `json:"reference,omitempty"`
	Block      int64  `json:"block,omitempty"`
	Total      string `json:"total"`
	Charged    string `json:"charged"`
	CarriedOut string `json:"carried_out"`
	Error      string `json:"error,omitempty"`
	Stuck      bool   `json:"needs_manual_reconciliation,omitempty"`
}

type chargeJSON struct {
	Day       string            `json:"day"`
	Results   []resultJSON      `json:"results"`
	Waiting   int               `json:"waiting_for_retry"`
	Exhausted int               `json:"out_of_attempts"`
	Charged   map[string]string `json:"charged"`
	Carried   map[string]string `json:"carried_out"`
}

func chargeView(r *settle.ChargeReport) *chargeJSON {
	if r == nil {
		return nil
	}
	charged, carried := r.Totals()
	out := &chargeJSON{Day: r.Day, Results: []resultJSON{}, Waiting: r.Waiting, Exhausted: r.Exhausted,
		Charged: totalsJSON(charged), Carried: totalsJSON(carried)}
	for _, x := range r.Results {
		out.Results = append(out.Results, resultJSON{Invoice: x.Invoice, Account: x.Account, Currency: x.Currency, Rail: x.Rail,
			Attempt: x.Attempt, Action: x.Action, Status: string(x.Status), Reference: x.Reference, Block: x.Block,
			Total: x.Total.String(), Charged: x.Charged.String(), CarriedOut: x.CarriedOut.String(), Error: x.Error, Stuck: x.Stuck})
	}
	return out
}

func writeCharge(w io.Writer, r *settle.ChargeReport) {
	charged, carried := r.Totals()
	fmt.Fprintf(w, "charged %s: %d invoices acted on; charged %s; carried over %s; %d waiting for a retry, %d out of attempts\n",
		r.Day, len(r.Results), totalsText(charged), totalsText(carried), r.Waiting, r.Exhausted)
	for _, x := range r.Results {
		fmt.Fprintf(w, "  %-8s %s  %s attempt %d (%s)  total %s %s", x.Status, x.Invoice, orDash(x.Rail), x.Attempt, x.Action, x.Total, x.Currency)
		if x.Charged != 0 || x.CarriedOut != 0 {
			fmt.Fprintf(w, "  charged %s, carried over %s", x.Charged, x.CarriedOut)
		}
		if x.Reference != "" {
			fmt.Fprintf(w, "  ref %s", x.Reference)
		}
		if x.Block != 0 {
			fmt.Fprintf(w, " block %d", x.Block)
		}
		if x.Error != "" {
			fmt.Fprintf(w, "\n           %s", x.Error)
		}
		if x.Stuck {
			fmt.Fprint(w, "\n           NEEDS MANUAL RECONCILIATION")
		}
		fmt.Fprintln(w)
	}
}

type dayJSON struct {
	Day     string       `json:"day"`
	Close   *closeJSON   `json:"close,omitempty"`
	Approve *approveJSON `json:"approve,omitempty"`
	Charge  *chargeJSON  `json:"charge,omitempty"`
}

type runJSON struct {
	Started string     `json:"started"`
	Days    []dayJSON  `json:"days"`
	Trimmed []trimJSON `json:"trimmed"`
}

// trimJSON is what retention did with one day.
type trimJSON struct {
	Day     string            `json:"day"`
	Trimmed []string          `json:"trimmed"`
	Kept    map[string]string `json:"kept"`
}

func runView(r *settle.RunReport) runJSON {
	out := runJSON{Started: r.Started.UTC().Format("2006-01-02T15:04:05Z"), Days: []dayJSON{}}
	for _, d := range r.Days {
		dj := dayJSON{Day: d.Day, Approve: approveView(d.Approve), Charge: chargeView(d.Charge)}
		if d.Close != nil {
			c := closeView(d.Close)
			dj.Close = &c
		}
		out.Days = append(out.Days, dj)
	}
	out.Trimmed = []trimJSON{}
	for _, t := range r.Trimmed {
		out.Trimmed = append(out.Trimmed, trimJSON{Day: t.Day, Trimmed: t.Trimmed, Kept: t.Kept})
	}
	return out
}

func writeRun(w io.Writer, r *settle.RunReport) {
	for _, d := range r.Days {
		if d.Close == nil {
			fmt.Fprintf(w, "%s: not closable yet\n", d.Day)
		} else {
			writeClose(w, d.Close)
		}
		writeApprove(w, d.Approve)
		if d.Charge != nil {
			writeCharge(w, d.Charge)
		}
		if d.Archive != nil && len(d.Archive.Archived) > 0 {
			writeArchiveRun(w, d.Archive)
		}
	}
	for _, t := range r.Trimmed {
		fmt.Fprintf(w, "retention %s: deleted the commitments of %d settled crawlers, kept %d not settled yet\n", t.Day, len(t.Trimmed), len(t.Kept))
	}
	for _, a := range r.Archived {
		fmt.Fprintf(w, "retention %s: archived %d settled crawlers, kept %d not settled yet\n", a.Day, len(a.Archived), len(a.Kept))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
