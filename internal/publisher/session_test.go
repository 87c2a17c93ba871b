package publisher

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/registry"
)

// TestSessionEndsWithItsToken: on the real registry, a publisher signed in
// to its page stays signed in until its token is rotated; then the
// session opened with the old token shows the sign-in page again (a leaked
// token's sessions end with it), the old token signs in no more, and the
// new one does. A cookie without a token's fingerprint (as issued before
// sessions were tied to tokens) is refused, whatever its signature.
func TestSessionEndsWithItsToken(t *testing.T) {
	rdb, book := newBook(t)
	store, err := registry.NewStore(rdb, registry.Options{AgentBase: "https://keys.example"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, token, err := store.CreatePublisher(ctx, registry.PublisherSpec{ID: "pub_news", Name: "News", Contact: "money@news.example"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Book: book, Accounts: store})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Routes(mux)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)

	signIn := func(tok string) (*http.Client, int) {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		resp, err := c.PostForm(ts.URL+"/publisher/login", url.Values{"token": {tok}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return c, resp.StatusCode
	}
	// signedIn reports whether c's session shows the statement.
	signedIn := func(c *http.Client) bool {
		resp, err := c.Get(ts.URL + "/publisher/statement?month=2026-11&format=html")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 200 && strings.Contains(string(b), "Statement: News (pub_news)")
	}

	c, status := signIn(token)
	if status != 200 || !signedIn(c) {
		t.Fatalf("sign-in with the publisher's token: %d, signed in %v", status, signedIn(c))
	}
	fresh, err := store.RotatePublisherToken(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if signedIn(c) {
		t.Error("the session opened with the rotated token still shows the statement")
	}
	if _, status := signIn(token); status != http.StatusUnauthorized {
		t.Errorf("sign-in with the old token: %d, want 401", status)
	}
	c2, status := signIn(fresh)
	if status != 200 || !signedIn(c2) {
		t.Fatalf("sign-in with the new token: %d", status)
	}

	// A cookie of the old form (publisher and expiry, signed with the
	// server's secret): refused.
	u, _ := url.Parse(ts.URL + "/publisher/")
	var cur *http.Cookie
	for _, ck := range c2.Jar.Cookies(u) {
		if ck.Name == cookieName {
			cur = ck
		}
	}
	if cur == nil {
		t.Fatal("no session cookie")
	}
	payload, _, _ := strings.Cut(cur.Value, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(payload)
	var ss session
	if err := json.Unmarshal(raw, &ss); err != nil || ss.Token == "" {
		t.Fatalf("session %s: %+v, %v", raw, ss, err)
	}
	ss.Token = ""
	old, _ := json.Marshal(ss)
	op := base64.RawURLEncoding.EncodeToString(old)
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(u, []*http.Cookie{{Name: cookieName, Value: op + "." + base64.RawURLEncoding.EncodeToString(s.mac(op)), Path: "/publisher/"}})
	if signedIn(&http.Client{Jar: jar}) {
		t.Error("a session cookie without its token's fingerprint shows the statement")
	}
}
