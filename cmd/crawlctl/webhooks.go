package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/paycrawl/paycrawl/pkg/webhook"
)

func cmdWebhooks(e *env, args []string) error {
	fs := e.flags("webhooks")
	events := fs.String("events", "", "add: comma-separated event types (default all: "+strings.Join(webhook.OperatorEvents, ", ")+")")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		pos = []string{"list"}
	}
	want := map[string]int{"list": 1, "add": 2, "remove": 2, "log": 2}
	if n, ok := want[pos[0]]; !ok || len(pos) != n {
		return usagef("usage: crawlctl %s", helps["webhooks"].synopsis)
	}
	if err := e.needToken(); err != nil {
		return err
	}
	c := e.client()
	switch pos[0] {
	case "add":
		var evs []string
		for _, ev := range strings.Split(*events, ",") {
			if ev = strings.TrimSpace(ev); ev != "" {
				evs = append(evs, ev)
			}
		}
		ep, err := c.AddWebhook(e.ctx, pos[1], evs)
		if err != nil {
			return err
		}
		return e.emit(ep, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "endpoint\t%s\n", ep.ID)
			fmt.Fprintf(w, "url\t%s\n", ep.URL)
			fmt.Fprintf(w, "events\t%s\n", orDash(strings.Join(ep.Events, ", ")))
			fmt.Fprintf(w, "secret\t%s\n", ep.Secret)
			fmt.Fprintf(w, "\t^ save it now: it is shown only once; verify each delivery's %s with it (see the README's Webhooks)\n", webhook.HeaderSignature)
		})
	case "remove":
		if err := c.RemoveWebhook(e.ctx, pos[1]); err != nil {
			return err
		}
		return e.emit(map[string]string{"removed": pos[1]}, func(w *tabwriter.Writer) { fmt.Fprintf(w, "removed\t%s\n", pos[1]) })
	case "log":
		l, err := c.WebhookDeliveries(e.ctx, pos[1])
		if err != nil {
			return err
		}
		return e.emit(l, func(w *tabwriter.Writer) {
			if len(l.Deliveries) == 0 {
				fmt.Fprintln(w, "No deliveries yet.")
				return
			}
			fmt.Fprintln(w, "AT\tEVENT\tTYPE\tATTEMPT\tOUTCOME\tSTATUS\tERROR")
			for _, a := range l.Deliveries {
				status := "-"
				if a.Status != 0 {
					status = fmt.Sprint(a.Status)
				}
				outcome := a.Outcome
				if a.Next != nil {
					outcome += " at " + a.Next.Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", a.At.Format(time.RFC3339), a.Event, a.Type, a.Attempt, outcome, status, orDash(a.Error))
			}
		})
	}
	l, err := c.Webhooks(e.ctx)
	if err != nil {
		return err
	}
	return e.emit(l, func(w *tabwriter.Writer) {
		if len(l.Endpoints) == 0 {
			fmt.Fprintf(w, "No webhook endpoints. Add one: crawlctl webhooks add https://… (events: %s)\n", strings.Join(l.Events, ", "))
			return
		}
		fmt.Fprintln(w, "ENDPOINT\tURL\tEVENTS\tCREATED")
		for _, ep := range l.Endpoints {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", ep.ID, ep.URL, orDash(strings.Join(ep.Events, ", ")), ep.Created.Format(time.RFC3339))
		}
	})
}
