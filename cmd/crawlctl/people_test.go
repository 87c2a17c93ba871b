package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
	"github.com/paycrawl/paycrawl/pkg/webhook"
)

// TestHelpForEveryCommand: -h prints the command's usage, its flags and
// the exit statuses, and succeeds; "help CMD" is the same.
func TestHelpForEveryCommand(t *testing.T) {
	c := &cli{t: t, st: &stack{keydir: httptest.NewUnstartedServer(nil)}}
	wantFlag := map[string]string{"keygen": "-force", "register": "-contact", "keys": "-json", "rotate": "-overlap",
		"revoke": "-yes", "fetch": "-max-price", "usage": "-from", "reconcile": "-receipts", "webhooks": "-events"}
	for _, name := range commandOrder {
		t.Run(name, func(t *testing.T) {
			for _, args := range [][]string{{name, "-h"}, {name, "--help"}, {"help", name}} {
				out := c.ok(args...)
				for _, want := range []string{"usage: crawlctl " + name, "flags:", wantFlag[name], "exit status:", "5  payment"} {
					if !strings.Contains(out, want) {
						t.Errorf("crawlctl %s lacks %q:\n%s", strings.Join(args, " "), want, out)
					}
				}
			}
		})
	}
	out := c.ok("-h")
	for _, name := range commandOrder {
		if !strings.Contains(out, "\n  "+name+" ") && !strings.Contains(out, "\n  "+name+"\n") {
			t.Errorf("crawlctl -h does not list %s:\n%s", name, out)
		}
	}
	// A bad flag is a usage error that points at -h, without printing the help.
	_, _, err := c.run("fetch", "--bogus")
	if !isUsage(err) || !strings.Contains(err.Error(), "crawlctl fetch -h") {
		t.Fatalf("bad flag: %v", err)
	}
}

// TestExitCodes maps each kind of failure to its documented status.
func TestExitCodes(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"none", nil, 0},
		{"usage", usagef("x"), exitUsage},
		{"differences", fmt.Errorf("wrapped: %w", &differencesError{n: 1}), exitDifferences},
		{"refused", &refusalError{class: classOfStatus(403)}, exitRefused},
		{"bad signature", &refusalError{class: classOfStatus(400)}, exitRefused},
		{"payment", &refusalError{class: classOfStatus(402)}, exitPayment},
		{"unavailable", &refusalError{class: classOfStatus(503)}, exitUnavailable},
		{"rate limited", &refusalError{class: classOfStatus(429)}, exitUnavailable},
		{"timeout", fmt.Errorf("fetch: %w", context.DeadlineExceeded), exitUnavailable},
		{"other", errors.New("disk full"), exitError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Fatalf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

// TestRefusalMessage reads the sentence out of each kind of refusal body.
func TestRefusalMessage(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"gateway refusal", 403, `{"code":"CrawlerBlocked","message":"this site does not serve crawlers","crawlerError":"CrawlerBlocked"}`, "this site does not serve crawlers"},
		{"x402 v1 body", 402, `{"x402Version":1,"error":"today's spend 0.20 plus 0.01 would exceed your daily cap 0.20","accepts":[]}`, "today's spend 0.20 plus 0.01 would exceed your daily cap 0.20"},
		{"text", 400, "invalid signature: key revoked\n", "invalid signature: key revoked"},
		{"html", 502, "<html><body>bad gateway</body></html>", "Bad Gateway"},
		{"empty", 503, "", "Service Unavailable"},
		{"long", 400, strings.Repeat("é", 500), strings.Repeat("é", maxMessage/2) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := refusalMessage(tt.status, []byte(tt.body)); got != tt.want {
				t.Fatalf("refusalMessage = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestFetchRefusalsPrintTheMessage: each refusal of a gateway prints the
// gateway's sentence and exits with its class.
func TestFetchRefusalsPrintTheMessage(t *testing.T) {
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cap":
			w.Header().Set("crawler-error", "PaymentFailed")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusPaymentRequired)
			fmt.Fprint(w, `{"x402Version":1,"error":"today's spend 0.20 plus 0.01 would exceed your daily cap 0.20","accepts":[]}`)
		case "/cap403": // a cap refused the Cloudflare way
			w.Header().Set("crawler-error", "PaymentFailed")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"code":"PaymentFailed","message":"today's spend 0.03 plus 0.01 would exceed your daily cap 0.03","crawlerError":"PaymentFailed"}`)
		case "/blocked":
			w.Header().Set("crawler-error", "CrawlerBlocked")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"code":"CrawlerBlocked","message":"this site does not serve your crawler","crawlerError":"CrawlerBlocked"}`)
		case "/down":
			http.Error(w, "ledger unavailable: not charged", http.StatusServiceUnavailable)
		default:
			fmt.Fprint(w, "free page")
		}
	}))
	defer gw.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	key := filepath.Join(t.TempDir(), "k.jwk")
	c := &cli{t: t, st: &stack{keydir: gw, receipts: "off"}}
	c.ok("keygen", "--out", key)
	tests := []struct {
		url      string
		code     int
		wantText string
	}{
		{gw.URL + "/cap", exitPayment, "would exceed your daily cap 0.20"},
		{gw.URL + "/cap403", exitPayment, "would exceed your daily cap 0.03"},
		{gw.URL + "/blocked", exitRefused, "this site does not serve your crawler"},
		{gw.URL + "/down", exitUnavailable, "ledger unavailable: not charged"},
		{closed.URL + "/x", exitUnavailable, ""},
		{gw.URL + "/free", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			args := []string{"fetch", tt.url, "--key", key, "--max-price", "0.05", "--agent", "https://crawler.example/agent", "--preauthorize"}
			out, _, err := c.run(args...)
			if got := exitCode(err); got != tt.code {
				t.Fatalf("exit %d (%v), want %d\n%s", got, err, tt.code, out)
			}
			if tt.wantText != "" && (!strings.Contains(out, "message") || !strings.Contains(out, tt.wantText) || !strings.Contains(err.Error(), tt.wantText)) {
				t.Fatalf("the gateway's message is not shown:\nstdout:\n%s\nerr: %v", out, err)
			}
		})
	}
}

// TestRegisterChecksBeforeSignUp: every mistake that can be seen before
// the sign-up is refused before it, and leaves no operator behind; the
// key directory refuses a contact that is not an email address too.
func TestRegisterChecksBeforeSignUp(t *testing.T) {
	st := startStack(t)
	dir := t.TempDir()
	c := &cli{t: t, st: st}
	key := filepath.Join(dir, "k.jwk")
	c.ok("keygen", "--out", key)
	walletFile, _ := walletKeyFile(t, dir, "w")
	_, otherWallet := walletKeyFile(t, dir, "w2")
	base := []string{"register", "--name", "Careless Crawler", "--key", key}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"not an email", []string{"--contact", "notanemail", "--rail", "stripe"}, "not an email"},
		{"display name", []string{"--contact", "Ops <ops@crawler.example>", "--rail", "stripe"}, "not an email"},
		{"no dot", []string{"--contact", "ops@localhost", "--rail", "stripe"}, "dot"},
		{"unknown rail", []string{"--contact", "ops@crawler.example", "--rail", "paypal"}, "not one of stripe, evm"},
		{"zero cap", []string{"--contact", "ops@crawler.example", "--rail", "stripe", "--daily-cap", "0"}, "daily_cap"},
		{"cap not a number", []string{"--contact", "ops@crawler.example", "--rail", "stripe", "--daily-cap", "five"}, "daily_cap"},
		{"max price above cap", []string{"--contact", "ops@crawler.example", "--rail", "stripe", "--daily-cap", "1", "--max-price", "2"}, "default_max_price"},
		{"bad wallet", []string{"--contact", "ops@crawler.example", "--rail", "evm", "--wallet", "0x1234"}, "wallet"},
		{"wallet not the key's", []string{"--contact", "ops@crawler.example", "--rail", "evm", "--wallet", otherWallet, "--wallet-key", walletFile}, "not the address"},
		{"stripe currency", []string{"--contact", "ops@crawler.example", "--rail", "stripe", "--currency", "EUR"}, "USD"},
		{"missing key file", []string{"--contact", "ops@crawler.example", "--rail", "stripe", "--key", filepath.Join(dir, "none.jwk")}, "none.jwk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := c.run(append(append([]string{}, base...), tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want one saying %q", err, tt.want)
			}
			if strings.Contains(out, "pct_") {
				t.Fatalf("a token was printed, so an operator was signed up:\n%s", out)
			}
		})
	}
	if ops, n, err := st.store.ListOperators(context.Background(), 0, 10); err != nil || n != 0 {
		t.Fatalf("operators after refused registrations: %d %+v, %v", n, ops, err)
	}
	_, err := (&keydir.Client{BaseURL: st.keydir.URL}).SignUp(context.Background(), "Direct", "notanemail")
	if !keydir.IsCode(err, "invalid_request") {
		t.Fatalf("key directory sign-up with contact notanemail: %v", err)
	}
}

// TestUsageRangeAndCap: usage over a range sums the days; today's cap
// remaining is shown, with a warning past 80 %; ranges are bounded.
func TestUsageRangeAndCap(t *testing.T) {
	st := startStack(t)
	c := &cli{t: t, st: st}
	key := filepath.Join(t.TempDir(), "k.jwk")
	c.ok("keygen", "--out", key)
	var reg registerResult
	c.jsonOf(&reg, "register", "--name", "Ranged", "--contact", "ops@ranged.example", "--rail", "stripe",
		"--daily-cap", "0.05", "--max-price", "0.01", "--key", key)
	c.env = map[string]string{"PAYCRAWL_TOKEN": reg.Token}
	now := time.Now().UTC()
	appendAt := func(at time.Time, rid string, price money.Micros) {
		t.Helper()
		_, err := st.ledger.Append(context.Background(), &ledger.Commitment{RequestID: rid, Received: at,
			Account: reg.OperatorID, Agent: "https://x.example", KeyID: "k", Publisher: "pub_news", Site: "news.example",
			Method: "GET", Scheme: "https", Authority: "news.example", Path: "/" + rid, Price: price, Currency: "USD",
			Dialect: "deferred", Label: "sig1", SignatureInput: "x", Signature: ":" + rid + ":", ReplayIDs: []string{"s:" + rid},
			ReplayUntil: now.Add(time.Minute)}, ledger.Limits{})
		if err != nil {
			t.Fatal(err)
		}
	}
	appendAt(now.Add(-48*time.Hour), "r1", 20_000)
	appendAt(now, "r2", 10_000)
	appendAt(now, "r3", 10_000)

	today := now.Format(time.DateOnly)
	from := now.Add(-72 * time.Hour).Format(time.DateOnly)
	var rep usageReport
	c.jsonOf(&rep, "usage", "--from", from, "--to", today)
	if len(rep.Days) != 4 || len(rep.Totals) != 1 || rep.Totals[0].Requests != 3 || rep.Totals[0].Amount != "0.04" {
		t.Fatalf("range: %d days, totals %+v", len(rep.Days), rep.Totals)
	}
	if rep.Cap == nil || rep.Cap.Spent != "0.02" || rep.Cap.Remaining != "0.03" || rep.Cap.Percent != 40 {
		t.Fatalf("cap: %+v", rep.Cap)
	}
	out := c.ok("usage", "--from", from)
	for _, want := range []string{"DAY", now.Add(-48 * time.Hour).Format(time.DateOnly), "total", "0.04", "cap remaining today", "USD 0.03 of 0.05"} {
		if !strings.Contains(out, want) {
			t.Errorf("range output lacks %q:\n%s", want, out)
		}
	}
	// Past 80 % of the cap: a warning.
	appendAt(now, "r4", 20_000)
	out, errOut, err := c.run("usage")
	if err != nil || !strings.Contains(out, "USD 0.01 of 0.05 (80 % spent)") || !strings.Contains(errOut, "80 % of your daily cap") {
		t.Fatalf("usage near the cap: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}
	// A past day has no cap line.
	var day struct {
		keydir.UsageResponse
		Cap *capJSON `json:"cap"`
	}
	c.jsonOf(&day, "usage", "--day", from)
	if day.Day != from || day.Cap != nil {
		t.Fatalf("past day: %+v cap %+v", day.UsageResponse, day.Cap)
	}
	for _, args := range [][]string{
		{"usage", "--to", today},
		{"usage", "--from", today, "--to", from},
		{"usage", "--from", now.Add(-100 * 24 * time.Hour).Format(time.DateOnly)},
		{"usage", "--day", today, "--from", from},
		{"usage", "--from", "last week"},
	} {
		if _, _, err := c.run(args...); !isUsage(err) {
			t.Errorf("crawlctl %q: %v, want a usage error", args, err)
		}
	}
}

// TestRevokeLastActiveKeyAsksFirst: revoking the last active key warns
// and does nothing without --yes.
func TestRevokeLastActiveKeyAsksFirst(t *testing.T) {
	st := startStack(t)
	c := &cli{t: t, st: st}
	key := filepath.Join(t.TempDir(), "k.jwk")
	var gen keygenResult
	c.jsonOf(&gen, "keygen", "--out", key)
	var reg registerResult
	c.jsonOf(&reg, "register", "--name", "Lonely", "--contact", "ops@lonely.example", "--key", key)
	c.env = map[string]string{"PAYCRAWL_TOKEN": reg.Token}
	_, errOut, err := c.run("revoke", "--", gen.KeyID)
	if !isUsage(err) || !strings.Contains(err.Error(), "--yes") || !strings.Contains(errOut, "last active key") {
		t.Fatalf("revoke of the last key: %v\n%s", err, errOut)
	}
	k, err := st.store.Key(context.Background(), gen.KeyID)
	if err != nil || k.Status != registry.KeyActive {
		t.Fatalf("the key after a refused revoke: %+v, %v", k, err)
	}
	if out := c.ok("revoke", "--yes", "--", gen.KeyID); !strings.Contains(out, "revoked") {
		t.Fatalf("revoke --yes:\n%s", out)
	}
}

// TestWebhooksCommand: an operator adds an endpoint (the secret shown
// once), lists it, reads its delivery log after an event, and removes it;
// a bad URL is the key directory's 400 and exits 4.
func TestWebhooksCommand(t *testing.T) {
	st := startStack(t)
	c := &cli{t: t, st: st}
	key := filepath.Join(t.TempDir(), "k.jwk")
	c.ok("keygen", "--out", key)
	var reg registerResult
	c.jsonOf(&reg, "register", "--name", "Hooked", "--contact", "ops@hooked.example", "--key", key)
	c.env = map[string]string{"PAYCRAWL_TOKEN": reg.Token}
	if out := c.ok("webhooks"); !strings.Contains(out, "No webhook endpoints") || !strings.Contains(out, "usage.cap_80") {
		t.Fatalf("empty list:\n%s", out)
	}
	received := make(chan string, 4)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received <- r.Header.Get(webhook.HeaderEventType)
	}))
	defer rcv.Close()
	var ep webhook.Endpoint
	c.jsonOf(&ep, "webhooks", "add", rcv.URL+"/hook", "--events", "usage.cap_80, usage.cap_100")
	if !strings.HasPrefix(ep.Secret, "whsec_") || len(ep.Events) != 2 {
		t.Fatalf("add: %+v", ep)
	}
	if out := c.ok("webhooks", "list"); !strings.Contains(out, ep.ID) || strings.Contains(out, ep.Secret) {
		t.Fatalf("list:\n%s", out)
	}
	ctx := context.Background()
	if n, err := st.hooks.Emit(ctx, reg.OperatorID, webhook.Event{ID: "evt_cap", Type: webhook.EventUsageCap80}); err != nil || n != 1 {
		t.Fatalf("emit: %d %v", n, err)
	}
	if _, err := st.hooks.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := <-received; got != webhook.EventUsageCap80 {
		t.Fatalf("received %q", got)
	}
	if out := c.ok("webhooks", "log", ep.ID); !strings.Contains(out, "evt_cap") || !strings.Contains(out, "delivered") {
		t.Fatalf("log:\n%s", out)
	}
	c.fails(exitRefused, "webhooks", "add", "ftp://hooks.example/")
	c.fails(exitUsage, "webhooks", "add")
	c.ok("webhooks", "remove", ep.ID)
	c.fails(exitRefused, "webhooks", "log", ep.ID)
}
