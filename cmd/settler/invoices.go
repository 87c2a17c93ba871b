package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/internal/finance/client"
	"github.com/paycrawl/paycrawl/internal/finance/wire"
)

// Environment variables of `settler invoices`.
const (
	envSettlerURL   = "PAYCRAWL_SETTLER_URL"
	envFinanceToken = "PAYCRAWL_FINANCE_TOKEN"
)

// invoiceCommand is one `settler invoices` subcommand.
type invoiceCommand struct {
	usage, summary string
	run            func(ctx context.Context, c *client.Client, o invoiceOpts, e ioEnv) error
}

// invoiceCommands lists the `settler invoices` subcommands.
func invoiceCommands() map[string]invoiceCommand {
	return map[string]invoiceCommand{
		"list":    {"list [--day D] [--status S]", "a day's invoices (yesterday by default) and their totals", invList},
		"summary": {"summary [--day D]", "a day's counts and totals by status and rail, carried amounts", invSummary},
		"show":    {"show ID", "one invoice: lines, history, charge attempts, reconciliation ids", invShow},
		"hold":    {"hold ID --reason R", "stop an invoice from being approved or charged", invAction("hold")},
		"release": {"release ID [--reason R]", "return a held invoice to draft", invAction("release")},
		"void":    {"void ID --reason R", "cancel an invoice for good", invAction("void")},
		"approve": {"approve ID [--reason R]", "approve a checked draft before its review window ends", invAction("approve")},
		"credit":  {"credit ID --line N --amount 0.01 --reason R", "set a line's credit (absolute; 0 removes it)", invCredit},
		"refund":  {"refund ID [--amount X] --reason R", "refund a paid invoice: all that is left, or --amount of it (a prepaid top-up: its unspent credit, all at once)", invRefund},
		"topup": {"topup --account OP --agreement AGR [--amount X] [--id ID] [--reason R]",
			"buy prepaid credit now: charged on the crawler's rail, credited once paid; --id makes a retry charge nothing twice", invTopUp},
		"export": {"export --day D [--status S] [--out F] | ID [--out F]", "CSV of a day's invoices, or of one invoice's commitments", invExport},
		"audit":  {"audit ID", "re-verify every commitment's signature and the sums; exits 1 on a problem", invAudit},
		"queue":  {"queue", "what needs a person in the last 31 days: failed, held, pending, drafts in review", invQueue},
	}
}

// invoiceOpts are the flags of `settler invoices`.
type invoiceOpts struct {
	api         apiFlags
	json        bool
	day, status string
	reason      string
	line        int
	amount      string
	out         string
	// account, agreement and topUpID are a top-up's.
	account, agreement, topUpID string
	// args are the positional arguments (the invoice id).
	args       []string
	flagsGiven map[string]bool
	subcommand string
}

// cmdInvoices is `settler invoices <subcommand> …`: finance review against
// the settler's API, human tables by default, --json for tools.
func cmdInvoices(ctx context.Context, args []string, e ioEnv) error {
	cmds := invoiceCommands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(e.stdout, invoicesUsage(cmds))
		if len(args) == 0 {
			return errors.New("invoices: a subcommand is required")
		}
		return nil
	}
	sub, ok := cmds[args[0]]
	if !ok {
		return fmt.Errorf("invoices: unknown subcommand %q\n%s", args[0], invoicesUsage(cmds))
	}
	o, err := parseInvoiceOpts(args[0], sub, args[1:], e)
	if err != nil {
		return err
	}
	c, err := client.New(o.api.url, o.api.token)
	if err != nil {
		return err
	}
	return sub.run(ctx, c, o, e)
}

func invoicesUsage(cmds map[string]invoiceCommand) string {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: settler invoices <subcommand> [--url URL] [--token T] [--json] …\n\nsubcommands:\n")
	tw := table(&b)
	for _, n := range names {
		fmt.Fprintf(tw, "  %s\t%s\n", cmds[n].usage, cmds[n].summary)
	}
	_ = tw.Flush()
	fmt.Fprintf(&b, "\nThe API is at --url or $%s (default %s); the token is --token or $%s\n"+
		"(prefer the variable: a flag shows in the process list). Lines are numbered from 1.\n",
		envSettlerURL, client.DefaultURL, envFinanceToken)
	return b.String()
}

// parseInterleaved parses args with fs, flags before or after the
// positional arguments, and returns those.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
}

// apiFlags are the finance API's address and token, from the flags or the
// environment.
type apiFlags struct{ url, token string }

func (a *apiFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.url, "url", "", "the settler's finance API (default $"+envSettlerURL+" or "+client.DefaultURL+")")
	fs.StringVar(&a.token, "token", "", "a finance or viewer token (default $"+envFinanceToken+"; prefer the variable: a flag shows in the process list)")
}

// resolve fills what the flags left empty from the environment.
func (a *apiFlags) resolve(e ioEnv) error {
	if a.url == "" {
		a.url = e.getenv(envSettlerURL)
	}
	if a.url == "" {
		a.url = client.DefaultURL
	}
	if a.token == "" {
		a.token = e.getenv(envFinanceToken)
	}
	if a.token == "" {
		return fmt.Errorf("a finance token is required: set $%s (or --token)", envFinanceToken)
	}
	return nil
}

// parseInvoiceOpts parses the flags, which may come before or after the
// invoice id.
func parseInvoiceOpts(name string, sub invoiceCommand, args []string, e ioEnv) (invoiceOpts, error) {
	o := invoiceOpts{subcommand: name}
	fs := flag.NewFlagSet("settler invoices "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() { fmt.Fprintf(e.stderr, "usage: settler invoices %s\n", sub.usage); fs.PrintDefaults() }
	o.api.register(fs)
	fs.BoolVar(&o.json, "json", false, "print JSON (audit: the NDJSON stream)")
	fs.StringVar(&o.day, "day", "", "the UTC day, YYYY-MM-DD, yesterday or today")
	fs.StringVar(&o.status, "status", "", "only invoices of this status")
	fs.StringVar(&o.reason, "reason", "", "why; recorded in the invoice's history with your token's name")
	fs.IntVar(&o.line, "line", 0, "the line to credit, from 1")
	fs.StringVar(&o.amount, "amount", "", "credit: the line's credit; refund: what to refund (default all that is left); topup: the credit to buy (default the agreement's own); a decimal such as 0.25")
	fs.StringVar(&o.out, "out", "", "write the CSV to this file instead of standard output")
	fs.StringVar(&o.account, "account", "", "topup: the crawler operator (op_…)")
	fs.StringVar(&o.agreement, "agreement", "", "topup: its prepaid agreement (agr_…)")
	fs.StringVar(&o.topUpID, "id", "", "topup: the top-up's id, 1 to 32 lower-case letters and digits (default: a new one, printed); the same id again is the same top-up")
	var err error
	if o.args, err = parseInterleaved(fs, args); err != nil {
		return o, err
	}
	o.flagsGiven = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.flagsGiven[f.Name] = true })
	if err := o.api.resolve(e); err != nil {
		return o, fmt.Errorf("invoices %s: %w", name, err)
	}
	if o.day != "" {
		day, err := parseDay(o.day, time.Now())
		if err != nil {
			return o, err
		}
		o.day = day
	}
	return o, nil
}

// id returns the one invoice id the subcommand takes.
func (o invoiceOpts) id() (string, error) {
	if len(o.args) != 1 {
		return "", fmt.Errorf("invoices %s: want one invoice id, got %d arguments", o.subcommand, len(o.args))
	}
	return o.args[0], nil
}

// only refuses flags the subcommand does not take.
func (o invoiceOpts) only(allowed ...string) error {
	ok := map[string]bool{"url": true, "token": true, "json": true}
	for _, a := range allowed {
		ok[a] = true
	}
	for f := range o.flagsGiven {
		if !ok[f] {
			return fmt.Errorf("invoices %s: --%s does not apply", o.subcommand, f)
		}
	}
	return nil
}

func invList(ctx context.Context, c *client.Client, o invoiceOpts, e ioEnv) error {
	if err := o.only("day", "status"); err != nil {
		return err
	}
	if len(o.args) > 0 {
		return fmt.Errorf("invoices list: unexpected arguments %q", o.args)
	}
	list, err := c.Invoices(ctx, o.day, o.status)
	if err != nil {
		return err
	}
	return emit(e.stdout, o.json, list, func(w io.Writer) { writeInvoiceList(w, list) })
}

func invQueue(ctx context.Context, c *client.Client, o invoiceOpts, e ioEnv) error {
	if err := o.only(); err != nil {
		return err
	}
	if len(o.args) > 0 {
		return fmt.Errorf("invoices queue: unexpected arguments %q", o.args)
	}
	q, err := c.Queue(ctx, "", "")
	if err != nil {
		return err
	}
	return emit(e.stdout, o.json, q, func(w io.Writer) {
		if len(q.Items) == 0 {
			fmt.Fprintf(w, "nothing needs a person from %s to %s\n", q.From, q.To)
			return
		}
		tw := table(w)
		fmt.Fprintln(tw, "DAY\tINVOICE\tCRAWLER\tSTATUS\tTOTAL\tWHAT TO DO")
		for _, it := range q.Items {
			inv := it.Invoice
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s %s\t%s\n", inv.Day, inv.ID, crawlerName(inv), inv.Status, inv.Currency, inv.Total, it.Reason)
		}
		_ = tw.Flush()
		fmt.Fprintf(w, "%d invoices need a person (%s to %s)\n", len(q.Items), q.From, q.To)
	})
}

func invSummary(ctx context.Context, c *client.Client, o invoiceOpts, e ioEnv) error {
	if err := o.only("day"); err != nil {
		return err
	}
	day := o.day
	if day == "" {
		day = parseYesterday()
	}
	s, err := c.Summary(ctx, day)
	if err != nil {
		return err
	}
	return emit(e.stdout, o.json, s, func(w io.Writer) { writeSummary(w, s) })
}

// parseYesterday is the default day of commands that need one.
func parseYesterday() string {
	d, _ := parseDay("yesterday", time.Now())
	return d
}

func invShow(ctx context.Context, c *client.Client, o invoiceOpts, e ioEnv) error {
	if err := o.only(); err != nil {
		return err
	}
	id, err := o.id()
	if err != nil {
		return err
	}
	inv, err := c.Invoice(ctx, id)
	if err != nil {
		return err
	}
	return emit(e.stdout, o.json, inv, func(w io.Writer) { writeInvoice(w, inv) })
}

// invAction is hold, release, void or approve.
func invAction(action string) func(ctx context.Context, c *client.Client, o invoiceOpts, e ioEnv) error {
	return func(ctx context.Context, c *client.Client, o invoiceOpts, e ioEnv) error {
		if err := o.only("reason"); err != nil {
			return err
		}
		id, err := o.id()
		if err != nil {
			return err
		}
		if o.reason == "" && (action == "hold" || action == "void") {
			return fmt.Errorf("invoices %s: --reason is required; it is recorded in the invoice's history", action)
		}
		var res *wire.ActionResult
		switch action {
		case "hold":
			res, err = c.Hold(ctx, id, o.reason)
		case "release":
			res, err = c.Release(ctx, id, o.reason)
		case "void":
			res, err = c.Void(ctx, id, o.reason)
		case "approve":
			res, err = c.Approve(ctx, id, o.reason)
		}
		if err != nil {
			return err
		}
		return emit(e.stdout, o.json, res, func(w io.Writer) { writeActionResult(w, res) })
	}
}

func invCredit(ctx context.Context, c *client.Client, o invoiceOpts, e ioEnv) error {
	if err := o.only("line", "amount", "reason"); err != nil {
		return err
	}
	id, err := o.id()
	if err != nil {
		return err
	}
	switch {
	case o.line < 1:
		return errors.New("invoices credit: --line is required (from 1, as `settler invoices show` numbers them)")
	case o.amount == "":
		return errors.New("invoices credit: --amount is required (the line's new credit, e.g. 0.25; 0 removes it)")
	case o.reason == "":
		return errors.New("invoices credit: --reason is required; it is recorded in the invoice's history")
	}
	res, err := c.Credit(ctx, id, o.line, o.amount, o.reason)
	if err != nil {
		return err
	}
	return emit(e.stdout, o.json, res, func(w io.Writer) { writeActionResult(w, res) })
}

func invTopUp(ctx context.Context, c *client.Client, o invoiceOpts, e ioEnv) error {
	if err := o.only("account", "agreement", "amount", "id", "reason"); err != nil {
		return err
	}
	if len(o.args) > 0 {
		return fmt.Errorf("invoices topup: takes no arguments, got %q", o.args)
	}
	if o.account == "" || o.agreement == "" {
		return errors.New("invoices topup: --account and --agreement are required: the crawler operator and its prepaid agreement")
	}
	if o.topUpID == "" {
		var err error
		if o.topUpID, err = newTopUpID(); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "top-up id %s: should this command fail midway, run it again with --id %s; it is never charged twice\n", o.topUpID, o.topUpID)
	}
	res, err := c.TopUp(ctx, wire.TopUpRequest{ID: o.topUpID, Account: o.account, Agreement: o.agreement, Amount: o.amount, Reason: o.reason})
	if err != nil {
		return err
	}
	return emit(e.stdout, o.json, res, func(w io.Writer) {
		fmt.Fprintln(w, res.Message)
		fmt.Fprintln(w)
		writeInvoice(w, &res.Invoice)
	})
}

// newTopUpID mints a top-up id: 16 lower-case base32 characters (80
// random bits).
func newTopUpID() (string, error) {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])), nil
}

func invRefund(ctx context.Context, c *client.Client, o invoiceOpts, e ioEnv) error {
	if err := o.only("amount", "reason"); err != nil {
		return err
	}
	id, err := o.id()
	if err != nil {
		return err
	}
	if o.reason == "" {
		return errors.New("invoices refund: --reason is required; it is recorded in the invoice's history")
	}
	res, err := c.Refund(ctx, id, o.amount, o.reason)
	if err != nil {
		return err
	}
	return emit(e.stdout, o.json, res, func(w io.Writer) { writeActionResult(w, res) })
}

func invExport(ctx context.Context, c *client.Client, o invoiceOpts, e ioEnv) (err error) {
	if err := o.only("day", "status", "out"); err != nil {
		return err
	}
	var export func(w io.Writer) error
	switch {
	case len(o.args) == 0 && o.day != "":
		export = func(w io.Writer) error { return c.ExportDay(ctx, o.day, o.status, w) }
	case len(o.args) == 1 && o.day == "" && o.status == "":
		export = func(w io.Writer) error { return c.ExportCommitments(ctx, o.args[0], w) }
	default:
		return errors.New("invoices export: give --day D (the day's invoices) or one invoice id (its commitments)")
	}
	if o.out == "" {
		return export(e.stdout)
	}
	f, err := os.Create(o.out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(o.out) // no half-written export left behind
		}
	}()
	if err := export(f); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "wrote %s\n", o.out)
	return nil
}

func invAudit(ctx context.Context, c *client.Client, o invoiceOpts, e ioEnv) error {
	if err := o.only(); err != nil {
		return err
	}
	id, err := o.id()
	if err != nil {
		return err
	}
	enc := json.NewEncoder(e.stdout)
	hooks := client.AuditHooks{
		Failure: func(f wire.AuditFailure) {
			if o.json {
				_ = enc.Encode(f)
				return
			}
			fmt.Fprintf(e.stdout, "FAILED  %s  %s %s%s  %s\n", f.Commitment, f.Site, f.Path, priceText(f.Price), f.Reason)
		},
		Progress: func(p wire.AuditProgress) {
			if o.json {
				_ = enc.Encode(p)
				return
			}
			fmt.Fprintf(e.stderr, "checked %d commitments…\n", p.Checked)
		},
	}
	sum, err := c.Audit(ctx, id, hooks)
	if err != nil {
		return err
	}
	if o.json {
		if err := enc.Encode(sum); err != nil {
			return err
		}
	} else {
		writeAuditSummary(e.stdout, sum)
	}
	if !sum.OK {
		return fmt.Errorf("audit of %s: %d of %d commitments failed; sums %s", id, sum.Failed, sum.Commitments, okWord(sum.SumsOK))
	}
	return nil
}

func priceText(p string) string {
	if p == "" {
		return ""
	}
	return " (" + p + ")"
}

func okWord(ok bool) string {
	if ok {
		return "add up"
	}
	return "differ"
}
