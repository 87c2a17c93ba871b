package finance_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/earnings"
)

// TestWebPayouts: the payouts page lists every payout with its status,
// reference and the actions its status allows; finance holds one from its
// form with a reason (recorded with the person's name), a missing reason
// or a forbidden action says why and changes nothing; a viewer sees the
// table without forms and may not post; the flash after an action is the
// server's own words, whatever the link says.
func TestWebPayouts(t *testing.T) {
	w := newWorld(t)
	book := w.withPayouts()
	a, b := earnings.PayoutID("2026-W49", "pub_a", "USD"), earnings.PayoutID("2026-W49", "pub_b", "USD")
	p := w.person()
	p.login(aliceToken)
	resp, body := p.do("GET", "/payouts", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `id="payout-table"`) || !strings.Contains(body, `id="nav-payouts"`) || !strings.Contains(body, "tr_1") ||
		!strings.Contains(body, `action="/payouts/`+a+`/hold"`) || strings.Contains(body, `action="/payouts/`+b+`/`) {
		t.Fatalf("payouts page: %d\n%s", resp.StatusCode, body)
	}
	csrf := p.csrf("/payouts")
	post := func(id, action, reason string) (*http.Response, string) {
		return p.do("POST", "/payouts/"+id+"/"+action, url.Values{"csrf": {csrf}, "reason": {reason}})
	}
	if resp, body := post(a, "hold", " "); resp.StatusCode != 400 || !strings.Contains(body, "A reason is required to hold a payout") {
		t.Fatalf("hold without a reason: %d", resp.StatusCode)
	}
	if resp, body := post(b, "release", "why not"); resp.StatusCode != 409 || !strings.Contains(body, "is paid: cannot release") {
		t.Fatalf("release of a paid payout: %d\n%s", resp.StatusCode, body)
	}
	resp, _ = post(a, "hold", "statement disputed")
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/payouts?done=hold&payout="+a+"&changed=1") {
		t.Fatalf("hold: %d %s", resp.StatusCode, loc)
	}
	if _, body := p.do("GET", loc, nil); !strings.Contains(body, "Payout "+a+" is held: no run sends it until it is released.") {
		t.Fatalf("after the hold:\n%s", body)
	}
	po, err := book.Payout(w.ctx, a)
	if err != nil || po.Status != earnings.PayoutHeld {
		t.Fatalf("held payout %+v %v", po, err)
	}
	if last := po.History[len(po.History)-1]; last.Actor != "alice" || last.Reason != "statement disputed" {
		t.Fatalf("the hold's history %+v", last)
	}
	if _, body := p.do("GET", "/payouts?done=hold&payout=nonsense&changed=1&msg=call+us", nil); strings.Contains(body, "call us") ||
		strings.Contains(body, `id="flash"`) {
		t.Fatalf("a crafted link put words on the page:\n%s", body)
	}
	v := w.person()
	v.login(victorToken)
	if _, body := v.do("GET", "/payouts", nil); !strings.Contains(body, a) || strings.Contains(body, `action="/payouts/`) {
		t.Fatalf("the viewer's page has forms:\n%s", body)
	}
	if resp, _ := v.do("POST", "/payouts/"+a+"/release", url.Values{"csrf": {v.csrf("/payouts")}, "reason": {"r"}}); resp.StatusCode != 403 {
		t.Fatalf("a viewer's release: %d", resp.StatusCode)
	}
}
