package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/paycrawl/paycrawl/internal/stack"
)

// keepRunning, with -keep, leaves the platform running until Ctrl-C and
// says how to look around; without it, it does nothing.
func keepRunning(ctx context.Context, d *demoRun) error {
	if !d.keep {
		return nil
	}
	st := d.st
	d.section("Still running: press Ctrl-C to stop")
	envPath, err := writeEnv(st, d.crawlers())
	if err != nil {
		return err
	}
	fmt.Printf("finance page   %s/ (sign in with the token %s)\n", st.SettlerURL, st.FinanceToken)
	fmt.Printf("publisher page %s/publisher/ (sign in with %s's token %s)\n", st.SettlerURL, d.news.ID, d.news.Token)
	fmt.Printf("gateway        %s/articles/1\n", st.Gateway)
	fmt.Printf("key directory  %s\n", st.Keydir)
	fmt.Printf("in review      tight-budget's invoice is held: the finance page lists it under Needs attention\n")
	fmt.Printf("\nevery token and URL is in %s; in another terminal:\n\n", envPath)
	fmt.Printf("  . %s\n", envPath)
	fmt.Printf("  crawlctl usage                      # acme-search's usage and cap remaining\n")
	fmt.Printf("  crawlctl fetch \"$PAYCRAWL_GATEWAY_URL/free/about\" --key \"$ACME_KEY\"\n")
	fmt.Printf("  settler invoices list               # the latest day's invoices, with names\n")
	fmt.Printf("  curl -s -H \"Authorization: Bearer $PAYCRAWL_FINANCE_TOKEN\" \"$PAYCRAWL_SETTLER_URL/v1/queue\"\n")
	<-ctx.Done()
	return nil
}

// writeEnv writes every token and URL of the running demo to <dir>/ENV,
// as shell exports (0600: it holds secrets), and returns its path. The
// crawlctl variables are acme-search's; each crawler's token and key are
// there by name too. PATH gains the demo's bin/, where crawlctl and
// settler are.
func writeEnv(st *stack.Stack, crawlers []*stack.Crawler) (string, error) {
	bin, err := filepath.Abs(filepath.Dir(st.Bin("crawlctl")))
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# The kept paycrawl demo: . this file in a shell (it holds secrets; mode 0600).\n")
	line := func(k, v string) { fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(v)) }
	fmt.Fprintf(&b, "export PATH=%s:\"$PATH\"\n", shellQuote(bin))
	line("PAYCRAWL_KEYDIR_URL", st.Keydir)
	line("PAYCRAWL_GATEWAY_URL", st.Gateway)
	line("PAYCRAWL_SETTLER_URL", st.SettlerURL)
	line("PAYCRAWL_FINANCE_TOKEN", st.FinanceToken)
	line("PAYCRAWL_ADMIN_TOKEN", st.AdminToken)
	line("PAYCRAWL_PUBLISHER_TOKEN", st.PublisherToken)
	for i, c := range crawlers {
		name := strings.ToUpper(strings.NewReplacer("-", "_").Replace(strings.SplitN(c.Name, "-", 2)[0]))
		line(name+"_OPERATOR", c.OperatorID)
		line(name+"_TOKEN", c.Token)
		line(name+"_KEY", c.KeyPath)
		line(name+"_AGENT", c.AgentURL)
		if i == 0 {
			line("PAYCRAWL_TOKEN", c.Token)
		}
	}
	path := filepath.Join(filepath.Dir(bin), "ENV")
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
