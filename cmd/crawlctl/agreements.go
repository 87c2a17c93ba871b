package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

// cmdAgreements is "crawlctl agreements list|show|accept|decline".
func cmdAgreements(e *env, args []string) error {
	sub := "list"
	if len(args) > 0 && (args[0] == "list" || args[0] == "show" || args[0] == "accept" || args[0] == "decline") {
		sub, args = args[0], args[1:]
	}
	fs := e.flags("agreements")
	version := fs.Int("version", 0, "the version to accept or decline (the one `show` printed)")
	keyPath := fs.String("key", "", "your private JWK, to sign an acceptance (crawlctl keygen)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := e.needToken(); err != nil {
		return err
	}
	if sub == "list" {
		if len(pos) > 0 {
			return usagef("agreements list takes no arguments, got %q", pos)
		}
		list, err := e.client().Agreements(e.ctx)
		if err != nil {
			return err
		}
		offers, err := e.client().Offers(e.ctx, keydir.OffersQuery{Limit: listOffers})
		if err != nil {
			return err
		}
		// What was accepted, then the offers awaiting a decision.
		list.Agreements = append(list.Agreements, offers.Agreements...)
		list.Total = offers.Total
		return e.emit(list, func(w *tabwriter.Writer) {
			agreementTable(w, list.Agreements)
			if offers.Total > int64(len(offers.Agreements)) {
				fmt.Fprintf(w, "\n%d more offers pending (the key directory's GET /v1/offers?offset=%d lists them)\n", offers.Total-int64(len(offers.Agreements)), len(offers.Agreements))
			}
		})
	}
	if len(pos) != 1 {
		return usagef("agreements %s takes one agreement id (agr_…), got %q", sub, pos)
	}
	id := pos[0]
	switch sub {
	case "show":
		got, err := e.client().Agreement(e.ctx, id)
		if err != nil {
			return err
		}
		return e.emit(got, func(w *tabwriter.Writer) { showAgreement(w, got.Versions) })
	case "decline":
		if *version < 1 {
			return usagef("agreements decline needs --version N (crawlctl agreements show %s prints it)", id)
		}
		got, err := e.client().DeclineAgreement(e.ctx, id, *version)
		if err != nil {
			return err
		}
		return e.emit(got, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "declined\t%s version %d\n", got.ID, got.Version)
		})
	}
	// accept: sign exactly the version reviewed, as the key directory sends it.
	if *version < 1 {
		return usagef("agreements accept needs --version N, the version you reviewed (crawlctl agreements show %s)", id)
	}
	priv, key, err := e.loadKey(*keyPath)
	if err != nil {
		return err
	}
	got, err := e.client().Agreement(e.ctx, id)
	if err != nil {
		return err
	}
	var v *agreement.Agreement
	for i := range got.Versions {
		if got.Versions[i].Version == *version {
			v = &got.Versions[i]
		}
	}
	if v == nil {
		return usagef("agreement %s has no version %d", id, *version)
	}
	if latest := got.Versions[len(got.Versions)-1]; latest.Version != v.Version || v.State != agreement.StateOffered {
		return usagef("version %d of %s is %s and the latest is %d (%s): only the latest offered version can be accepted",
			v.Version, id, v.State, latest.Version, latest.State)
	}
	acc, err := agreement.SignAcceptance(priv, v, time.Now())
	if err != nil {
		return err
	}
	done, err := e.client().AcceptAgreement(e.ctx, id, v.Version, acc)
	if err != nil {
		return err
	}
	return e.emit(done, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "accepted\t%s version %d, signed with key %s\n", done.ID, done.Version, key.ID)
		fmt.Fprintf(w, "terms\t%s\n", done.Terms.Summary())
		fmt.Fprintf(w, "in force\tfrom %s%s\n", done.Start().UTC().Format(time.RFC3339), untilText(done))
	})
}

func untilText(a *agreement.Agreement) string {
	if a.ValidUntil.IsZero() {
		return ", open-ended"
	}
	return " until " + a.ValidUntil.UTC().Format(time.RFC3339)
}

// listOffers is how many pending offers agreements list shows.
const listOffers = 1000

// agreementTable prints one line per version.
func agreementTable(w *tabwriter.Writer, all []agreement.Agreement) {
	if len(all) == 0 {
		fmt.Fprintln(w, "No agreements. A publisher offers one; it then shows here as offered.")
		return
	}
	agreement.WriteRows(w, all, "PUBLISHER", func(a *agreement.Agreement) string { return a.Publisher }, time.Now())
}

// showAgreement prints every version and, for the latest, the exact text an
// acceptance signs.
func showAgreement(w *tabwriter.Writer, versions []agreement.Agreement) {
	agreementTable(w, versions)
	if len(versions) == 0 {
		return
	}
	latest := &versions[len(versions)-1]
	if latest.ContentDropped {
		fmt.Fprintf(w, "\nversion %d was %s without being accepted; its content is no longer kept (SHA-256 %s)\n", latest.Version, latest.State, latest.ContentSHA256)
		return
	}
	fmt.Fprintf(w, "\nversion %d, as you sign it to accept:\n\n%s\n", latest.Version, latest.Canonical())
	if latest.State == agreement.StateOffered {
		fmt.Fprintf(w, "\naccept\tcrawlctl agreements accept %s --version %d --key key.jwk\n", latest.ID, latest.Version)
		fmt.Fprintf(w, "decline\tcrawlctl agreements decline %s --version %d\n", latest.ID, latest.Version)
	}
}

// cmdSettlementPeriod is "crawlctl settlement-period daily|weekly|monthly".
func cmdSettlementPeriod(e *env, args []string) error {
	fs := e.flags("settlement-period")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("settlement-period takes one of daily, weekly, monthly, got %q", pos)
	}
	p, err := agreement.ParseSettlementPeriod(pos[0])
	if err != nil || pos[0] == "" {
		return usagef("settlement-period: %q is not daily, weekly or monthly", pos[0])
	}
	if err := e.needToken(); err != nil {
		return err
	}
	got, err := e.client().SetSettlementPeriod(e.ctx, p)
	if err != nil {
		return err
	}
	return e.emit(got, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "settlement period\t%s (days already closed are invoiced once: with their period, or at the next close if it no longer ends)\n", got.SettlementPeriod)
	})
}
