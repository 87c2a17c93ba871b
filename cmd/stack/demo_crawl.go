package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"

	"github.com/paycrawl/paycrawl/internal/stack"
	"github.com/paycrawl/paycrawl/pkg/deferred"
)

// crawlJob is one crawler's paths through the gateway.
type crawlJob struct {
	c     *stack.Crawler
	paths []string
	extra []string // crawlctl fetch flags
}

// fetchResult is what crawlctl fetch --json says of a fetch.
type fetchResult struct {
	Status  int `json:"status"`
	Charged *struct {
		Amount, Currency string
		// Agreement, AgreementVersion and Charge are the receipt's: the
		// agreement that priced the request and how.
		Agreement        string `json:"agreement"`
		AgreementVersion int64  `json:"agreement_version"`
		Charge           string `json:"charge"`
	} `json:"charged"`
	// Offer is the 402 offer the crawler answered (the list price).
	Offer *struct {
		Price, Currency string
	} `json:"offer"`
	// CrawlerError is the refusal's code.
	CrawlerError string `json:"crawler_error"`
}

// numbered returns n paths of format ("/articles/%d"), from 1.
func numbered(format string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(format, i+1)
	}
	return out
}

// crawlJobs is what each crawler fetches from the gateway: acme-search
// everything (priced, premium, free), chainbot half with x402, tight-budget
// past its cap, scraper-x blocked.
func (d *demoRun) crawlJobs() []crawlJob {
	articles, premium := numbered("/articles/%d", 20), numbered("/premium/report-%d", 8)
	all := append(append(append([]string{}, articles...), premium...), "/free/about", "/free/contact", "/robots.txt")
	return []crawlJob{
		{d.acme, all, []string{"--dialect", "deferred"}},
		{d.chainbot, append(append([]string{}, articles[:10]...), premium[:2]...), []string{"--dialect", "x402"}},
		{d.tight, articles[:4], []string{"--preauthorize"}},
		{d.blocked, articles[:2], []string{"--preauthorize"}},
	}
}

// fetch has c fetch url with crawlctl. A refusal (exit 4), a payment
// failure (5) or an unavailable service (6) is a result, not an error: its
// JSON says which and why.
func (d *demoRun) fetch(ctx context.Context, c *stack.Crawler, url, maxPrice string, extra ...string) (*fetchResult, error) {
	args := append([]string{"fetch", url, "--key", c.KeyPath, "--agent", c.AgentURL, "--max-price", maxPrice, "--json"}, extra...)
	out, err := d.st.Crawlctl(ctx, c.Token, args...)
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) && ee.ExitCode() >= 4 && ee.ExitCode() <= 6 && json.Valid(out) {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	var r fetchResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("crawlctl fetch output: %v\n%s", err, out)
	}
	return &r, nil
}

// crawlGateway has every crawler fetch its paths through the gateway and
// prints what each fetch was charged, then what a browser gets.
func crawlGateway(ctx context.Context, d *demoRun) error {
	fmt.Printf("the gateway %s serves %s's site\n", d.st.Gateway, stack.GatewayPublisher)
	if len(d.gateways) > 1 {
		fmt.Printf("acme-search and tight-budget crawl through %s, chainbot through %s\n", d.gateways[0], d.gateways[1])
	}
	fmt.Fprintln(d.w, "CRAWLER\tPATH\tSTATUS\tCHARGED\tNOTE")
	counts := map[string]int{}
	for ji, j := range d.crawlJobs() {
		gw := d.st.Gateway
		if j.c != d.blocked {
			gw = d.gateways[ji%len(d.gateways)]
		}
		for _, p := range j.paths {
			r, err := d.fetch(ctx, j.c, gw+p, "0.10", j.extra...)
			if err != nil {
				return err
			}
			charged, note := "-", ""
			switch {
			case r.Charged != nil:
				charged = r.Charged.Currency + " " + r.Charged.Amount
				counts["paid"]++
			case r.Status == http.StatusOK:
				note = "free"
				counts["free"]++
			default:
				note = r.CrawlerError
				counts[r.CrawlerError]++
			}
			fmt.Fprintf(d.w, "%s\t%s\t%d\t%s\t%s\n", j.c.Name, p, r.Status, charged, note)
		}
	}
	d.w.Flush()
	fmt.Printf("%d paid, %d free, %d refused over the daily cap (403 %s), %d blocked (403 %s)\n", counts["paid"], counts["free"],
		counts[deferred.PaymentFailed], deferred.PaymentFailed, counts[deferred.CrawlerForbidden], deferred.CrawlerForbidden)
	return browserView(ctx, d.st.Gateway+"/articles/1")
}

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

// crawlAPISite crawls a second site: a Go server of its own, metered by
// the paywall middleware with no gateway in front, on the same ledger.
func crawlAPISite(ctx context.Context, d *demoRun) error {
	st := d.st
	if err := st.StartAPISite(ctx); err != nil {
		return err
	}
	fmt.Fprintln(d.w, "CRAWLER\tPATH\tSTATUS\tCHARGED")
	paths := []string{"/v1/quotes/ACME", "/v1/quotes/INIT", "/v1/quotes/PAYC", "/v1/free/status"}
	for i, c := range []*stack.Crawler{d.acme, d.chainbot} {
		dialect := []string{"deferred", "x402"}[i%2]
		for _, p := range paths {
			r, err := d.fetch(ctx, c, st.APISite+p, "0.01", "--dialect", dialect)
			if err != nil {
				return err
			}
			if r.Status != http.StatusOK {
				return fmt.Errorf("fetch %s%s: status %d %s", st.APISite, p, r.Status, r.CrawlerError)
			}
			charged := "free"
			if r.Charged != nil {
				charged = r.Charged.Currency + " " + r.Charged.Amount
			}
			fmt.Fprintf(d.w, "%s\t%s\t%d\t%s\n", c.Name, p, r.Status, charged)
		}
	}
	d.w.Flush()
	fmt.Println("its charges are in the same ledger and on the same daily invoices as the gateway's (the totals below include them)")
	return nil
}

// publisherUsage prints the news publisher's view of today, from the
// gateway's admin API.
func publisherUsage(ctx context.Context, d *demoRun) error {
	names := map[string]string{}
	for _, c := range d.crawlers() {
		names[c.OperatorID] = c.Name
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.st.GatewayAdmin+"/v1/usage", nil)
	req.Header.Set("Authorization", "Bearer "+d.st.PublisherToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("gateway admin /v1/usage: %s", resp.Status)
	}
	var out struct {
		Usage []struct {
			Crawler, Site, Currency, Amount string
			Requests                        int64
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return err
	}
	fmt.Fprintln(d.w, "CRAWLER\tACCOUNT\tSITE\tREQUESTS\tREVENUE")
	for _, u := range out.Usage {
		fmt.Fprintf(d.w, "%s\t%s\t%s\t%d\t%s %s\n", names[u.Crawler], u.Crawler, u.Site, u.Requests, u.Currency, u.Amount)
	}
	d.w.Flush()
	return nil
}
