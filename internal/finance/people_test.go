package finance_test

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/finance"
	"github.com/paycrawl/paycrawl/internal/finance/wire"
	"github.com/paycrawl/paycrawl/internal/testlog"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/netguard"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/webhook"
)

// daysWorld is a world over three days, with its crawlers registered as
// operators (names and contacts) and the finance server reading them:
//
//	base-2: acme USD 0.10 paid (pi_test_<acme>), bolt USDC 1.00 failed
//	base-1: cask USD 0.05 void, acme USD 0.20 held
//	base:   acme USD 0.35 draft, bolt USDC 2.00 paid on evm
//
// and the clock three days after base, so that yesterday has no invoices.
type daysWorld struct {
	*world
	acme, bolt, cask string
	days             [3]string
	store            *registry.Store
	hooks            *webhook.Store
}

func newDaysWorld(t *testing.T) *daysWorld {
	w := newWorld(t)
	store, err := registry.NewStore(w.rdb, registry.Options{AgentBase: "https://keys.example", SignupsPerMinute: -1, Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	signUp := func(name string) string {
		op, _, err := store.SignUp(w.ctx, name, "billing@"+strings.ToLower(strings.Fields(name)[0])+".example")
		if err != nil {
			t.Fatal(err)
		}
		return op.ID
	}
	d := &daysWorld{world: w, acme: signUp("Acme Search"), bolt: signUp("Bolt Bot"), cask: signUp("Cask Crawler"), store: store}
	d.hooks, err = webhook.NewStore(w.rdb, webhook.Options{Now: w.clock.Now, AllowHTTP: true, MaxAttempts: 3,
		Policy: &netguard.Policy{Allow: netguard.LoopbackPrefixes()}, Backoff: func(n int) time.Duration { return time.Duration(n) * time.Minute }})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := finance.New(finance.Options{Ledger: w.l, Ops: w.s, Operators: store, Webhooks: d.hooks, Now: w.clock.Now, Logger: testlog.New(),
		Config: finance.Config{Tokens: []finance.Token{
			{Name: "alice", Role: finance.RoleFinance, TokenSHA256: sha(aliceToken)},
			{Name: "victor", Role: finance.RoleViewer, TokenSHA256: sha(victorToken)},
		}, SessionSecret: "a test secret that is long enough to sign sessions"}})
	if err != nil {
		t.Fatal(err)
	}
	w.srv = srv
	w.ts.Close()
	w.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(w.ts.Close)

	type use struct {
		account, cur string
		price        money.Micros
	}
	plan := [3][]use{
		{{d.acme, "USD", 100_000}, {d.bolt, "USDC", 1_000_000}},
		{{d.cask, "USD", 50_000}, {d.acme, "USD", 200_000}},
		{{d.acme, "USD", 350_000}, {d.bolt, "USDC", 2_000_000}},
	}
	for i, uses := range plan {
		day := w.base.AddDate(0, 0, i-2)
		d.days[i] = ledger.Day(day)
		w.clock.Set(day.Add(12 * time.Hour))
		for _, u := range uses {
			c := w.commitment(w.signer, u.account, "pub_news", "news.example", u.cur, u.price, nil)
			c.Received, c.ReplayUntil = day.Add(12*time.Hour), day.Add(13*time.Hour)
			if _, err := w.l.Append(w.ctx, c, ledger.Limits{}); err != nil {
				t.Fatal(err)
			}
		}
		w.clock.Set(day.Add(24*time.Hour + w.cfg.Grace + time.Minute))
		if _, err := w.s.Close(w.ctx, d.days[i]); err != nil {
			t.Fatal(err)
		}
	}
	id := func(account string, i int, cur string) string { return ledger.InvoiceID(account, d.days[i], cur) }
	w.drive(id(d.acme, 0, "USD"), ledger.StatusPaid, ledger.Settlement{})
	w.drive(id(d.bolt, 0, "USDC"), ledger.StatusFailed, ledger.Settlement{})
	w.drive(id(d.cask, 1, "USD"), ledger.StatusVoid, ledger.Settlement{})
	w.drive(id(d.acme, 1, "USD"), ledger.StatusHeld, ledger.Settlement{})
	w.drive(id(d.bolt, 2, "USDC"), ledger.StatusPaid, ledger.Settlement{Rail: "evm",
		TxHash: "0x9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Block: 99, Charged: 2_000_000})
	w.clock.Set(w.base.AddDate(0, 0, 3).Add(time.Hour))
	return d
}

// TestAPIListsFilterAcrossDays: the list defaults to the latest day with
// invoices (not yesterday), takes a range and filters by status, crawler,
// rail and search; totals keep void invoices apart; names come from the
// registry; unknown or contradictory parameters are a 400.
func TestAPIListsFilterAcrossDays(t *testing.T) {
	w := newDaysWorld(t)
	rng := "from=" + w.days[0] + "&to=" + w.days[2]
	tests := []struct {
		name   string
		query  string
		ids    []string // account@day-index, in order
		totals map[string]string
		voided map[string]string
	}{
		{"latest day by default", "", []string{w.acme + "@2", w.bolt + "@2"}, map[string]string{"USD": "0.35", "USDC": "2.00"}, map[string]string{}},
		{"a range, newest day first", rng, []string{w.acme + "@2", w.bolt + "@2", w.acme + "@1", w.cask + "@1", w.acme + "@0", w.bolt + "@0"},
			map[string]string{"USD": "0.65", "USDC": "3.00"}, map[string]string{"USD": "0.05"}},
		{"status", rng + "&status=held", []string{w.acme + "@1"}, map[string]string{"USD": "0.20"}, map[string]string{}},
		{"void only", rng + "&status=void", []string{w.cask + "@1"}, map[string]string{}, map[string]string{"USD": "0.05"}},
		{"crawler", rng + "&account=" + w.bolt, []string{w.bolt + "@2", w.bolt + "@0"}, map[string]string{"USDC": "3.00"}, map[string]string{}},
		{"rail evm", rng + "&rail=evm", []string{w.bolt + "@2"}, map[string]string{"USDC": "2.00"}, map[string]string{}},
		{"search a payment reference", rng + "&q=PI_TEST_" + w.acme, []string{w.acme + "@0"}, map[string]string{"USD": "0.10"}, map[string]string{}},
		{"search a transaction hash", rng + "&q=0x9f86d08", []string{w.bolt + "@2"}, map[string]string{"USDC": "2.00"}, map[string]string{}},
		{"search an invoice id", rng + "&q=" + ledger.InvoiceID(w.cask, w.days[1], "USD"), []string{w.cask + "@1"}, map[string]string{}, map[string]string{"USD": "0.05"}},
		{"one day", "day=" + w.days[1], []string{w.acme + "@1", w.cask + "@1"}, map[string]string{"USD": "0.20"}, map[string]string{"USD": "0.05"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := w.call("GET", "/v1/invoices?"+tt.query, victorToken, nil)
			if status != 200 {
				t.Fatalf("%d %s", status, body)
			}
			l := decode[wire.InvoiceList](t, body)
			var got []string
			for i, inv := range l.Invoices {
				if i > 0 && inv.Day > l.Invoices[i-1].Day {
					t.Errorf("%s listed after the older day %s", inv.Day, l.Invoices[i-1].Day)
				}
				for i, d := range w.days {
					if inv.Day == d {
						got = append(got, fmt.Sprintf("%s@%d", inv.Account, i))
					}
				}
				if inv.OperatorName == "" || !strings.HasPrefix(inv.OperatorContact, "billing@") {
					t.Errorf("invoice %s has no operator name or contact: %q %q", inv.ID, inv.OperatorName, inv.OperatorContact)
				}
			}
			// Within a day the order is by invoice id, and operator ids are random.
			sort.Strings(got)
			sort.Strings(tt.ids)
			if fmt.Sprint(got) != fmt.Sprint(tt.ids) || fmt.Sprint(l.Totals) != fmt.Sprint(tt.totals) || fmt.Sprint(l.Voided) != fmt.Sprint(tt.voided) {
				t.Fatalf("got %v totals %v voided %v\nwant %v totals %v voided %v", got, l.Totals, l.Voided, tt.ids, tt.totals, tt.voided)
			}
		})
	}
	status, body := w.call("GET", "/v1/invoices?day="+w.days[2], victorToken, nil)
	names := map[string]string{}
	for _, inv := range decode[wire.InvoiceList](t, body).Invoices {
		names[inv.Account] = inv.OperatorName + " " + inv.OperatorContact
	}
	if status != 200 || names[w.acme] != "Acme Search billing@acme.example" || names[w.bolt] != "Bolt Bot billing@bolt.example" {
		t.Fatalf("names %v: %s", names, body)
	}

	bad := []struct{ name, query, has string }{
		{"unknown parameter", "crawler=" + w.acme, `unknown query parameter "crawler"`},
		{"misspelt", "stauts=held", `unknown query parameter "stauts"`},
		{"repeated", "status=held&status=paid", "given 2 times"},
		{"day and range", "day=" + w.days[0] + "&from=" + w.days[0], "not both"},
		{"backwards", "from=" + w.days[2] + "&to=" + w.days[0], "before"},
		{"too long", "from=2026-01-01&to=2026-12-31", "at most 93"},
		{"bad from", "from=yesterday", "from"},
		{"bad rail", "rail=paypal", "rail"},
		{"bad status", "status=lost", "status"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			status, body := w.call("GET", "/v1/invoices?"+tt.query, victorToken, nil)
			e := decode[apiError](t, body)
			if status != 400 || e.Code == "" || !strings.Contains(e.Message, tt.has) {
				t.Fatalf("%d %+v, want a 400 saying %q", status, e, tt.has)
			}
		})
	}
	if status, _ := w.call("GET", "/v1/queue?status=held", victorToken, nil); status != 400 {
		t.Fatalf("queue with a status filter: %d", status)
	}

	// The day's summary and CSV keep voids apart and name the crawlers.
	status, body = w.call("GET", "/v1/days/"+w.days[1]+"/summary", victorToken, nil)
	if s := decode[wire.Summary](t, body); status != 200 || s.Totals["USD"] != "0.20" || s.Voided["USD"] != "0.05" || s.Invoices != 2 {
		t.Fatalf("summary %d %s", status, body)
	}
	status, body = w.call("GET", "/v1/days/"+w.days[1]+"/invoices.csv?status=void", victorToken, nil)
	if status != 200 || strings.Count(string(body), "\n") != 2 || !strings.Contains(string(body), "Cask Crawler,billing@cask.example") {
		t.Fatalf("csv %d\n%s", status, body)
	}
	if status, _ := w.call("GET", "/v1/days/"+w.days[1]+"/invoices.csv?day=x", victorToken, nil); status != 400 {
		t.Fatalf("csv with an unknown parameter: %d", status)
	}
}

// TestAPIQueueAndChart: the queue lists what needs a person across days,
// the most urgent first; the chart adds up billed (voids excluded) and
// charged per day.
func TestAPIQueueAndChart(t *testing.T) {
	w := newDaysWorld(t)
	status, body := w.call("GET", "/v1/queue", victorToken, nil)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	q := decode[wire.Queue](t, body)
	var got []string
	for _, it := range q.Items {
		got = append(got, it.Invoice.Status+" "+it.Invoice.OperatorName)
		if it.Reason == "" {
			t.Errorf("no reason for %s", it.Invoice.ID)
		}
	}
	if want := "[failed Bolt Bot held Acme Search draft Acme Search]"; fmt.Sprint(got) != want {
		t.Fatalf("queue %v, want %s", got, want)
	}
	status, body = w.call("GET", "/v1/queue?from="+w.days[2]+"&to="+w.days[2]+"&account="+w.acme, victorToken, nil)
	if q := decode[wire.Queue](t, body); status != 200 || len(q.Items) != 1 || q.Items[0].Invoice.Status != "draft" {
		t.Fatalf("queue of a day and crawler: %s", body)
	}

	status, body = w.call("GET", "/v1/chart?from="+w.days[0]+"&to="+w.days[2], victorToken, nil)
	c := decode[wire.Chart](t, body)
	if status != 200 || len(c.Series) != 2 || c.Series[0].Currency != "USD" || len(c.Series[0].Days) != 3 {
		t.Fatalf("chart %d %s", status, body)
	}
	want := []wire.ChartDay{
		{Day: w.days[0], Billed: "0.10", Charged: "0.10"},
		{Day: w.days[1], Billed: "0.20", Charged: "0.00"},
		{Day: w.days[2], Billed: "0.35", Charged: "0.00"},
	}
	if fmt.Sprint(c.Series[0].Days) != fmt.Sprint(want) {
		t.Fatalf("USD days %+v, want %+v", c.Series[0].Days, want)
	}
	if d := c.Series[1].Days; d[2].Billed != "2.00" || d[2].Charged != "2.00" || d[0].Charged != "0.00" {
		t.Fatalf("USDC days %+v", d)
	}
}

// TestWebConfirmationNamesTheCrawler: the confirmation step says who the
// crawler is, not only its id.
func TestWebConfirmationNamesTheCrawler(t *testing.T) {
	w := newDaysWorld(t)
	p := w.person()
	p.login(aliceToken)
	page := "/invoices/" + ledger.InvoiceID(w.acme, w.days[2], "USD")
	resp, body := p.do("POST", page+"/hold", url.Values{"csrf": {p.csrf(page)}, "reason": {"checking"}})
	if resp.StatusCode != 200 || !strings.Contains(body, "Confirm: hold") || !strings.Contains(body, "Acme Search") ||
		!strings.Contains(body, "billing@acme.example") {
		t.Fatalf("confirmation: %d\n%s", resp.StatusCode, body)
	}
}
