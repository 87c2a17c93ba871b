package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

// agreementsUsage is the help of "gateway agreements".
const agreementsUsage = `usage: gateway agreements <command> [flags]

The publisher's side of agreements with crawler operators, in the key
directory (--keydir or PAYCRAWL_KEYDIR_URL), with the publisher's own token
(--token or PAYCRAWL_PUBLISHER_TOKEN, pcp_…):

  offer --file offer.json          offer a new agreement (its JSON form; see the README)
  offer --file offer.json --next ID  offer the next version of agreement ID (supersedes it once accepted)
  list                             your accepted agreements (every version ever accepted), then your pending offers
  show ID                          one agreement's versions and the text the operator signs
  withdraw ID --version N          withdraw an offer not yet accepted or declined

--json prints the key directory's JSON answer.
`

// runAgreements runs "gateway agreements …".
func runAgreements(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, agreementsUsage)
		if len(args) == 0 {
			return errors.New("agreements: no command")
		}
		return nil
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("gateway agreements "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	keydirURL := getenv("PAYCRAWL_KEYDIR_URL")
	if keydirURL == "" {
		keydirURL = "http://127.0.0.1:8403"
	}
	fs.StringVar(&keydirURL, "keydir", keydirURL, "key directory base URL")
	token := fs.String("token", getenv("PAYCRAWL_PUBLISHER_TOKEN"), "the publisher's token (pcp_…)")
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	file := fs.String("file", "", "offer: the agreement's JSON form")
	next := fs.String("next", "", "offer: the agreement (agr_…) this offer is the next version of")
	version := fs.Int("version", 0, "withdraw: the version to withdraw")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return fmt.Errorf("agreements %s: %w\n\n%s", sub, err, agreementsUsage)
	}
	if *token == "" {
		return fmt.Errorf("agreements %s: no publisher token: pass --token or set PAYCRAWL_PUBLISHER_TOKEN", sub)
	}
	c := &keydir.Client{BaseURL: keydirURL, Token: *token}
	emit := func(v any, human func(w *tabwriter.Writer)) error {
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		human(tw)
		return tw.Flush()
	}
	needID := func() (string, error) {
		if len(pos) != 1 {
			return "", fmt.Errorf("agreements %s takes one agreement id (agr_…), got %q", sub, pos)
		}
		return pos[0], nil
	}
	switch sub {
	case "offer":
		if *file == "" || len(pos) > 0 {
			return errors.New("agreements offer: --file offer.json is required, and no arguments")
		}
		a, err := readOffer(*file)
		if err != nil {
			return err
		}
		a.ID = *next
		got, err := c.OfferAgreement(ctx, a)
		if err != nil {
			return err
		}
		return emit(got, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "offered\t%s version %d to %s\n", got.ID, got.Version, got.Account)
			fmt.Fprintf(w, "terms\t%s\n", got.Terms.Summary())
			fmt.Fprintf(w, "scope\t%s\n", got.ScopeSummary())
			fmt.Fprintf(w, "next\tthe operator accepts it with: crawlctl agreements accept %s --version %d --key key.jwk\n", got.ID, got.Version)
		})
	case "list":
		list, err := c.PublisherAgreements(ctx)
		if err != nil {
			return err
		}
		offers, err := c.PublisherOffers(ctx, keydir.OffersQuery{Limit: listOffers})
		if err != nil {
			return err
		}
		list.Agreements = append(list.Agreements, offers.Agreements...)
		list.Total = offers.Total
		return emit(list, func(w *tabwriter.Writer) {
			publisherTable(w, list.Agreements)
			if offers.Total > int64(len(offers.Agreements)) {
				fmt.Fprintf(w, "\n%d more offers pending (the key directory's GET /v1/publishers/me/offers?offset=%d lists them)\n", offers.Total-int64(len(offers.Agreements)), len(offers.Agreements))
			}
		})
	case "show":
		id, err := needID()
		if err != nil {
			return err
		}
		got, err := c.PublisherAgreement(ctx, id)
		if err != nil {
			return err
		}
		return emit(got, func(w *tabwriter.Writer) {
			publisherTable(w, got.Versions)
			latest := &got.Versions[len(got.Versions)-1]
			if latest.ContentDropped {
				fmt.Fprintf(w, "\nversion %d was %s without being accepted; its content is no longer kept (SHA-256 %s)\n", latest.Version, latest.State, latest.ContentSHA256)
				return
			}
			fmt.Fprintf(w, "\nversion %d, as the operator signs it to accept:\n\n%s\n", latest.Version, latest.Canonical())
		})
	case "withdraw":
		id, err := needID()
		if err != nil {
			return err
		}
		if *version < 1 {
			return errors.New("agreements withdraw needs --version N")
		}
		got, err := c.WithdrawAgreement(ctx, id, *version)
		if err != nil {
			return err
		}
		return emit(got, func(w *tabwriter.Writer) { fmt.Fprintf(w, "withdrawn\t%s version %d\n", got.ID, got.Version) })
	}
	return fmt.Errorf("agreements: unknown command %q\n\n%s", sub, agreementsUsage)
}

// readOffer reads an offer's JSON form from path ("-" for stdin), strictly.
func readOffer(path string) (agreement.Agreement, error) {
	var raw []byte
	var err error
	if path == "-" {
		raw, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return agreement.Agreement{}, err
	}
	var a agreement.Agreement
	if err := json.Unmarshal(bytes.TrimSpace(raw), &a); err != nil {
		return agreement.Agreement{}, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// parseInterspersed parses flags anywhere among args and returns the
// positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// listOffers is how many pending offers agreements list shows.
const listOffers = 1000

func publisherTable(w *tabwriter.Writer, all []agreement.Agreement) {
	if len(all) == 0 {
		fmt.Fprintln(w, "No agreements. Offer one with: gateway agreements offer --file offer.json")
		return
	}
	agreement.WriteRows(w, all, "ACCOUNT", func(a *agreement.Agreement) string { return a.Account }, time.Now())
}
