package finance_test

import (
	"context"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// chromium finds the browser, or fails the test saying how to get it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	t.Fatal("chromium not found: run `make test`, which installs chromium (scripts/deps.sh chromium)")
	return ""
}

// TestBrowserHoldAndExport drives headless Chromium against the running
// page as a finance person would: sign in with a token, load a day with the
// day picker, open an invoice, hold it with a reason through the
// confirmation step, see it held, and download the day's CSV, which says
// so. Screenshots go to the test's temporary directory (and to
// $FINANCE_SCREENSHOT_DIR when set).
func TestBrowserHoldAndExport(t *testing.T) {
	w := webWorld(t)
	exe := chromium(t)
	dir := t.TempDir()
	downloads := filepath.Join(dir, "downloads")
	if err := os.Mkdir(downloads, 0o755); err != nil {
		t.Fatal(err)
	}
	bctx := newBrowser(t, w.ctx, exe, dir, 1366, 768)

	id := w.id("op_acme", "USD")
	shot := func() []byte {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 15*time.Second)
		defer cancel()
		b, err := chromedp.Run(sctx, chromedp.FullScreenshot(100)) // 100: PNG
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		return b
	}
	// navigate runs steps that load a new page and waits for it: a page
	// still showing while the next one loads must not be mistaken for it.
	navigate(t, bctx, "the login page", chromedp.Navigate(w.ts.URL+"/"))
	navigate(t, bctx, "sign in", chromedp.SendKeys(chromedp.ID("token"), aliceToken), chromedp.Click(chromedp.ID("signin")))
	// Load the day with the picker.
	navigate(t, bctx, "load the day", chromedp.SetValue(chromedp.ID("day"), w.day), chromedp.Click(chromedp.ID("show")))
	heading, table := textOf(t, bctx, chromedp.CSS("h1")), textOf(t, bctx, chromedp.ID("invoices"))
	dayShot := shot()
	// Open the invoice, and hold it through the confirmation step.
	navigate(t, bctx, "open the invoice", chromedp.Click(chromedp.CSS(`a[href="/invoices/`+id+`"]`)))
	navigate(t, bctx, "hold", chromedp.SendKeys(chromedp.ID("hold-reason"), "publisher disputes the crawl"), chromedp.Click(chromedp.ID("hold")))
	confirmShot := shot()
	navigate(t, bctx, "confirm", chromedp.Click(chromedp.ID("confirm")))
	flash, status := textOf(t, bctx, chromedp.ID("flash")), textOf(t, bctx, chromedp.ID("status"))
	invoiceShot := shot()
	if !strings.Contains(heading, w.day) || !strings.Contains(table, id) || !strings.Contains(table, "USD\u00a00.35") {
		t.Fatalf("day page: %q\n%s", heading, table)
	}
	if !strings.EqualFold(strings.TrimSpace(status), "held") || !strings.Contains(flash, "Invoice held.") {
		t.Fatalf("after hold: status %q, flash %q", status, flash)
	}
	if inv := w.invoice(id); inv.Status != ledger.StatusHeld || inv.History[len(inv.History)-1].Actor != "alice" {
		t.Fatalf("ledger: %s", inv.Status)
	}
	save := func(name string, png []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
		if out := os.Getenv("FINANCE_SCREENSHOT_DIR"); out != "" {
			_ = os.WriteFile(filepath.Join(out, name), png, 0o644)
		}
	}
	save("finance-day.png", dayShot)
	save("finance-confirm.png", confirmShot)
	save("finance.png", invoiceShot)
	t.Logf("screenshots in %s", dir)

	// Back to the day, and download its CSV through the link.
	navigate(t, bctx, "back to the day", chromedp.Click(chromedp.CSS("nav.crumbs a")))
	if held := textOf(t, bctx, chromedp.ID("by-status")); !strings.Contains(strings.ToLower(held), "held") {
		t.Errorf("the day's summary does not count the held invoice: %q", held)
	}
	progress := chromedp.Events(bctx, browser.DownloadProgress)
	if err := chromedp.Do(bctx,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: new(true)})
			return err
		}),
		chromedp.Click(chromedp.ID("csv")),
	); err != nil {
		t.Fatalf("download: %v", err)
	}
	var guid string
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("the CSV download did not complete: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			guid = ev.GUID
			break
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatal("the CSV download was cancelled")
		}
	}
	f, err := os.Open(filepath.Join(downloads, guid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || rows[0][0] != "invoice" {
		t.Fatalf("CSV rows %v", rows)
	}
	found := false
	for _, r := range rows[1:] {
		if r[0] == id {
			found = r[4] == "held" && r[10] == "0.35"
		}
	}
	if !found {
		t.Fatalf("the CSV does not show %s held for 0.35: %v", id, rows)
	}
}

// textOf reads the text of the element sel finds.
func textOf[S chromedp.Selectable](t *testing.T, ctx context.Context, sel S) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("text of %v: %v", sel, err)
	}
	return v
}

// newBrowser starts headless Chromium (exe) with a fresh profile in dir and
// a width×height window, for at most 60 s within parent, and returns its
// context; the browser stops when the test ends.
func newBrowser(t *testing.T, parent context.Context, exe, dir string, width, height int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.WindowSize(width, height),
	)
	ctx, cancel := context.WithTimeout(parent, 60*time.Second)
	t.Cleanup(cancel)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	return bctx
}

// navigate runs steps that load a page in the browser and fails t unless
// the page answered 200.
func navigate(t *testing.T, bctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	resp, err := chromedp.RunResponse(bctx, steps...)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if resp.Status != 200 {
		t.Fatalf("%s: HTTP %d", what, resp.Status)
	}
}

// evalInt evaluates js in the page and returns its integer result.
func evalInt(t *testing.T, bctx context.Context, js string) int {
	t.Helper()
	v, err := chromedp.Run(bctx, chromedp.Evaluate[int](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}
