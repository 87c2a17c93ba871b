package finance_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/finance"
	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// person is someone using the page: an HTTP client that keeps cookies but
// does not follow redirects, so that tests see each 303.
type person struct {
	w      *world
	c      *http.Client
	cookie *http.Cookie
}

func (w *world) person() *person {
	return &person{w: w, c: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a request with the person's cookie; form (if not nil) is
// posted from this site's own page (Origin set, as a browser does).
func (p *person) do(method, path string, form url.Values, hdr ...string) (*http.Response, string) {
	p.w.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(p.w.ctx, method, p.w.ts.URL+path, body)
	if err != nil {
		p.w.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", p.w.ts.URL)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if p.cookie != nil {
		req.AddCookie(p.cookie)
	}
	resp, err := p.c.Do(req)
	if err != nil {
		p.w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, c := range resp.Cookies() {
		if c.Name == "paycrawl_finance" {
			if c.MaxAge < 0 || c.Value == "" {
				p.cookie = nil
			} else {
				p.cookie = c
			}
		}
	}
	return resp, string(b)
}

// login signs in with token and fails the test unless it works.
func (p *person) login(token string) *http.Response {
	p.w.t.Helper()
	resp, body := p.do("POST", "/login", url.Values{"token": {token}, "next": {"/"}})
	if resp.StatusCode != http.StatusSeeOther || p.cookie == nil {
		p.w.t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	return resp
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// csrf reads the CSRF token from a page.
func (p *person) csrf(path string) string {
	p.w.t.Helper()
	_, body := p.do("GET", path, nil)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		p.w.t.Fatalf("no CSRF token on %s", path)
	}
	return m[1]
}

// webWorld is a world with three invoices: acme (draft, two lines, USD
// 0.35), bolt (paid on the chain) and cask (draft).
func webWorld(t *testing.T) *world {
	w := newWorld(t)
	w.use("op_acme", "pub_news", "news.example", "USD", 100_000, 100_000, 100_000)
	w.use("op_acme", "pub_blog", "blog.example", "USD", 50_000)
	w.use("op_bolt", "pub_news", "news.example", "USDC", 1_234_567_891)
	w.use("op_cask", "pub_blog", "blog.example", "USD", 7_000)
	w.close()
	w.drive(w.id("op_bolt", "USDC"), ledger.StatusPaid, ledger.Settlement{Rail: "evm",
		TxHash: "0x9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Block: 1234, Charged: 1_234_567_891})
	return w
}

// TestWebLoginAndSessions: pages need a session; a token is exchanged for
// a signed HttpOnly SameSite=Strict cookie that never holds the token; a
// forged, expired or revoked session sends people back to the login page.
func TestWebLoginAndSessions(t *testing.T) {
	w := webWorld(t)
	p := w.person()
	resp, _ := p.do("GET", "/?day="+w.day, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2F%3Fday%3D"+w.day {
		t.Fatalf("no session: %d %v", resp.StatusCode, resp.Header)
	}
	resp, body := p.do("POST", "/login", url.Values{"token": {"fin_wrong"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "That token is not recognised") || p.cookie != nil {
		t.Fatalf("wrong token: %d", resp.StatusCode)
	}
	resp, _ = p.do("POST", "/login", url.Values{"token": {aliceToken}}, "Origin", "https://evil.example")
	if resp.StatusCode != http.StatusForbidden || p.cookie != nil {
		t.Fatalf("cross-site login: %d", resp.StatusCode)
	}
	resp, _ = p.do("POST", "/login", url.Values{"token": {aliceToken}, "next": {"//evil.example/x"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("open redirect: %v", resp.Header)
	}
	raw := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(raw, want) {
			t.Errorf("cookie %q lacks %s", raw, want)
		}
	}
	if strings.Contains(raw, aliceToken) || strings.Contains(raw, sha(aliceToken)) {
		t.Fatalf("the cookie carries the token: %s", raw)
	}
	resp, body = p.do("GET", "/?day="+w.day, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, w.id("op_acme", "USD")) || !strings.Contains(body, "USD\u00a00.35") ||
		!strings.Contains(body, "USDC\u00a01,234.567891") || !strings.Contains(body, "0x9f86d081…f00a08") {
		t.Fatalf("day page: %d\n%s", resp.StatusCode, body)
	}
	for h, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'", "X-Frame-Options": "DENY", "Cache-Control": "no-store",
	} {
		if !strings.Contains(resp.Header.Get(h), want) {
			t.Errorf("%s = %q", h, resp.Header.Get(h))
		}
	}

	good := p.cookie
	sessions := []struct {
		name  string
		value func() string
		now   time.Time
	}{
		{"forged payload", func() string { return "x" + good.Value[1:] }, time.Time{}},
		{"no signature", func() string { v, _, _ := strings.Cut(good.Value, "."); return v }, time.Time{}},
		{"garbage", func() string { return "not-a-session" }, time.Time{}},
		{"expired", func() string { return good.Value }, w.clock.Now().Add(finance.DefaultSessionTTL + time.Second)},
	}
	for _, tt := range sessions {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.now.IsZero() {
				saved := w.clock.Now()
				w.clock.Set(tt.now)
				defer w.clock.Set(saved)
			}
			q := w.person()
			q.cookie = &http.Cookie{Name: "paycrawl_finance", Value: tt.value()}
			resp, _ := q.do("GET", "/invoices/"+w.id("op_acme", "USD"), nil)
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
				t.Fatalf("%d %v", resp.StatusCode, resp.Header)
			}
		})
	}

	// Rotating alice's token (same secret, new hash) ends her sessions; a
	// server with another secret does not accept them either.
	for name, cfg := range map[string]finance.Config{
		"rotated": {SessionSecret: "a test secret that is long enough to sign sessions",
			Tokens: []finance.Token{{Name: "alice", Role: finance.RoleFinance, TokenSHA256: sha("fin_alice_new")}}},
		"other secret": {SessionSecret: "another secret, also long enough for sessions",
			Tokens: []finance.Token{{Name: "alice", Role: finance.RoleFinance, TokenSHA256: sha(aliceToken)}}},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.AddCookie(good)
		w.server(cfg).Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusSeeOther {
			t.Errorf("%s: %d", name, rec.Code)
		}
	}

	// Sign out clears the cookie.
	csrf := p.csrf("/?day=" + w.day)
	resp, _ = p.do("POST", "/logout", url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusSeeOther || p.cookie != nil || !strings.Contains(resp.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestWebCSRF: an action needs the session's CSRF token and a same-site
// Origin; without them it is refused with a 403 and nothing changes. With
// them it asks for confirmation first, then acts and redirects (303) to the
// invoice with a message.
func TestWebCSRF(t *testing.T) {
	w := webWorld(t)
	alice, victor := w.person(), w.person()
	alice.login(aliceToken)
	victor.login(victorToken)
	id := w.id("op_acme", "USD")
	page := "/invoices/" + id
	token := alice.csrf(page)
	other := victor.csrf(page)
	hold := func(csrf string) url.Values {
		return url.Values{"csrf": {csrf}, "reason": {"publisher disputes the crawl"}, "confirm": {"yes"}}
	}
	refusals := []struct {
		name string
		form url.Values
		hdr  []string
		has  string
	}{
		{"no token", url.Values{"reason": {"x"}, "confirm": {"yes"}}, nil, "This form has expired or did not come from this page"},
		{"wrong token", hold(strings.Repeat("0", 64)), nil, "did not come from this page"},
		{"another session's token", hold(other), nil, "did not come from this page"},
		{"a token one character off", hold(token[:len(token)-1] + "x"), nil, "did not come from this page"},
		{"another site's form", hold(token), []string{"Origin", "https://evil.example"}, "sent from another site"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := alice.do("POST", page+"/hold", tt.form, tt.hdr...)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, tt.has) {
				t.Fatalf("%d\n%s", resp.StatusCode, body)
			}
			if inv := w.invoice(id); inv.Status != ledger.StatusDraft {
				t.Fatalf("a refused form changed the invoice to %s", inv.Status)
			}
		})
	}

	// The viewer sees no action and may not post one.
	_, body := victor.do("GET", page, nil)
	if strings.Contains(body, `action="/invoices/`+id+`/hold"`) || !strings.Contains(body, "viewer role") {
		t.Fatalf("viewer page offers actions:\n%s", body)
	}
	resp, body := victor.do("POST", page+"/hold", hold(other))
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "viewer role") {
		t.Fatalf("viewer hold: %d %s", resp.StatusCode, body)
	}

	// First a confirmation, which changes nothing.
	form := hold(token)
	form.Del("confirm")
	resp, body = alice.do("POST", page+"/hold", form)
	if resp.StatusCode != 200 || !strings.Contains(body, "Confirm: hold") || !strings.Contains(body, `name="confirm" value="yes"`) {
		t.Fatalf("confirmation: %d\n%s", resp.StatusCode, body)
	}
	if w.invoice(id).Status != ledger.StatusDraft {
		t.Fatal("the confirmation step acted")
	}
	resp, _ = alice.do("POST", page+"/hold", hold(token))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != page+"?done=hold&changed=1" {
		t.Fatalf("hold: %d %v", resp.StatusCode, resp.Header)
	}
	_, body = alice.do("GET", resp.Header.Get("Location"), nil)
	if !strings.Contains(body, "Invoice held.") || !strings.Contains(body, `id="status">held<`) || !strings.Contains(body, "publisher disputes the crawl") {
		t.Fatalf("after hold:\n%s", body)
	}
	inv := w.invoice(id)
	if last := inv.History[len(inv.History)-1]; inv.Status != ledger.StatusHeld || last.Actor != "alice" {
		t.Fatalf("%s %+v", inv.Status, last)
	}
	// Again: nothing changes, and the page says so.
	resp, _ = alice.do("POST", page+"/hold", hold(token))
	if resp.Header.Get("Location") != page+"?done=hold&changed=0" || len(w.invoice(id).History) != len(inv.History) {
		t.Fatalf("repeat: %v", resp.Header)
	}
	_, body = alice.do("GET", resp.Header.Get("Location"), nil)
	if !strings.Contains(body, "The invoice was already held; nothing changed.") {
		t.Fatalf("repeat page:\n%s", body)
	}
}

// TestWebActions: credit, release, approve and void through the forms; a
// refused action shows the reason (409), never a 500; bad input is a 400
// with the form's message.
func TestWebActions(t *testing.T) {
	w := webWorld(t)
	p := w.person()
	p.login(aliceToken)
	id := w.id("op_acme", "USD")
	page := "/invoices/" + id
	csrf := p.csrf(page)
	post := func(action string, fields ...string) (*http.Response, string) {
		form := url.Values{"csrf": {csrf}, "confirm": {"yes"}}
		for i := 0; i+1 < len(fields); i += 2 {
			form.Set(fields[i], fields[i+1])
		}
		return p.do("POST", page+"/"+action, form)
	}
	// Each step depends on the one before.
	resp, body := post("credit", "line", "2", "amount", "0.05")
	if resp.StatusCode != 400 || !strings.Contains(body, "A reason is required to credit a line") {
		t.Fatalf("credit without reason: %d", resp.StatusCode)
	}
	resp, body = post("credit", "line", "2", "amount", "five cents", "reason", "dupes")
	if resp.StatusCode != 400 || !strings.Contains(body, "The credit must be an amount such as 0.25") {
		t.Fatalf("credit bad amount: %d", resp.StatusCode)
	}
	resp, body = post("credit", "line", "2", "amount", "0.31", "reason", "dupes")
	if resp.StatusCode != 400 || !strings.Contains(body, "exceeds the line&#39;s amount 0.30") {
		t.Fatalf("credit above the line: %d\n%s", resp.StatusCode, body)
	}
	// The confirmation step carries the credit on, exactly.
	resp, body = p.do("POST", page+"/credit", url.Values{"csrf": {csrf}, "line": {"2"}, "amount": {"0.050"}, "reason": {"duplicate fetches"}})
	if resp.StatusCode != 200 || !strings.Contains(body, `name="amount" value="0.05"`) || !strings.Contains(body, `name="line" value="2"`) ||
		!strings.Contains(body, "the total becomes USD\u00a00.30") {
		t.Fatalf("credit confirmation: %d\n%s", resp.StatusCode, body)
	}
	resp, _ = post("credit", "line", "2", "amount", "0.05", "reason", "duplicate fetches")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != page+"?done=credit&changed=1&line=2" {
		t.Fatalf("credit: %d %v", resp.StatusCode, resp.Header)
	}
	_, body = p.do("GET", resp.Header.Get("Location"), nil)
	if !strings.Contains(body, "Credit recorded on line 2. The total is now USD\u00a00.30.") || !strings.Contains(body, "credit on line 2: USD\u00a00.05") {
		t.Fatalf("after credit:\n%s", body)
	}
	for _, a := range []struct{ action, reason string }{{"hold", "check"}, {"release", ""}, {"approve", ""}} {
		resp, body = post(a.action, "reason", a.reason)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: %d %s", a.action, resp.StatusCode, body)
		}
	}
	if inv := w.invoice(id); inv.Status != ledger.StatusApproved || inv.Total != 300_000 {
		t.Fatalf("%s %s", inv.Status, inv.Total)
	}
	// Refused by the state machine: the page says why, with a 409.
	paid := "/invoices/" + w.id("op_bolt", "USDC")
	for _, confirm := range []string{"", "yes"} {
		resp, body = p.do("POST", paid+"/void", url.Values{"csrf": {csrf}, "reason": {"x"}, "confirm": {confirm}})
		if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "is paid: cannot void") {
			t.Fatalf("void a paid invoice (confirm=%q): %d\n%s", confirm, resp.StatusCode, body)
		}
	}
	if w.invoice(w.id("op_bolt", "USDC")).Status != ledger.StatusPaid {
		t.Fatal("a refused void changed the invoice")
	}
	resp, body = post("void", "reason", "robots.txt forbade it")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("void: %d %s", resp.StatusCode, body)
	}
	_, body = p.do("GET", page, nil)
	if !strings.Contains(body, "No review action applies to a void invoice.") {
		t.Fatalf("void page:\n%s", body)
	}
	// Unknown pages and actions are pages too, never a 500.
	for path, want := range map[string]int{"/invoices/inv_nope": 404, "/invoices/" + id + "/audit": 200, "/nowhere": 404} {
		if resp, _ := p.do("GET", path, nil); resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	if resp, _ := p.do("POST", page+"/explode", url.Values{"csrf": {csrf}}); resp.StatusCode != 404 {
		t.Errorf("unknown action: %d", resp.StatusCode)
	}
}

// TestWebCSVNeedsASession: the page's CSV links work with the session
// cookie, and send others to the login page.
func TestWebCSVNeedsASession(t *testing.T) {
	w := webWorld(t)
	p := w.person()
	path := "/days/" + w.day + "/invoices.csv"
	if resp, _ := p.do("GET", path, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("without a session: %d", resp.StatusCode)
	}
	p.login(victorToken)
	resp, body := p.do("GET", path, nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || strings.Count(body, "\n") != 4 {
		t.Fatalf("%d %v\n%s", resp.StatusCode, resp.Header, body)
	}
}
