package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

// MaxUsageDays is the longest range usage reads, one request per day.
const MaxUsageDays = 93

// usageReport is usage's answer: one day (--day) or a range of days
// (--from, --to), with the totals of the range and today's cap.
type usageReport struct {
	From string                  `json:"from"`
	To   string                  `json:"to"`
	Days []*keydir.UsageResponse `json:"days"`
	// Totals sums the days by currency, decimal strings.
	Totals []keydir.UsageTotal `json:"totals"`
	// Cap is today's daily cap and what is left of it, when the range
	// holds today and a billing profile is set.
	Cap *capJSON `json:"cap,omitempty"`
}

// capJSON is today's spend against the daily cap.
type capJSON struct {
	Day       string `json:"day"`
	Currency  string `json:"currency"`
	DailyCap  string `json:"daily_cap"`
	Spent     string `json:"spent"`
	Remaining string `json:"remaining"`
	// Percent is the share of the cap spent, rounded down.
	Percent int64 `json:"percent"`
}

// capWarnPercent is the share of the daily cap past which usage warns.
const capWarnPercent = 80

func cmdUsage(e *env, args []string) error {
	fs := e.flags("usage")
	day := fs.String("day", "", "day to show, YYYY-MM-DD (default: today, UTC)")
	fromS := fs.String("from", "", "first day of a range, YYYY-MM-DD (with --to)")
	toS := fs.String("to", "", fmt.Sprintf("last day of a range, YYYY-MM-DD (default today; at most %d days)", MaxUsageDays))
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("usage takes no arguments, got %q", pos)
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	parseDay := func(flag, s string) (time.Time, error) {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return time.Time{}, usagef("usage: --%s %q is not YYYY-MM-DD", flag, s)
		}
		return d, nil
	}
	from, to := today, today
	var err error
	switch {
	case *day != "" && (*fromS != "" || *toS != ""):
		return usagef("usage: give --day, or --from and --to, not both")
	case *day != "":
		if from, err = parseDay("day", *day); err != nil {
			return err
		}
		to = from
	case *fromS != "" || *toS != "":
		if *fromS == "" {
			return usagef("usage: --to needs --from")
		}
		if from, err = parseDay("from", *fromS); err != nil {
			return err
		}
		if *toS != "" {
			if to, err = parseDay("to", *toS); err != nil {
				return err
			}
		}
		if to.Before(from) {
			return usagef("usage: --to %s is before --from %s", to.Format(time.DateOnly), from.Format(time.DateOnly))
		}
		if n := int(to.Sub(from)/(24*time.Hour)) + 1; n > MaxUsageDays {
			return usagef("usage: %d days from %s to %s; at most %d at a time", n, from.Format(time.DateOnly), to.Format(time.DateOnly), MaxUsageDays)
		}
	}
	if err := e.needToken(); err != nil {
		return err
	}
	c := e.client()
	rep := &usageReport{From: from.Format(time.DateOnly), To: to.Format(time.DateOnly), Days: []*keydir.UsageResponse{}, Totals: []keydir.UsageTotal{}}
	sums := map[string]*sum{}
	var order []string
	for d := from; !d.After(to); d = d.Add(24 * time.Hour) {
		u, err := c.Usage(e.ctx, d.Format(time.DateOnly))
		if err != nil {
			return err
		}
		rep.Days = append(rep.Days, u)
		for _, t := range u.Totals {
			v, err := money.Parse(t.Amount)
			if err != nil {
				return fmt.Errorf("usage: the key directory sent amount %q: %w", t.Amount, err)
			}
			s := sums[t.Currency]
			if s == nil {
				s = &sum{}
				sums[t.Currency] = s
				order = append(order, t.Currency)
			}
			s.requests += t.Requests
			s.amount += v
		}
	}
	for _, cur := range order {
		rep.Totals = append(rep.Totals, keydir.UsageTotal{Currency: cur, Requests: sums[cur].requests, Amount: sums[cur].amount.String()})
	}
	if !today.Before(from) && !today.After(to) {
		me, err := c.Me(e.ctx)
		if err != nil {
			return err
		}
		rep.Cap, err = capOf(me, rep.Days[int(today.Sub(from)/(24*time.Hour))])
		if err != nil {
			return err
		}
	}
	if rep.Cap != nil && rep.Cap.Percent >= capWarnPercent {
		fmt.Fprintf(e.stderr, "crawlctl: warning: today you have spent %d %% of your daily cap (%s %s of %s); at 100 %% gateways refuse paid requests until midnight UTC\n",
			rep.Cap.Percent, rep.Cap.Currency, rep.Cap.Spent, rep.Cap.DailyCap)
	}
	if from.Equal(to) && !e.json {
		return e.emit(rep, func(w *tabwriter.Writer) { printDay(w, rep.Days[0]); printCap(w, rep.Cap) })
	}
	if from.Equal(to) {
		// One day in JSON is the day itself, as before ranges existed,
		// with the cap beside it.
		return e.emit(struct {
			*keydir.UsageResponse
			Cap *capJSON `json:"cap,omitempty"`
		}{rep.Days[0], rep.Cap}, nil)
	}
	return e.emit(rep, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "Usage of %s from %s to %s\n\nDAY\tCURRENCY\tREQUESTS\tAMOUNT\tINVOICES\n", rep.Days[0].Operator, rep.From, rep.To)
		for _, u := range rep.Days {
			if len(u.Totals) == 0 {
				continue
			}
			for _, t := range u.Totals {
				inv := "-"
				for _, in := range u.Invoices {
					if in.Currency == t.Currency {
						inv = in.ID + " " + in.Status
					}
				}
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", u.Day, t.Currency, t.Requests, t.Amount, inv)
			}
		}
		if len(rep.Totals) == 0 {
			fmt.Fprintln(w, "No paid requests in the range.")
		}
		for _, t := range rep.Totals {
			fmt.Fprintf(w, "total\t%s\t%d\t%s\t\n", t.Currency, t.Requests, t.Amount)
		}
		printCap(w, rep.Cap)
	})
}

type sum struct {
	requests int64
	amount   money.Micros
}

// capOf is today's spend against the profile's daily cap; nil without a
// profile.
func capOf(me *keydir.OperatorJSON, today *keydir.UsageResponse) (*capJSON, error) {
	b := me.Billing
	if b == nil {
		return nil, nil
	}
	limit, err := money.Parse(b.DailyCap)
	if err != nil || limit <= 0 {
		return nil, fmt.Errorf("usage: the key directory sent daily cap %q", b.DailyCap)
	}
	var spent money.Micros
	for _, t := range today.Totals {
		if t.Currency != b.Currency {
			continue
		}
		if spent, err = money.Parse(t.Amount); err != nil {
			return nil, fmt.Errorf("usage: the key directory sent amount %q: %w", t.Amount, err)
		}
	}
	left := max(limit-spent, 0)
	return &capJSON{Day: today.Day, Currency: b.Currency, DailyCap: limit.String(), Spent: spent.String(),
		Remaining: left.String(), Percent: int64(spent) * 100 / int64(limit)}, nil
}

func printCap(w *tabwriter.Writer, c *capJSON) {
	if c == nil {
		return
	}
	fmt.Fprintf(w, "\ncap remaining today\t%s %s of %s (%d %% spent)\n", c.Currency, c.Remaining, c.DailyCap, c.Percent)
}

func printDay(w *tabwriter.Writer, u *keydir.UsageResponse) {
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
}
