package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

// TestEndToEnd drives crawlctl as an operator would, against a key directory
// started here on real Redis and stripe-mock, and a paywall that verifies
// signatures through the registry resolver: keygen, register (sign-up, key
// with proof, stripe billing), keys, fetch in every dialect, a refused
// offer, rotate, revoke, usage.
func TestEndToEnd(t *testing.T) {
	st := startStack(t)
	dir := t.TempDir()
	c := &cli{t: t, st: st}
	k1 := filepath.Join(dir, "k1.jwk")
	k2 := filepath.Join(dir, "k2.jwk")

	var gen keygenResult
	c.jsonOf(&gen, "keygen", "--out", k1)
	if fi, err := os.Stat(k1); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if _, _, err := c.run("keygen", "--out", k1); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("overwriting a key without --force: %v", err)
	}

	var reg registerResult
	c.jsonOf(&reg, "register", "--name", "Example Crawler", "--contact", "ops@crawler.example", "--rail", "stripe",
		"--daily-cap", "5.00", "--max-price", "0.05", "--key", k1)
	if !strings.HasPrefix(reg.Token, "pct_") || reg.KeyID != gen.KeyID || reg.AgentURL != st.keydir.URL+"/agents/"+reg.OperatorID ||
		reg.Billing == nil || !strings.HasPrefix(reg.Billing.Billing.StripeCustomerID, "cus_") || reg.Billing.Billing.DailyCap != "5.00" {
		t.Fatalf("register: %+v", reg)
	}
	c.env = map[string]string{"PAYCRAWL_TOKEN": reg.Token}

	out := c.ok("keys")
	if !strings.Contains(out, "KEYID") || !strings.Contains(out, gen.KeyID) || !strings.Contains(out, "active") {
		t.Fatalf("keys:\n%s", out)
	}

	t.Run("fetch pays in every dialect", func(t *testing.T) {
		for _, args := range [][]string{
			{"--dialect", "deferred"},
			{"--dialect", "x402"},
			{"--dialect", "crawler-price"},
			{"--preauthorize"},
		} {
			var res fetchResult
			c.jsonOf(&res, append([]string{"fetch", st.site.URL + "/article", "--key", k1, "--max-price", "0.05"}, args...)...)
			if res.Status != 200 || res.Bytes == 0 || res.Charged == nil || res.Charged.Amount != "0.01" || res.Charged.Currency != "USD" {
				t.Fatalf("fetch %v: %+v charged %+v", args, res, res.Charged)
			}
		}
		out := c.ok("fetch", st.site.URL+"/article", "--key", k1, "--max-price", "USD 0.05")
		if !strings.Contains(out, "200 OK") || !strings.Contains(out, "charged") || !strings.Contains(out, "USD 0.01") {
			t.Fatalf("human fetch output:\n%s", out)
		}
		// Without --max-price: the profile's default max price (0.05).
		var res fetchResult
		c.jsonOf(&res, "fetch", st.site.URL+"/article", "--key", k1)
		if res.Status != 200 || res.Charged == nil || res.MaxPrice != "USD 0.05" {
			t.Fatalf("fetch with the default max price: %+v", res)
		}
	})
	t.Run("fetch refuses an offer above the max price", func(t *testing.T) {
		var res fetchResult
		c.jsonFails(&res, exitPayment, "fetch", st.site.URL+"/article", "--key", k1, "--max-price", "0.001")
		if res.Status != 402 || res.Charged != nil || res.Offer == nil || res.Offer.Accepted || res.Offer.Price != "0.01" ||
			!strings.Contains(res.Message, "above your max price") {
			t.Fatalf("fetch: %+v offer %+v", res, res.Offer)
		}
		out := c.fails(exitPayment, "fetch", st.site.URL+"/article", "--key", k1, "--max-price", "0.001")
		if !strings.Contains(out, "refused offer") || !strings.Contains(out, "not paid") {
			t.Fatalf("human output:\n%s", out)
		}
	})
	t.Run("body to a file", func(t *testing.T) {
		body := filepath.Join(dir, "page.html")
		c.ok("fetch", st.site.URL+"/article", "--key", k1, "--max-price", "0.05", "--out", body)
		if b, err := os.ReadFile(body); err != nil || string(b) != "<html>paid content</html>" {
			t.Fatalf("body %q, %v", b, err)
		}
	})

	t.Run("rotate, then revoke the old key", func(t *testing.T) {
		var gen2 keygenResult
		c.jsonOf(&gen2, "keygen", "--out", k2)
		var rot struct {
			Key     struct{ KeyID string }
			Rotated []string
		}
		c.jsonOf(&rot, "rotate", "--key", k2, "--overlap", "1h")
		if rot.Key.KeyID != gen2.KeyID || len(rot.Rotated) != 1 || rot.Rotated[0] != gen.KeyID {
			t.Fatalf("rotate: %+v", rot)
		}
		for _, k := range []string{k1, k2} { // both are accepted during the overlap
			var res fetchResult
			c.jsonOf(&res, "fetch", st.site.URL+"/a", "--key", k, "--max-price", "0.05")
			if res.Status != 200 || res.Charged == nil {
				t.Fatalf("fetch with %s during the overlap: %+v", filepath.Base(k), res)
			}
		}
		out := c.ok("revoke", "--", gen.KeyID)
		if !strings.Contains(out, "revoked") {
			t.Fatalf("revoke output:\n%s", out)
		}
		var res fetchResult
		c.jsonFails(&res, exitRefused, "fetch", st.site.URL+"/a", "--key", k1, "--max-price", "0.05")
		if res.Status != 400 || res.Charged != nil || res.CrawlerError != "InvalidSignature" || res.Message == "" {
			t.Fatalf("fetch with the revoked key: %+v", res)
		}
		var keys struct {
			Keys []struct{ KeyID, Status string }
		}
		c.jsonOf(&keys, "keys")
		if len(keys.Keys) != 2 || keys.Keys[0].Status != "revoked" || keys.Keys[1].Status != "active" {
			t.Fatalf("keys after revoke: %+v", keys)
		}
	})

	t.Run("usage reads the ledger", func(t *testing.T) {
		_, err := st.ledger.Append(context.Background(), &ledger.Commitment{RequestID: "r1", Received: time.Now(),
			Account: reg.OperatorID, Agent: "https://x.example", KeyID: "k", Publisher: "pub_news", Site: "news.example",
			Method: "GET", Scheme: "https", Authority: "news.example", Path: "/a", Price: 10_000, Currency: "USD",
			Dialect: "deferred", Label: "sig1", SignatureInput: "x", Signature: ":x:", ReplayIDs: []string{"s:1"},
			ReplayUntil: time.Now().Add(time.Minute)}, ledger.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		out := c.ok("usage")
		if !strings.Contains(out, "news.example") || !strings.Contains(out, "USD 0.01") {
			t.Fatalf("usage output:\n%s", out)
		}
		var u keydir.UsageResponse
		c.jsonOf(&u, "usage")
		if len(u.Totals) != 1 || u.Totals[0].Requests != 1 || u.Totals[0].Amount != "0.01" {
			t.Fatalf("usage json: %+v", u)
		}
		if _, _, err := c.run("usage", "--day", "tomorrow"); !isUsage(err) {
			t.Fatalf("bad day: %v", err)
		}
	})

	t.Run("register an evm operator in human output", func(t *testing.T) {
		c2 := &cli{t: t, st: st}
		k3 := filepath.Join(dir, "k3.jwk")
		c2.ok("keygen", "--out", k3)
		walletFile, wallet := walletKeyFile(t, dir, "w3")
		out := c2.ok("register", "--name", "Chain Crawler", "--contact", "chain@crawler.example", "--rail", "evm",
			"--wallet", strings.ToLower(wallet), "--wallet-key", walletFile, "--daily-cap", "2", "--max-price", "0.01", "--key", k3)
		for _, want := range []string{"operator", "token", "shown only once", "agent URL", "USDC", wallet, "wallet proof", "approve", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"} {
			if !strings.Contains(out, want) {
				t.Errorf("register output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("register an existing operator's key and a repeated key", func(t *testing.T) {
		k4 := filepath.Join(dir, "k4.jwk")
		c.ok("keygen", "--out", k4)
		var r registerResult
		c.jsonOf(&r, "register", "--key", k4)
		if r.Token != "" || r.OperatorID != reg.OperatorID || r.KeyStatus != "active" {
			t.Fatalf("register with a token: %+v", r)
		}
		c.jsonOf(&r, "register", "--key", k4)
		if !strings.Contains(r.KeyStatus, "registered before") {
			t.Fatalf("repeated register: %+v", r)
		}
	})

	t.Run("a failure after sign-up still prints the token", func(t *testing.T) {
		c2 := &cli{t: t, st: st}
		out, _, err := c2.run("register", "--name", "x", "--contact", "x@crawler.example", "--key", k2, "--json")
		if err == nil || !strings.Contains(err.Error(), "duplicate_key") || !strings.Contains(out, `"token": "pct_`) {
			t.Fatalf("err %v, output:\n%s", err, out)
		}
	})
}

func TestCommandLineMistakes(t *testing.T) {
	st := startStack(t)
	c := &cli{t: t, st: st}
	tests := [][]string{
		{},
		{"nope"},
		{"register", "--key", "k.jwk"}, // no token, no name
		{"fetch"},                      // no URL
		{"fetch", "ftp://x", "--max-price", "0.05", "--key", "k"}, // not http
		{"fetch", "http://x", "--key", "k"},                       // no max price
		{"fetch", "http://x", "--max-price", "0.0000001", "--key", "k"},
		{"fetch", "http://x", "--max-price", "0.05", "--dialect", "carrier-pigeon", "--key", "k"},
		{"revoke"},
		{"keys"}, // no token
		{"keygen", "--bogus"},
		{"rotate", "extra"},
	}
	for _, args := range tests {
		if _, _, err := c.run(args...); !isUsage(err) {
			t.Errorf("crawlctl %q: %v, want a usage error", args, err)
		}
	}
	if out := c.ok("help"); !strings.Contains(out, "commands:") {
		t.Fatalf("help:\n%s", out)
	}
	// Wrong token: the key directory's answer is shown.
	c.env = map[string]string{"PAYCRAWL_TOKEN": "pct_" + strings.Repeat("A", 43)}
	if _, _, err := c.run("keys"); err == nil || !strings.Contains(err.Error(), "unauthorized") {
		t.Fatalf("keys with a wrong token: %v", err)
	}
}
