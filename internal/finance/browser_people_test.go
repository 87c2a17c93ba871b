package finance_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// TestBrowserQueueFiltersAndChart drives headless Chromium at 760 px wide,
// as a finance person on a narrow window: the home page opens on the
// latest day with invoices and lists what needs a person across days; the
// filters (a range, a status, a search) narrow the invoices; the chart
// draws billed and charged per day; every input has a label, a skip link
// leads to the content, and nothing overflows the window sideways.
func TestBrowserQueueFiltersAndChart(t *testing.T) {
	w := newDaysWorld(t)
	exe := chromium(t)
	dir := t.TempDir()
	bctx := newBrowser(t, w.ctx, exe, dir, 760, 900)
	evalStrings := func(js string) []string {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}
	checkPage := func(what string) {
		t.Helper()
		overflow := evalInt(t, bctx, `document.documentElement.scrollWidth - document.documentElement.clientWidth`)
		if overflow > 0 {
			t.Errorf("%s: the page is %d px wider than a 760 px window", what, overflow)
		}
		unlabelled := evalStrings(`Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
			.filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
			.map(e => e.name || e.id)`)
		if len(unlabelled) > 0 {
			t.Errorf("%s: inputs without a label: %v", what, unlabelled)
		}
		skip := evalStrings(`Array.from(document.querySelectorAll('a.skip')).map(a => a.getAttribute('href'))`)
		if len(skip) != 1 || skip[0] != "#main" {
			t.Errorf("%s: no skip link to #main (%q)", what, skip)
		}
	}

	navigate(t, bctx, "the login page", chromedp.Navigate(w.ts.URL+"/"))
	navigate(t, bctx, "sign in", chromedp.SendKeys(chromedp.ID("token"), aliceToken), chromedp.Click(chromedp.ID("signin")))
	heading, queue := textOf(t, bctx, chromedp.CSS("h1")), textOf(t, bctx, chromedp.ID("queue"))
	if !strings.Contains(heading, w.days[2]) || !strings.Contains(heading, "latest day") {
		t.Fatalf("the home page opens on %q, want the latest day with invoices %s", heading, w.days[2])
	}
	for _, want := range []string{"Bolt Bot", "failed", "Acme Search", "held", "draft", ledger.InvoiceID(w.acme, w.days[1], "USD")} {
		if !strings.Contains(strings.ToLower(queue), strings.ToLower(want)) {
			t.Errorf("the queue lacks %q:\n%s", want, queue)
		}
	}
	if strings.Contains(queue, ledger.InvoiceID(w.cask, w.days[1], "USD")) {
		t.Errorf("the queue lists a void invoice:\n%s", queue)
	}
	if table := textOf(t, bctx, chromedp.ID("invoices")); !strings.Contains(table, "Acme Search") || !strings.Contains(table, "billing@acme.example") {
		t.Errorf("the invoices do not name the crawler:\n%s", table)
	}
	checkPage("home")
	shot(t, bctx, dir, "finance-home-760.png")

	// A range with a status: the held invoice only.
	navigate(t, bctx, "filter", chromedp.SetValue(chromedp.ID("from"), w.days[0]), chromedp.SetValue(chromedp.ID("to"), w.days[2]),
		chromedp.SetValue(chromedp.ID("status"), "held"), chromedp.Click(chromedp.ID("show")))
	heading, table := textOf(t, bctx, chromedp.CSS("h1")), textOf(t, bctx, chromedp.ID("invoices"))
	if !strings.Contains(heading, "from "+w.days[0]+" to "+w.days[2]) || !strings.Contains(table, ledger.InvoiceID(w.acme, w.days[1], "USD")) ||
		strings.Contains(table, ledger.InvoiceID(w.acme, w.days[2], "USD")) {
		t.Fatalf("filtered by status over a range: %q\n%s", heading, table)
	}
	// The chart draws the range: three days, billed and charged.
	bars := evalStrings(`Array.from(document.querySelectorAll('#chart-usd rect.bar')).map(r => r.getAttribute('class') + ' ' + r.dataset.day + ' ' + r.dataset.amount)`)
	want := []string{"bar billed " + w.days[0] + " 0.10", "bar charged " + w.days[0] + " 0.10", "bar billed " + w.days[1] + " 0.20",
		"bar charged " + w.days[1] + " 0.00", "bar billed " + w.days[2] + " 0.35", "bar charged " + w.days[2] + " 0.00"}
	if strings.Join(bars, "|") != strings.Join(want, "|") {
		t.Fatalf("chart bars %v, want %v", bars, want)
	}
	tallest := evalInt(t, bctx, `Math.round(document.querySelector('#chart-usd rect.bar[data-day="`+w.days[2]+`"]').getBoundingClientRect().height)`)
	if tallest <= 0 {
		t.Fatalf("the largest bar has no height")
	}
	checkPage("filtered")
	shot(t, bctx, dir, "finance-filtered-760.png")

	// A crawler from the list, all statuses: bolt's two invoices.
	navigate(t, bctx, "crawler", chromedp.SetValue(chromedp.ID("status"), ""), chromedp.SetValue(chromedp.ID("account"), w.bolt),
		chromedp.Click(chromedp.ID("show")))
	table = textOf(t, bctx, chromedp.ID("invoices"))
	if !strings.Contains(table, ledger.InvoiceID(w.bolt, w.days[0], "USDC")) || !strings.Contains(table, ledger.InvoiceID(w.bolt, w.days[2], "USDC")) ||
		strings.Contains(table, "Acme Search") {
		t.Fatalf("filtered by crawler:\n%s", table)
	}
	if opts := textOf(t, bctx, chromedp.ID("account")); !strings.Contains(opts, "Acme Search") || !strings.Contains(opts, "Cask Crawler") {
		t.Fatalf("the crawler list lacks names: %q", opts)
	}
	// Search by payment reference, back to all statuses.
	navigate(t, bctx, "search", chromedp.SetValue(chromedp.ID("account"), ""), chromedp.SetValue(chromedp.ID("q"), "pi_test_"+w.acme),
		chromedp.Click(chromedp.ID("show")))
	table = textOf(t, bctx, chromedp.ID("invoices"))
	if !strings.Contains(table, ledger.InvoiceID(w.acme, w.days[0], "USD")) || strings.Contains(table, ledger.InvoiceID(w.bolt, w.days[0], "USDC")) {
		t.Fatalf("search by payment reference:\n%s", table)
	}
	// An invoice page names the crawler too, and holds at 760 px.
	navigate(t, bctx, "open the invoice", chromedp.Click(chromedp.CSS(`#invoices a[href="/invoices/`+ledger.InvoiceID(w.acme, w.days[0], "USD")+`"]`)))
	if name := textOf(t, bctx, chromedp.ID("operator-name")); name != "Acme Search" {
		t.Fatalf("invoice page names %q", name)
	}
	navigate(t, bctx, "open a draft", chromedp.Navigate(w.ts.URL+"/invoices/"+ledger.InvoiceID(w.acme, w.days[2], "USD")))
	checkPage("invoice")
}

// shot saves a full-page screenshot into dir (and $FINANCE_SCREENSHOT_DIR).
func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := os.Getenv("FINANCE_SCREENSHOT_DIR"); out != "" {
		_ = os.WriteFile(filepath.Join(out, name), png, 0o644)
	}
}
