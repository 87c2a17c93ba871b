package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/paycrawl/paycrawl/internal/finance/wire"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// table returns a tabwriter for a human table; Flush it.
func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

func writeInvoiceList(w io.Writer, l *wire.InvoiceList) {
	filter := ""
	if l.Status != "" {
		filter = " " + l.Status
	}
	if len(l.Invoices) == 0 {
		fmt.Fprintf(w, "no%s invoices on %s\n", filter, l.Day)
		return
	}
	tw := table(w)
	fmt.Fprintln(tw, "INVOICE\tCRAWLER\tSTATUS\tREQUESTS\tTOTAL\tCARRIED IN\tRAIL\tREFERENCE")
	totals, voided := settle.Totals{}, settle.Totals{}
	for _, inv := range l.Invoices {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s %s\t%s\t%s\t%s\n", inv.ID, crawlerName(inv), inv.Status, inv.Requests,
			inv.Currency, inv.Total, inv.CarriedIn, orDash(inv.Rail), orDash(reference(inv)))
		if m, err := money.Parse(inv.Total); err == nil && inv.Status == "void" {
			voided[inv.Currency] += m
		} else if err == nil {
			totals[inv.Currency] += m
		}
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d%s invoices on %s; billed %s", len(l.Invoices), filter, l.Day, totalsText(totals))
	if len(voided) > 0 {
		fmt.Fprintf(w, " (void, not billed: %s)", totalsText(voided))
	}
	fmt.Fprintln(w)
}

// crawlerName is the operator's name and contact beside its id, when the
// registry knows them.
func crawlerName(inv wire.Invoice) string {
	switch {
	case inv.OperatorName != "" && inv.OperatorContact != "":
		return fmt.Sprintf("%s <%s> %s", inv.OperatorName, inv.OperatorContact, inv.Account)
	case inv.OperatorName != "":
		return inv.OperatorName + " " + inv.Account
	}
	return inv.Account
}

// reference is an invoice's reconciliation id: the PaymentIntent, or the
// transaction hash and block.
func reference(inv wire.Invoice) string {
	switch {
	case inv.PaymentIntent != "":
		return inv.PaymentIntent
	case inv.TxHash != "" && inv.Block != 0:
		return fmt.Sprintf("%s (block %d)", inv.TxHash, inv.Block)
	}
	return inv.TxHash
}

func writeSummary(w io.Writer, s *wire.Summary) {
	fmt.Fprintf(w, "%s: %d invoices, %d paid requests\n", s.Day, s.Invoices, s.Requests)
	for _, row := range []struct {
		name string
		m    map[string]string
	}{{"total", s.Totals}, {"credits", s.Credits}, {"carried in", s.CarriedIn}, {"charged", s.Charged}, {"carried out", s.CarriedOut}} {
		fmt.Fprintf(w, "  %-12s %s\n", row.name, amountsText(row.m))
	}
	for _, part := range []struct {
		title string
		b     []wire.Bucket
	}{{"STATUS", s.ByStatus}, {"RAIL", s.ByRail}} {
		if len(part.b) == 0 {
			continue
		}
		fmt.Fprintln(w)
		tw := table(w)
		fmt.Fprintf(tw, "%s\tCURRENCY\tINVOICES\tTOTAL\tCHARGED\n", part.title)
		for _, b := range part.b {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", b.Key, b.Currency, b.Invoices, b.Total, b.Charged)
		}
		_ = tw.Flush()
	}
}

func amountsText(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	curs := make([]string, 0, len(m))
	for c := range m {
		curs = append(curs, c)
	}
	sort.Strings(curs)
	parts := make([]string, len(curs))
	for i, c := range curs {
		parts[i] = c + " " + m[c]
	}
	return strings.Join(parts, ", ")
}

func writeInvoice(w io.Writer, inv *wire.Invoice) {
	tw := table(w)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	row("invoice", inv.ID)
	row("crawler", crawlerName(*inv))
	row("day", inv.Day)
	row("status", inv.Status)
	row("total", inv.Currency+" "+inv.Total)
	row("lines", fmt.Sprintf("%s %s (%d requests)", inv.Currency, inv.Amount, inv.Requests))
	row("credits", inv.Currency+" "+inv.Credits)
	row("carried in", inv.Currency+" "+inv.CarriedIn)
	row("charged", inv.Currency+" "+inv.Charged)
	row("carried out", inv.Currency+" "+inv.CarriedOut)
	if inv.RefundState != "" || len(inv.Refunds) > 0 {
		row("refunded", fmt.Sprintf("%s %s (%s); %s %s left to refund", inv.Currency, inv.Refunded, orDash(inv.RefundState), inv.Currency, inv.Refundable))
	}
	row("rail", inv.Rail)
	row("payment intent", inv.PaymentIntent)
	row("transaction", inv.TxHash)
	if inv.Block != 0 {
		row("block", fmt.Sprint(inv.Block))
	}
	row("error", inv.Error)
	check := map[string]string{"ok": "matches its commitments", "mismatch": "DOES NOT MATCH its commitments", "": "not checked yet"}[inv.Check]
	row("day check", check)
	row("created", inv.Created.UTC().Format("2006-01-02 15:04:05")+" UTC")
	row("updated", inv.Updated.UTC().Format("2006-01-02 15:04:05")+" UTC")
	row("actions", strings.Join(inv.Actions, ", "))
	_ = tw.Flush()

	fmt.Fprintln(w)
	tw = table(w)
	fmt.Fprintln(tw, "#\tPUBLISHER\tSITE\tKIND\tREQUESTS\tAMOUNT\tCREDIT\tNET\tAGREEMENT")
	for _, l := range inv.Lines {
		agr := "-"
		if l.AgreementID != "" {
			agr = fmt.Sprintf("%s v%d", l.AgreementID, l.AgreementVersion)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", l.N, l.Publisher, orDash(l.Site), orDash(l.Kind), l.Requests, l.Amount, l.Credit, l.Net, agr)
	}
	_ = tw.Flush()

	if len(inv.History) > 0 {
		fmt.Fprintln(w)
		tw = table(w)
		fmt.Fprintln(tw, "TIME\tEVENT\tACTOR\tREASON")
		for _, e := range inv.History {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.At.UTC().Format("2006-01-02 15:04:05"), eventText(e), e.Actor, e.Reason)
		}
		_ = tw.Flush()
	}
	if len(inv.Attempts) > 0 {
		fmt.Fprintln(w)
		tw = table(w)
		fmt.Fprintln(tw, "TIME\tATTEMPT\tRAIL\tREFERENCE\tAMOUNT\tOUTCOME\tERROR")
		for _, a := range inv.Attempts {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", a.At.UTC().Format("2006-01-02 15:04:05"), a.Number, a.Rail,
				orDash(a.Reference), a.Amount, orDash(a.Outcome), a.Error)
		}
		_ = tw.Flush()
	}
}

func eventText(e wire.Event) string {
	switch e.Kind {
	case "transition":
		return e.From + " -> " + e.To
	case "credit":
		return fmt.Sprintf("credit line %d: %s", e.Line, e.Credit)
	case "check":
		return "day checked"
	case "refund":
		ev := fmt.Sprintf("refund %d: %s %s", e.Refund, e.Amount, e.RefundStatus)
		if e.Reference != "" {
			ev += " (" + e.Reference + ")"
		}
		return ev
	case "create":
		return "created"
	}
	return e.Kind
}

func writeActionResult(w io.Writer, r *wire.ActionResult) {
	fmt.Fprintln(w, r.Message)
	if r.Warning != "" {
		fmt.Fprintln(w, "warning: "+r.Warning)
	}
	fmt.Fprintf(w, "%s is %s; total %s %s\n", r.Invoice.ID, r.Invoice.Status, r.Invoice.Currency, r.Invoice.Total)
}

func writeAuditSummary(w io.Writer, s *wire.AuditSummary) {
	verdict := "OK: every signature verifies and the sums add up"
	if !s.OK {
		verdict = "PROBLEMS FOUND"
	}
	fmt.Fprintf(w, "audit of %s: %s\n", s.Invoice, verdict)
	fmt.Fprintf(w, "  %d commitments: %d verified, %d failed; sums %s", s.Commitments, s.Verified, s.Failed, okWord(s.SumsOK))
	if s.OtherCurrency > 0 {
		fmt.Fprintf(w, "; %d in other currencies (other invoices)", s.OtherCurrency)
	}
	fmt.Fprintln(w)
	for _, p := range s.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
	tw := table(w)
	fmt.Fprintln(tw, "#\tPUBLISHER\tSITE\tREQUESTS\tCOMMITTED\tAMOUNT\tCOMMITTED AMOUNT\tOK")
	for _, l := range s.Lines {
		n := "-"
		if l.N > 0 {
			n = fmt.Sprint(l.N)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", n, l.Publisher, l.Site, l.Requests, l.CommittedRequests,
			l.Amount, l.CommittedAmount, map[bool]string{true: "yes", false: "NO"}[l.OK])
	}
	_ = tw.Flush()
}
