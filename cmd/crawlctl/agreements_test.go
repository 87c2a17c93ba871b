package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

// TestAgreementsCommand: a publisher offers; the operator lists, shows
// (with the text it signs), accepts with its key; a second version is
// declined; the settlement period is set. Mistakes are usage errors.
func TestAgreementsCommand(t *testing.T) {
	st := startStack(t)
	c := &cli{t: t, st: st}
	ctx := context.Background()
	key := filepath.Join(t.TempDir(), "k.jwk")
	var gen keygenResult
	c.jsonOf(&gen, "keygen", "--out", key)
	var reg registerResult
	c.jsonOf(&reg, "register", "--name", "Agreeable", "--contact", "ops@agree.example", "--key", key)
	c.env = map[string]string{"PAYCRAWL_TOKEN": reg.Token}
	if out := c.ok("agreements"); !strings.Contains(out, "No agreements") {
		t.Fatalf("empty list:\n%s", out)
	}
	_, pubToken, err := st.store.CreatePublisher(ctx, registry.PublisherSpec{ID: "pub_news", Name: "News", Contact: "money@news.example",
		Hosts: []string{"news.example"}})
	if err != nil {
		t.Fatal(err)
	}
	pub := &keydir.Client{BaseURL: st.keydir.URL, Token: pubToken}
	offer := agreement.Agreement{Account: reg.OperatorID, Currency: "USD", Scope: []agreement.Site{{Host: "news.example"}},
		ValidFrom: time.Now().UTC().Truncate(time.Second),
		Terms: agreement.Terms{Kind: agreement.KindSubscription, Subscription: &agreement.Subscription{
			Period: agreement.PeriodMonth, Fee: 100_000_000, Included: 10_000, HardStop: true}}}
	a, err := pub.OfferAgreement(ctx, offer)
	if err != nil {
		t.Fatal(err)
	}
	if out := c.ok("agreements", "list"); !strings.Contains(out, a.ID) || !strings.Contains(out, "offered") || !strings.Contains(out, "100.00 per month") {
		t.Fatalf("list:\n%s", out)
	}
	out := c.ok("agreements", "show", a.ID)
	if !strings.Contains(out, string(a.Canonical())) || !strings.Contains(out, "agreements accept "+a.ID+" --version 1") {
		t.Fatalf("show does not print the signed text and the next step:\n%s", out)
	}
	if err := usageOf(c, "agreements", "accept", a.ID, "--key", key); !strings.Contains(err, "--version") {
		t.Fatalf("accept without --version: %s", err)
	}
	if err := usageOf(c, "agreements", "accept", a.ID, "--version", "2", "--key", key); !strings.Contains(err, "no version 2") {
		t.Fatalf("accept of a missing version: %s", err)
	}
	if out := c.ok("agreements", "accept", a.ID, "--version", "1", "--key", key); !strings.Contains(out, "accepted") || !strings.Contains(out, gen.KeyID) {
		t.Fatalf("accept:\n%s", out)
	}
	if v, err := st.store.AgreementVersion(ctx, a.ID, 1); err != nil || v.State != agreement.StateAccepted || v.Acceptance.KeyID != gen.KeyID {
		t.Fatalf("stored: %+v, %v", v, err)
	}
	// Accepting again is refused locally: it is no longer offered.
	if err := usageOf(c, "agreements", "accept", a.ID, "--version", "1", "--key", key); !strings.Contains(err, "accepted") {
		t.Fatalf("second accept: %s", err)
	}
	offer.ID = a.ID
	offer.ValidFrom = offer.ValidFrom.Add(24 * time.Hour)
	if _, err := pub.OfferAgreement(ctx, offer); err != nil {
		t.Fatal(err)
	}
	var declined agreement.Agreement
	c.jsonOf(&declined, "agreements", "decline", a.ID, "--version", "2")
	if declined.State != agreement.StateDeclined || declined.Version != 2 {
		t.Fatalf("declined %+v", declined)
	}
	// The key directory's refusal exits 4 with its code.
	if out := c.fails(4, "agreements", "decline", a.ID, "--version", "2"); out != "" {
		t.Fatalf("second decline printed %q", out)
	}
	if out := c.ok("settlement-period", "weekly"); !strings.Contains(out, "weekly") {
		t.Fatalf("settlement-period:\n%s", out)
	}
	if err := usageOf(c, "settlement-period", "yearly"); !strings.Contains(err, "daily, weekly or monthly") {
		t.Fatalf("bad period: %s", err)
	}
}

// usageOf runs a command that must fail with a usage error and returns its
// message.
func usageOf(c *cli, args ...string) string {
	c.t.Helper()
	_, _, err := c.run(args...)
	if !isUsage(err) {
		c.t.Fatalf("crawlctl %s: %v, want a usage error", strings.Join(args, " "), err)
	}
	return err.Error()
}
