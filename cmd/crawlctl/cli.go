package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
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

const usageText = `usage: crawlctl <command> [flags]

commands:
  keygen    --out key.jwk [--force]              generate an Ed25519 private key (0600) and print its keyid
  register  --key key.jwk [--name N --contact C] [--rail stripe|evm ...]
                                                 sign up (or use --token), register the key, set billing;
                                                 rail evm proves the wallet: --wallet-key FILE (hex key, signs here),
                                                 or --print-wallet-message, then --wallet-signature 0x… --wallet-issued-at T
  keys                                           list your keys
  rotate    --key new.jwk [--overlap 24h]        register a new key; the active ones stay valid for the overlap
  revoke    KEYID                                revoke a key for good
  fetch     URL --key key.jwk --max-price 0.05 [--dialect deferred|x402|crawler-price] [--preauthorize]
                                                 fetch a page with a signed, paying request
  usage     [--day YYYY-MM-DD]                   your usage and invoices
  reconcile [--day YYYY-MM-DD] [--receipts FILE] compare the day's commitments with fetch's receipt log:
                                                 lists charges for pages not delivered (exit 3 if any)

common flags: --keydir URL (PAYCRAWL_KEYDIR_URL), --token pct_… (PAYCRAWL_TOKEN), --json
`

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
// positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
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
		fmt.Fprint(stdout, usageText)
		if len(args) == 0 {
			return usagef("no command")
		}
		return nil
	}
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr, getenv: getenv}
	cmds := map[string]func(*env, []string) error{
		"keygen":    cmdKeygen,
		"register":  cmdRegister,
		"keys":      cmdKeys,
		"rotate":    cmdRotate,
		"revoke":    cmdRevoke,
		"fetch":     cmdFetch,
		"usage":     cmdUsage,
		"reconcile": cmdReconcile,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		return usagef("unknown command %q\n%s", args[0], usageText)
	}
	err := cmd(e, args[1:])
	var ae *keydir.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("%s: the key directory answered %s: %s", args[0], ae.Code, ae.Message)
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
