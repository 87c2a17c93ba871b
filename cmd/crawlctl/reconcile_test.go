package main

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// A crawler charged for pages it did not receive finds them: fetch logs every
// paid request, and reconcile lists the day's commitments whose page was cut
// short or answered as an unconfirmed charge, with the total to dispute.
func TestReconcileFindsChargesForUndeliveredPages(t *testing.T) {
	st := startStack(t)
	st.paywall.ledger = st.ledger
	c := &cli{t: t, st: st}
	key := filepath.Join(t.TempDir(), "k.jwk")
	c.ok("keygen", "--out", key)
	var reg registerResult
	c.jsonOf(&reg, "register", "--name", "Reconciling Crawler", "--contact", "ops@crawler.example", "--rail", "stripe",
		"--daily-cap", "5.00", "--max-price", "0.05", "--key", key)
	c.env = map[string]string{"PAYCRAWL_TOKEN": reg.Token}

	c.ok("fetch", st.site.URL+"/ok", "--key", key, "--max-price", "0.05")
	if _, _, err := c.run("fetch", st.site.URL+"/cut", "--key", key, "--max-price", "0.05"); err == nil {
		t.Fatal("a fetch whose body was cut short succeeded")
	}
	c.run("fetch", st.site.URL+"/unconfirmed", "--key", key, "--max-price", "0.05")
	// A charge signed elsewhere (no line in this log), and a log line the
	// ledger does not hold.
	if _, err := st.ledger.Append(context.Background(), &ledger.Commitment{RequestID: "elsewhere", Received: time.Now(),
		Account: reg.OperatorID, Agent: "https://x.example", KeyID: "k", Publisher: "pub_1", Site: "news.example",
		Method: "GET", Scheme: "https", Authority: "news.example", Path: "/other", Price: 30_000, Currency: "USD",
		Dialect: "deferred", Label: "sig1", SignatureInput: "x", Signature: ":x:", ReplayIDs: []string{"s:elsewhere"},
		ReplayUntil: time.Now().Add(time.Minute)}, ledger.Limits{}); err != nil {
		t.Fatal(err)
	}
	if err := appendReceipt(st.receipts, receipt{Sent: time.Now().UTC(), URL: st.site.URL + "/ghost", SignatureID: "s:ghost",
		Status: 200, Charged: "0.01", Currency: "USD", Commitment: "1-1", Delivered: true}); err != nil {
		t.Fatal(err)
	}

	out, _, err := c.run("reconcile", "--json")
	var de *differencesError
	if !errors.As(err, &de) || de.n != 3 {
		t.Fatalf("reconcile: %v, want 3 differences\n%s", err, out)
	}
	var rep reconcileReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	seen := map[string]string{}
	for _, l := range rep.NotDelivered {
		seen[l.URL[len(st.site.URL):]] = l.Seen
		if l.Commitment == "" || l.RequestID == "" || l.Price != "0.01" {
			t.Errorf("not delivered: %+v", l)
		}
	}
	if rep.Commitments != 4 || rep.Receipts != 4 || rep.Matched != 1 || len(seen) != 2 ||
		!strings.Contains(seen["/cut"], "body cut short") || !strings.Contains(seen["/unconfirmed"], "503 InternalError") ||
		len(rep.NoReceipt) != 1 || rep.NoReceipt[0].Path != "/other" ||
		len(rep.Unrecorded) != 1 || rep.Unrecorded[0].SignatureID != "s:ghost" || rep.DisputeTotal["USD"] != "0.02" {
		t.Fatalf("report %+v", rep)
	}
	human, _, _ := c.run("reconcile")
	for _, want := range []string{"Charged, but the page was not delivered (2)", "credit these commitments", "/ghost", "/other"} {
		if !strings.Contains(human, want) {
			t.Errorf("human output lacks %q:\n%s", want, human)
		}
	}
	if !regexp.MustCompile(`(?m)^to dispute +USD 0\.02$`).MatchString(human) {
		t.Errorf("human output lacks the total to dispute:\n%s", human)
	}
	if _, _, err := c.run("reconcile", "--day", "yesterday"); !isUsage(err) {
		t.Errorf("bad day: %v", err)
	}
}
