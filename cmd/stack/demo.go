package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/paycrawl/paycrawl/internal/stack"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// demo runs the platform end to end (make demo): two paying crawler
// operators, one by card and one by stablecoin, crawl a publisher's site
// through the gateway; the day is closed and settled on both rails.
func demo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	dir := fs.String("dir", "", "working directory, kept afterwards (default: a temporary one, removed)")
	keep := fs.Bool("keep", false, "keep the platform running until Ctrl-C, to look around")
	cluster := fs.Bool("cluster", false, "distributed: Redis Cluster of 3 masters with a replica each, two gateways, two settlers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, cleanup, err := newStack(ctx, *dir, stack.Options{Fsync: "always", Cluster: *cluster})
	if err != nil {
		return err
	}
	defer cleanup()
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	section := func(title string) {
		w.Flush()
		fmt.Printf("\n== %s\n", title)
	}

	section("Starting the platform on loopback")
	for _, step := range []func(context.Context) error{st.StartRedis, st.StartStripe} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	walletKey, wallet, err := stack.NewKey()
	if err != nil {
		return err
	}
	chain, err := st.StartChain(ctx, wallet)
	if err != nil {
		return err
	}
	if err := st.StartKeydir(ctx, stack.KeydirOptions{SettlerAddress: chain.Settler, TokenAddress: chain.Token, ChainID: 1337}); err != nil {
		return err
	}
	if err := st.StartOrigin(ctx, 4096); err != nil {
		return err
	}

	section("Crawler operators register keys and billing (crawlctl)")
	acme, err := st.Register(ctx, "acme-search", "--rail", "stripe", "--daily-cap", "20.00", "--max-price", "0.10")
	if err != nil {
		return err
	}
	// chainbot's wallet proves it is chainbot's: crawlctl signs the proof
	// with the wallet's key.
	walletFile, err := st.WalletKeyFile("chainbot", walletKey)
	if err != nil {
		return err
	}
	chainbot, err := st.Register(ctx, "chainbot", "--rail", "evm", "--wallet", wallet, "--wallet-key", walletFile, "--daily-cap", "20.00", "--max-price", "0.10")
	if err != nil {
		return err
	}
	tight, err := st.Register(ctx, "tight-budget", "--rail", "stripe", "--daily-cap", "0.03", "--max-price", "0.01")
	if err != nil {
		return err
	}
	blocked, err := st.Register(ctx, "scraper-x", "--rail", "stripe", "--daily-cap", "5.00", "--max-price", "0.10")
	if err != nil {
		return err
	}
	// chainbot's wallet holds test USDC and approves the settler.
	if _, err := st.Settler(ctx, "devchain", "mint", "-rpc", chain.RPC, "-key", chain.SettlerKey, "-token", chain.Token, "-to", wallet, "-amount", "25.00"); err != nil {
		return err
	}
	if _, err := st.Settler(ctx, "devchain", "approve", "-rpc", chain.RPC, "-key", walletKey, "-token", chain.Token, "-spender", chain.Settler, "-amount", "20.00"); err != nil {
		return err
	}
	fmt.Printf("chainbot's wallet %s holds 25.00 USDC and approved the settler %s for 20.00\n", wallet, chain.Settler)

	section("The publisher's gateway (blocking scraper-x)")
	if err := st.StartGateway(ctx, fmt.Sprintf("      - operator: %s\n        action: block\n", blocked.OperatorID)); err != nil {
		return err
	}
	// In cluster mode a second, stateless gateway serves half the crawlers:
	// both append to the same ledger.
	gateways := []string{st.Gateway}
	if *cluster {
		gw2, err := st.StartGatewayReplica(ctx, "gateway-2")
		if err != nil {
			return err
		}
		// The replica has no crawler overrides: scraper-x crawls through
		// the first gateway, which blocks it.
		gateways = append(gateways, gw2)
	}

	section("Crawling " + st.Gateway + " through the gateway")
	type job struct {
		c      *stack.Crawler
		paths  []string
		extra  []string
		expect string
	}
	var articles, premium []string
	for i := 1; i <= 20; i++ {
		articles = append(articles, fmt.Sprintf("/articles/%d", i))
	}
	for i := 1; i <= 8; i++ {
		premium = append(premium, fmt.Sprintf("/premium/report-%d", i))
	}
	jobs := []job{
		{acme, append(append(append([]string{}, articles...), premium...), "/free/about", "/free/contact", "/robots.txt"), []string{"--dialect", "deferred"}, ""},
		{chainbot, append(append([]string{}, articles[:10]...), premium[:2]...), []string{"--dialect", "x402"}, ""},
		{tight, articles[:4], []string{"--preauthorize"}, ""},
		{blocked, articles[:2], []string{"--preauthorize"}, ""},
	}
	if len(gateways) > 1 {
		fmt.Printf("acme-search and tight-budget crawl through %s, chainbot through %s\n", gateways[0], gateways[1])
	}
	fmt.Fprintln(w, "CRAWLER\tPATH\tSTATUS\tCHARGED\tNOTE")
	counts := map[string]int{}
	for ji, j := range jobs {
		gw := st.Gateway
		if j.c != blocked {
			gw = gateways[ji%len(gateways)]
		}
		for _, p := range j.paths {
			args := append([]string{"fetch", gw + p, "--key", j.c.KeyPath, "--agent", j.c.AgentURL, "--max-price", "0.10", "--json"}, j.extra...)
			out, err := st.Crawlctl(ctx, j.c.Token, args...)
			if ee := (*exec.ExitError)(nil); errors.As(err, &ee) && ee.ExitCode() >= 4 && ee.ExitCode() <= 6 && json.Valid(out) {
				err = nil // refused (4), payment (5) or unavailable (6): the JSON says which and why
			}
			if err != nil {
				return err
			}
			var r struct {
				Status  int `json:"status"`
				Charged *struct {
					Amount, Currency string
				} `json:"charged"`
				CrawlerError string `json:"crawler_error"`
			}
			if err := json.Unmarshal(out, &r); err != nil {
				return fmt.Errorf("crawlctl fetch output: %v\n%s", err, out)
			}
			charged, note := "-", ""
			if r.Charged != nil {
				charged = r.Charged.Currency + " " + r.Charged.Amount
				counts["paid"]++
			} else if r.Status == 200 {
				note = "free"
				counts["free"]++
			} else {
				note = r.CrawlerError
				counts[r.CrawlerError]++
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", j.c.Name, p, r.Status, charged, note)
		}
	}
	w.Flush()
	fmt.Printf("%d paid, %d free, %d refused over the daily cap (403 %s), %d blocked (403 %s)\n", counts["paid"], counts["free"],
		counts[deferred.PaymentFailed], deferred.PaymentFailed, counts[deferred.CrawlerForbidden], deferred.CrawlerForbidden)
	if err := browserView(ctx, st.Gateway+"/articles/1"); err != nil {
		return err
	}
	if err := apiSite(ctx, st, w, acme, chainbot); err != nil {
		return err
	}

	section("The publisher's view: usage and revenue per crawler today (gateway admin API)")
	names := map[string]string{}
	for _, c := range []*stack.Crawler{acme, chainbot, tight, blocked} {
		names[c.OperatorID] = c.Name
	}
	if err := publisherUsage(ctx, st, w, names); err != nil {
		return err
	}

	day := time.Now().UTC().Format(time.DateOnly)
	cfgPath, err := st.WriteSettlerConfig(chain, 0)
	if err != nil {
		return err
	}
	section("The settler closes the day " + day + " (early, for the demo) and charges it: review window 0")
	settlers := 1
	if *cluster {
		settlers = 2
		fmt.Println("two settlers run each step at the same time: the ledger's lock lets one work, the other skips")
	}
	serving := false
	for _, step := range [][]string{{"close", "-config", cfgPath, "-day", day, "-early"}, {"charge", "-config", cfgPath, "-day", day}} {
		if *keep && step[0] == "charge" {
			// Leave something for a person: tight-budget's invoice is held
			// before the charge, and waits in the finance queue.
			if err := st.StartSettlerServe(ctx, cfgPath); err != nil {
				return err
			}
			serving = true
			held := ledger.InvoiceID(tight.OperatorID, day, "USD")
			out, err := st.Settler(ctx, "invoices", "hold", held, "--reason", "demo: left in review for you (release or void it)")
			if err != nil {
				return err
			}
			fmt.Print(string(out))
		}
		outs, errs := make([][]byte, settlers), make([]error, settlers)
		var wg sync.WaitGroup
		for i := range outs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				outs[i], errs[i] = st.Settler(ctx, step...)
			}()
		}
		wg.Wait()
		for i := range outs {
			if settlers > 1 {
				fmt.Printf("-- settler %d %s:\n", i+1, step[0])
			}
			if errs[i] != nil && settlers > 1 && strings.Contains(errs[i].Error(), "lock held") {
				fmt.Println("another settler holds the lock: skipped (it did the work)")
				continue
			}
			if errs[i] != nil {
				return errs[i]
			}
			fmt.Print(string(outs[i]))
		}
	}

	if !serving {
		if err := st.StartSettlerServe(ctx, cfgPath); err != nil {
			return err
		}
	}
	section("Finance review: settler invoices summary and list (the API at " + st.SettlerURL + ")")
	for _, args := range [][]string{{"summary", "--day", day}, {"list", "--day", day}} {
		out, err := st.Settler(ctx, append([]string{"invoices"}, args...)...)
		if err != nil {
			return err
		}
		fmt.Print(string(out))
		fmt.Println()
	}

	section("Reconciliation")
	for _, who := range []struct{ name, addr string }{{"chainbot's wallet", wallet}, {"treasury", chain.Treasury}} {
		out, err := st.Settler(ctx, "devchain", "balance", "-rpc", chain.RPC, "-token", chain.Token, "-address", who.addr)
		if err != nil {
			return err
		}
		fmt.Printf("%-18s %s", who.name, out)
	}
	out, err := st.Crawlctl(ctx, acme.Token, "usage")
	if err != nil {
		return err
	}
	fmt.Printf("\nacme-search's own view (crawlctl usage):\n%s", out)

	if *keep {
		section("Still running: press Ctrl-C to stop")
		envPath, err := writeEnv(st, []*stack.Crawler{acme, chainbot, tight, blocked})
		if err != nil {
			return err
		}
		fmt.Printf("finance page   %s/ (sign in with the token %s)\n", st.SettlerURL, st.FinanceToken)
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
	}
	section("Stopping everything")
	return nil
}

// apiSite crawls a second site: a Go server of its own, metered by the
// paywall middleware with no gateway in front, on the same ledger.
func apiSite(ctx context.Context, st *stack.Stack, w *tabwriter.Writer, crawlers ...*stack.Crawler) error {
	w.Flush()
	fmt.Printf("\n== A second site, %s: a Go JSON API metered by the pkg/paywall middleware (no gateway)\n", stack.APIPublisher)
	if err := st.StartAPISite(ctx); err != nil {
		return err
	}
	fmt.Fprintln(w, "CRAWLER\tPATH\tSTATUS\tCHARGED")
	paths := []string{"/v1/quotes/ACME", "/v1/quotes/INIT", "/v1/quotes/PAYC", "/v1/free/status"}
	for i, c := range crawlers {
		dialect := []string{"deferred", "x402"}[i%2]
		for _, p := range paths {
			out, err := st.Crawlctl(ctx, c.Token, "fetch", st.APISite+p, "--key", c.KeyPath, "--agent", c.AgentURL, "--max-price", "0.01", "--dialect", dialect, "--json")
			if err != nil {
				return fmt.Errorf("fetch %s%s: %w\n%s", st.APISite, p, err, out)
			}
			var r struct {
				Status  int                                `json:"status"`
				Charged *struct{ Amount, Currency string } `json:"charged"`
			}
			if err := json.Unmarshal(out, &r); err != nil {
				return fmt.Errorf("crawlctl fetch output: %v\n%s", err, out)
			}
			charged := "free"
			if r.Charged != nil {
				charged = r.Charged.Currency + " " + r.Charged.Amount
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", c.Name, p, r.Status, charged)
		}
	}
	w.Flush()
	fmt.Println("its charges are in the same ledger and on the same daily invoices as the gateway's (the totals below include them)")
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

// browserView shows what a person's browser gets on a priced page.
func browserView(ctx context.Context, url string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/html")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	fmt.Printf("a browser without a signature gets %d %s with an HTML page, crawler-price: %s\n",
		resp.StatusCode, http.StatusText(resp.StatusCode), resp.Header.Get("crawler-price"))
	return nil
}

func publisherUsage(ctx context.Context, st *stack.Stack, w *tabwriter.Writer, names map[string]string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, st.GatewayAdmin+"/v1/usage", nil)
	req.Header.Set("Authorization", "Bearer "+st.PublisherToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		Usage []struct {
			Crawler, Site, Currency, Amount string
			Requests                        int64
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return err
	}
	fmt.Fprintln(w, "CRAWLER\tACCOUNT\tSITE\tREQUESTS\tREVENUE")
	for _, u := range out.Usage {
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s %s\n", names[u.Crawler], u.Crawler, u.Site, u.Requests, u.Currency, u.Amount)
	}
	w.Flush()
	return nil
}
