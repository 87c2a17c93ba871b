package publisher

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/refusals"
)

// fixedRefusals answers the same counts, or an error, whatever is asked.
type fixedRefusals struct {
	counts map[string]map[string]int64
	err    error
}

func (f fixedRefusals) Refusals(context.Context, string, time.Time, time.Time) (map[string]map[string]int64, error) {
	return f.counts, f.err
}

// pageWith signs in to a Server with refusals r and returns its page and
// its refusals API's answer.
func pageWith(t *testing.T, r Refusals) (string, int, string) {
	t.Helper()
	_, book := newBook(t)
	s, err := New(Options{Book: book, Accounts: oneAccount{token: goodToken}, Refusals: r,
		Names: func(_ context.Context, a string) string { return map[string]string{"op_b": "Bee Bot"}[a] }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Routes(mux)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(ts.URL+"/publisher/login", url.Values{"token": {goodToken}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	req, _ := http.NewRequest("GET", ts.URL+"/v1/publisher/refusals?month=2026-12", nil)
	req.Header.Set("Authorization", "Bearer "+goodToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	api, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(page), resp.StatusCode, string(api)
}

func TestPageRefusals(t *testing.T) {
	t.Run("counts", func(t *testing.T) {
		page, status, api := pageWith(t, fixedRefusals{counts: map[string]map[string]int64{
			"op_b": {refusals.ReasonBlocked: 3}, refusals.Unverified: {refusals.ReasonBadSignature: 5}}})
		for _, want := range []string{
			`<tr data-account="op_b"><td title="op_b">Bee Bot</td><td></td><td>0</td><td>—</td><td class="blocked">3</td><td class="over_cap">0</td><td class="bad_signature">0</td></tr>`,
			`<td title="unverified">Unverified (no proven crawler)</td><td></td><td>0</td><td>—</td><td class="blocked">0</td><td class="over_cap">0</td><td class="bad_signature">5</td>`,
		} {
			if !strings.Contains(page, want) {
				t.Errorf("page lacks %s", want)
			}
		}
		if status != 200 || !strings.Contains(api, `"op_b": {`) || !strings.Contains(api, `"rows": []`) {
			t.Errorf("api: %d %s", status, api)
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		page, status, api := pageWith(t, fixedRefusals{err: errors.New("dial tcp 10.1.2.3:6379: refused")})
		if !strings.Contains(page, "Refusals could not be read") || strings.Contains(page, "10.1.2.3") {
			t.Errorf("page with unreadable refusals: %s", page)
		}
		if status != http.StatusServiceUnavailable || !strings.Contains(api, `"unavailable"`) || strings.Contains(api, "10.1.2.3") {
			t.Errorf("api: %d %s", status, api)
		}
	})
	t.Run("not recorded", func(t *testing.T) {
		page, status, api := pageWith(t, nil)
		if !strings.Contains(page, "Refusals are not recorded") || !strings.Contains(page, `<td class="blocked">—</td>`) && strings.Contains(page, "data-account") {
			t.Errorf("page without refusals: %s", page)
		}
		if status != http.StatusNotFound || !strings.Contains(api, `"refusals_not_recorded"`) {
			t.Errorf("api: %d %s", status, api)
		}
	})
}
