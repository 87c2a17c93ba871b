package main

import (
	"fmt"
	"text/tabwriter"
	"time"
)

func cmdUsage(e *env, args []string) error {
	fs := e.flags("usage")
	day := fs.String("day", "", "day to show, YYYY-MM-DD (default: today, UTC)")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("usage takes no arguments, got %q", pos)
	}
	if *day != "" {
		if _, err := time.Parse(time.DateOnly, *day); err != nil {
			return usagef("usage: --day %q is not YYYY-MM-DD", *day)
		}
	}
	if err := e.needToken(); err != nil {
		return err
	}
	u, err := e.client().Usage(e.ctx, *day)
	if err != nil {
		return err
	}
	return e.emit(u, func(w *tabwriter.Writer) {
		state := "open"
		if u.Closed {
			state = "closed for invoicing"
		}
		fmt.Fprintf(w, "Usage of %s on %s (%s)\n", u.Operator, u.Day, state)
		if len(u.Totals) == 0 {
			fmt.Fprintln(w, "No paid requests.")
			return
		}
		fmt.Fprintln(w, "\nCURRENCY\tREQUESTS\tAMOUNT")
		for _, t := range u.Totals {
			fmt.Fprintf(w, "%s\t%d\t%s\n", t.Currency, t.Requests, t.Amount)
		}
		fmt.Fprintln(w, "\nSITE\tPUBLISHER\tREQUESTS\tAMOUNT")
		for _, s := range u.Sites {
			fmt.Fprintf(w, "%s\t%s\t%d\t%s %s\n", s.Site, s.Publisher, s.Requests, s.Currency, s.Amount)
		}
		if len(u.Invoices) == 0 {
			fmt.Fprintln(w, "\nNo invoice yet: the day is invoiced after it ends.")
			return
		}
		fmt.Fprintln(w, "\nINVOICE\tSTATUS\tTOTAL\tCHARGED\tCARRIED OVER\tRAIL\tREFERENCE")
		for _, in := range u.Invoices {
			fmt.Fprintf(w, "%s\t%s\t%s %s\t%s\t%s\t%s\t%s\n", in.ID, in.Status, in.Currency, in.Total, in.Charged, in.CarriedOut, in.Rail, in.Reference)
		}
	})
}
