package main

import (
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

// reconcileLine is one commitment or receipt that does not agree.
type reconcileLine struct {
	Commitment  string `json:"commitment,omitempty"`
	RequestID   string `json:"request_id,omitempty"`
	SignatureID string `json:"signature_id"`
	URL         string `json:"url,omitempty"`
	Site        string `json:"site,omitempty"`
	Path        string `json:"path,omitempty"`
	Price       string `json:"price,omitempty"`
	Currency    string `json:"currency,omitempty"`
	// Seen is what the receipt log says became of the request.
	Seen string `json:"seen"`
}

// reconcileReport compares a day's commitments with the receipt log.
type reconcileReport struct {
	Day         string `json:"day"`
	Commitments int    `json:"commitments"`
	Receipts    int    `json:"receipts"`
	Matched     int    `json:"matched"`
	// NotDelivered: charged, but the log shows the page did not arrive
	// (an unconfirmed charge, a refusal, a cut body, no answer): ask
	// finance to credit them.
	NotDelivered []reconcileLine `json:"not_delivered"`
	// NoReceipt: charged, but this log has no line for the signature
	// (signed elsewhere, or the log was lost).
	NoReceipt []reconcileLine `json:"no_receipt"`
	// Unrecorded: the log shows a charged, delivered page the ledger does
	// not hold.
	Unrecorded []reconcileLine `json:"unrecorded"`
	// DisputeTotal sums NotDelivered by currency, decimal strings.
	DisputeTotal map[string]string `json:"dispute_total"`
	// SkippedLines are log lines that did not parse.
	SkippedLines int `json:"skipped_lines,omitempty"`
}

// differencesError is returned when a reconciliation finds charges to dispute
// or receipts without a commitment; main exits with status 3.
type differencesError struct{ n int }

func (e *differencesError) Error() string {
	return fmt.Sprintf("%d differences between your receipts and the ledger (listed above)", e.n)
}

func cmdReconcile(e *env, args []string) error {
	fs := e.flags("reconcile")
	day := fs.String("day", "", "day to reconcile, YYYY-MM-DD (default: today, UTC)")
	receipts := fs.String("receipts", "", "receipt log written by crawlctl fetch (default PAYCRAWL_RECEIPTS, else ~/.local/state/paycrawl/receipts.jsonl)")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("reconcile takes no arguments, got %q", pos)
	}
	dayS := *day
	if dayS == "" {
		dayS = time.Now().UTC().Format(time.DateOnly)
	}
	d, err := time.Parse(time.DateOnly, dayS) // midnight UTC, the ledger's day boundary
	if err != nil {
		return usagef("reconcile: --day %q is not YYYY-MM-DD", *day)
	}
	if err := e.needToken(); err != nil {
		return err
	}
	path, err := e.receiptsPath(*receipts)
	if err != nil || path == "off" {
		return usagef("reconcile: give the receipt log with --receipts FILE")
	}
	// The ledger's day is the gateway's receipt time; a request sent just
	// before midnight may be on the next day: read a little either side.
	byID := map[string]receipt{}
	rep := &reconcileReport{Day: dayS, NotDelivered: []reconcileLine{}, NoReceipt: []reconcileLine{},
		Unrecorded: []reconcileLine{}, DisputeTotal: map[string]string{}}
	from, to := d.Add(-5*time.Minute), d.Add(24*time.Hour+5*time.Minute)
	rep.SkippedLines, err = readReceipts(path, func(r receipt) {
		if r.Sent.Before(from) || !r.Sent.Before(to) {
			return
		}
		// The latest line of a signature wins (none is written twice today).
		byID[r.SignatureID] = r
	})
	if err != nil {
		return err
	}
	matched := map[string]bool{}
	dispute := map[string]money.Micros{}
	err = e.client().Commitments(e.ctx, dayS, func(c keydir.CommitmentJSON) error {
		rep.Commitments++
		line := reconcileLine{Commitment: c.ID, RequestID: c.RequestID, SignatureID: c.SignatureID, Site: c.Site,
			Path: c.Path, Price: c.Price, Currency: c.Currency}
		r, ok := byID[c.SignatureID]
		if !ok {
			line.Seen = "no line in the receipt log"
			rep.NoReceipt = append(rep.NoReceipt, line)
			return nil
		}
		matched[c.SignatureID] = true
		line.URL = r.URL
		if r.Delivered {
			rep.Matched++
			return nil
		}
		line.Seen = r.outcome()
		rep.NotDelivered = append(rep.NotDelivered, line)
		p, err := money.Parse(c.Price)
		if err != nil {
			return fmt.Errorf("the key directory sent price %q: %w", c.Price, err)
		}
		dispute[c.Currency] += p
		return nil
	})
	if err != nil {
		return err
	}
	for id, r := range byID {
		if r.Sent.Before(d) || !r.Sent.Before(d.Add(24*time.Hour)) {
			continue // count and check only the day's own lines; the margins are for matching
		}
		rep.Receipts++
		if !matched[id] && r.Delivered && r.Commitment != "" {
			rep.Unrecorded = append(rep.Unrecorded, reconcileLine{Commitment: r.Commitment, RequestID: r.RequestID, SignatureID: id,
				URL: r.URL, Price: r.Charged, Currency: r.Currency, Seen: "charged and delivered"})
		}
	}
	sort.Slice(rep.Unrecorded, func(i, j int) bool { return rep.Unrecorded[i].SignatureID < rep.Unrecorded[j].SignatureID })
	for cur, v := range dispute {
		rep.DisputeTotal[cur] = v.String()
	}
	if err := e.emit(rep, func(w *tabwriter.Writer) { rep.print(w) }); err != nil {
		return err
	}
	if n := len(rep.NotDelivered) + len(rep.Unrecorded); n > 0 {
		return &differencesError{n: n}
	}
	return nil
}

// outcome says in words what the log saw of a request that was not
// delivered.
func (r receipt) outcome() string {
	switch {
	case r.Status == 0:
		return "no answer: " + r.Error
	case r.Status/100 == 2:
		return fmt.Sprintf("%d, body cut short: %s", r.Status, r.Error)
	case r.CrawlerError != "":
		return fmt.Sprintf("%d %s", r.Status, r.CrawlerError)
	default:
		return fmt.Sprint(r.Status)
	}
}

func (rep *reconcileReport) print(w *tabwriter.Writer) {
	fmt.Fprintf(w, "Reconciliation of %s\n", rep.Day)
	fmt.Fprintf(w, "commitments in the ledger\t%d\n", rep.Commitments)
	fmt.Fprintf(w, "paid requests in the receipt log\t%d\n", rep.Receipts)
	fmt.Fprintf(w, "charged and delivered\t%d\n", rep.Matched)
	if rep.SkippedLines > 0 {
		fmt.Fprintf(w, "unreadable log lines\t%d\n", rep.SkippedLines)
	}
	if len(rep.NotDelivered) > 0 {
		fmt.Fprintf(w, "\nCharged, but the page was not delivered (%d): ask your publisher's finance team to credit these commitments\n", len(rep.NotDelivered))
		fmt.Fprintln(w, "COMMITMENT\tREQUEST\tPRICE\tURL\tWHAT HAPPENED")
		for _, l := range rep.NotDelivered {
			fmt.Fprintf(w, "%s\t%s\t%s %s\t%s\t%s\n", l.Commitment, l.RequestID, l.Currency, l.Price, l.URL, l.Seen)
		}
		for cur, v := range rep.DisputeTotal {
			fmt.Fprintf(w, "to dispute\t%s %s\n", cur, v)
		}
	}
	if len(rep.Unrecorded) > 0 {
		fmt.Fprintf(w, "\nReceipts the ledger does not hold (%d): report them to the publisher\n", len(rep.Unrecorded))
		for _, l := range rep.Unrecorded {
			fmt.Fprintf(w, "%s\t%s\t%s %s\t%s\n", l.Commitment, l.RequestID, l.Currency, l.Price, l.URL)
		}
	}
	if len(rep.NoReceipt) > 0 {
		fmt.Fprintf(w, "\nCharged, with no line in this receipt log (%d): signed elsewhere, or the log is incomplete\n", len(rep.NoReceipt))
		for _, l := range rep.NoReceipt {
			fmt.Fprintf(w, "%s\t%s\t%s %s\t%s%s\n", l.Commitment, l.RequestID, l.Currency, l.Price, l.Site, l.Path)
		}
	}
	if len(rep.NotDelivered)+len(rep.Unrecorded)+len(rep.NoReceipt) == 0 {
		fmt.Fprintln(w, "\nEvery charge matches a delivered page.")
	}
}
