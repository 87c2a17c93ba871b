package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

// DefaultKeydir is the key directory used when neither --keydir nor
// PAYCRAWL_KEYDIR_URL is set.
const DefaultKeydir = "http://127.0.0.1:8403"

// usageError is a mistake in the command line; main exits with status 2.
type usageError struct{ msg string }

// Error implements error.
func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// commandHelp is what a command does and how it is called.
type commandHelp struct {
	// synopsis is the command line after "crawlctl ", for help.
	synopsis string
	// about says what the command does, for its -h.
	about string
}

// helps is the help of each command (the functions are in run's table:
// they print this help, so a package-level table of both would be an
// initialization cycle).
var helps = map[string]commandHelp{
	"keygen": {"keygen --out key.jwk [--force]",
		"Generate an Ed25519 private key, write it as a JWK readable by you only (0600), and print its keyid."},
	"register": {"register --key key.jwk [--name N --contact EMAIL | --token T] [--rail stripe|evm ...]",
		"Sign up (or use --token for an existing operator), register the key with a proof of possession, and set\n" +
			"the billing profile. Everything that can be checked here (contact, rail, cap, max price, wallet, key file)\n" +
			"is checked before the sign-up, so that a mistake leaves no half-registered operator behind.\n" +
			"Rail evm proves the wallet: --wallet-key FILE (hex key, signs here), or --print-wallet-message, then\n" +
			"--wallet-signature 0x… --wallet-issued-at T in a second run."},
	"keys":   {"keys", "List your keys and their status."},
	"rotate": {"rotate --key new.jwk [--overlap 24h]", "Register a new key; the active ones stay valid for the overlap, then stop."},
	"revoke": {"revoke [--yes] [--] KEYID",
		"Revoke a key for good. Revoking your last active key stops every paid fetch: crawlctl asks for --yes first.\n" +
			"A key id that starts with \"-\" goes after \"--\"."},
	"fetch": {"fetch URL --key key.jwk [--max-price 0.05] [--dialect deferred|x402|crawler-price] [--preauthorize]",
		"Fetch a page with a signed request that pays within --max-price (default: the default max price of your\n" +
			"billing profile, read with --token). A refusal prints the gateway's message and exits 4, 5 or 6."},
	"usage": {"usage [--day YYYY-MM-DD | --from YYYY-MM-DD --to YYYY-MM-DD]",
		"Your usage and invoices for a day (default today, UTC) or a range of at most 93 days, and what is left of\n" +
			"today's daily cap."},
	"webhooks": {"webhooks [list | add URL [--events usage.cap_80,…] | remove ID | log ID]",
		"Your webhook endpoints: the settler signs and sends them your events (daily cap at 80 %\n" +
			"and 100 %, a rotated key about to expire, your invoices paid or failed), retries a failed delivery\n" +
			"with backoff and logs each attempt."},
	"agreements": {"agreements [list | show ID | accept ID --version N --key key.jwk | decline ID --version N]",
		"Agreements publishers offer you (negotiated rates, subscriptions, prepaid credit). list prints the versions you\n" +
			"accepted, then the offers awaiting your decision (a publisher may have 8 pending with you). show prints every version\n" +
			"and the exact text an acceptance signs; accept signs that version with your key (as register proves a key)\n" +
			"and sends it; only the latest offered version can be accepted, and --version must name it."},
	"settlement-period": {"settlement-period daily|weekly|monthly",
		"How often you are invoiced: one charge per day (the default), per week (Monday to Sunday, UTC) or per month."},
	"reconcile": {"reconcile [--day YYYY-MM-DD] [--receipts FILE]",
		"Compare the day's commitments with fetch's receipt log: lists charges for pages not delivered (exit 3 if any)."},
}

// commandOrder is the order of the usage text.
var commandOrder = []string{"keygen", "register", "keys", "rotate", "revoke", "fetch", "usage", "reconcile", "webhooks", "agreements", "settlement-period"}

// exitCodesText documents main's exit statuses.
const exitCodesText = `exit status:
  0  done
  1  any other error (a file that cannot be read, a bad answer)
  2  usage error: a mistake in the command line
  3  reconcile found differences between your receipts and the ledger
  4  refused: the gateway or key directory refused the request (signature, key, block, bad input)
  5  payment: payment required or failed (402, or crawler-error PaymentFailed: price above your
     max price, daily cap, billing)
  6  unavailable: network error, timeout or a 5xx answer; nothing says it was not recorded: reconcile
`

// usageText is the help of crawlctl itself.
var usageText = func() string {
	var b strings.Builder
	b.WriteString("usage: crawlctl <command> [flags]   (crawlctl <command> -h for its flags)\n\ncommands:\n")
	for _, name := range commandOrder {
		fmt.Fprintf(&b, "  %s\n", helps[name].synopsis)
	}
	b.WriteString("\ncommon flags: --keydir URL (PAYCRAWL_KEYDIR_URL), --token pct_… (PAYCRAWL_TOKEN), --json\n\n")
	b.WriteString(exitCodesText)
	return b.String()
}()

// errHelp is returned by parse when -h was asked for and the help printed.
var errHelp = errors.New("help shown")

// env is what every command shares: where to write, the key directory, the
// token and the output mode.
type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	keydir string
	token  string
	json   bool
}

// flags returns a FlagSet with the common flags bound to e.
func (e *env) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("crawlctl "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		c := helps[name]
		fmt.Fprintf(e.stdout, "usage: crawlctl %s\n\n%s\n\nflags:\n", c.synopsis, c.about)
		fs.SetOutput(e.stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		fmt.Fprintf(e.stdout, "\n%s", exitCodesText)
	}
	keydir := e.getenv("PAYCRAWL_KEYDIR_URL")
	if keydir == "" {
		keydir = DefaultKeydir
	}
	fs.StringVar(&e.keydir, "keydir", keydir, "key directory base URL")
	fs.StringVar(&e.token, "token", e.getenv("PAYCRAWL_TOKEN"), "operator API token")
	fs.BoolVar(&e.json, "json", false, "print JSON for scripts")
	return fs
}

// parse parses flags anywhere among the arguments and returns the
// positional ones. On -h or --help it prints the command's help (its
// FlagSet's Usage) and returns errHelp, which run turns into success.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	help := fs.Usage
	fs.Usage = func() {} // the flag package calls it on every error too
	defer func() { fs.Usage = help }()
	// Everything after "--" is positional: a key id (a base64url
	// thumbprint) starts with "-" one time in 64.
	var rest []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, rest = args[:i], args[i+1:]
	}
	var pos []string
	for {
		if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
			help()
			return nil, errHelp
		} else if err != nil {
			hint := ""
			if strings.HasPrefix(err.Error(), "flag provided but not defined: -") && len(err.Error()) > 60 {
				hint = "; an argument that starts with \"-\", such as a key id, goes after \"--\""
			}
			return nil, usagef("%s: %v%s (crawlctl %s -h for help)", fs.Name(), err, hint, strings.TrimPrefix(fs.Name(), "crawlctl "))
		}
		args = fs.Args()
		if len(args) == 0 {
			return append(pos, rest...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (e *env) client() *keydir.Client { return &keydir.Client{BaseURL: e.keydir, Token: e.token} }

func (e *env) needToken() error {
	if e.token == "" {
		return usagef("no API token: pass --token or set PAYCRAWL_TOKEN (register prints it once)")
	}
	return nil
}

// emit prints v as JSON with --json, else calls human with a tab writer.
func (e *env) emit(v any, human func(w *tabwriter.Writer)) error {
	if e.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	human(tw)
	return tw.Flush()
}

// run executes one crawlctl command line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) == 2 && args[0] == "help" {
			if _, ok := helps[args[1]]; ok {
				return run(ctx, []string{args[1], "-h"}, stdout, stderr, getenv)
			}
		}
		fmt.Fprint(stdout, usageText)
		if len(args) == 0 {
			return usagef("no command")
		}
		return nil
	}
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr, getenv: getenv}
	cmds := map[string]func(*env, []string) error{
		"keygen":            cmdKeygen,
		"register":          cmdRegister,
		"keys":              cmdKeys,
		"rotate":            cmdRotate,
		"revoke":            cmdRevoke,
		"fetch":             cmdFetch,
		"usage":             cmdUsage,
		"reconcile":         cmdReconcile,
		"webhooks":          cmdWebhooks,
		"agreements":        cmdAgreements,
		"settlement-period": cmdSettlementPeriod,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		return usagef("unknown command %q\n%s", args[0], usageText)
	}
	err := cmd(e, args[1:])
	if errors.Is(err, errHelp) {
		return nil
	}
	var ae *keydir.APIError
	if errors.As(err, &ae) {
		return &refusalError{class: classOfStatus(ae.Status), msg: fmt.Sprintf("%s: the key directory answered %s: %s", args[0], ae.Code, ae.Message)}
	}
	return err
}

// short abbreviates a long id for tables.
func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
