package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/api"
	"github.com/redis/go-redis/v9"
)

// TestAgreementsCommand: a publisher offers from a JSON file, lists, shows
// and withdraws; another publisher's agreement stays out of reach.
func TestAgreementsCommand(t *testing.T) {
	rs := testredis.Start(t, testredis.Options{NoAOF: true})
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	ts := httptest.NewUnstartedServer(nil)
	store, err := registry.NewStore(rdb, registry.Options{AgentBase: "http://" + ts.Listener.Addr().String(), Logger: slog.New(slog.DiscardHandler), SignupsPerMinute: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{Store: store, AdminToken: strings.Repeat("a", 32), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	ctx := context.Background()
	op, _, err := store.SignUp(ctx, "Crawler", "ops@crawler.example")
	if err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	proof, _ := registry.SignProof(priv, op.ID, time.Now())
	if _, err := store.RegisterKey(ctx, op.ID, proof); err != nil {
		t.Fatal(err)
	}
	_, news, _ := store.CreatePublisher(ctx, registry.PublisherSpec{ID: "pub_news", Name: "News", Contact: "m@news.example", Hosts: []string{"news.example"}})
	_, blog, _ := store.CreatePublisher(ctx, registry.PublisherSpec{ID: "pub_blog", Name: "Blog", Contact: "m@blog.example", Hosts: []string{"blog.example"}})

	file := filepath.Join(t.TempDir(), "offer.json")
	offer := `{"account": "` + op.ID + `", "currency": "USD", "valid_from": "` + time.Now().UTC().Format("2006-01-02T15:04:05Z") + `",
	  "scope": [{"host": "news.example", "paths": ["/archive/"]}],
	  "terms": {"kind": "prepaid", "prepaid": {"amount": "50.00", "top_up_below": "10.00"}}}`
	if err := os.WriteFile(file, []byte(offer), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(token string, args ...string) (string, error) {
		var out bytes.Buffer
		env := map[string]string{"PAYCRAWL_KEYDIR_URL": ts.URL, "PAYCRAWL_PUBLISHER_TOKEN": token}
		err := runAgreements(ctx, args, &out, func(k string) string { return env[k] })
		return out.String(), err
	}
	out, err := run(news, "offer", "--file", file, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var a agreement.Agreement
	if err := json.Unmarshal([]byte(out), &a); err != nil || a.Publisher != "pub_news" || a.Terms.Kind != agreement.KindPrepaid {
		t.Fatalf("offer: %v\n%s", err, out)
	}
	if out, err := run(news, "list"); err != nil || !strings.Contains(out, a.ID) || !strings.Contains(out, "prepaid: 50.00") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, err := run(news, "show", a.ID); err != nil || !strings.Contains(out, string(a.Canonical())) {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if _, err := run(blog, "show", a.ID); err == nil || !strings.Contains(err.Error(), "not_found") {
		t.Fatalf("another publisher's show: %v", err)
	}
	// The offer names news.example, pub_news's host: pub_blog may not sell it.
	if _, err := run(blog, "offer", "--file", file); err == nil || !strings.Contains(err.Error(), "host_not_yours") {
		t.Errorf("offer for another publisher's host: %v", err)
	}
	if _, err := run(blog, "offer", "--file", file, "--next", a.ID); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("another publisher's next version: %v", err)
	}
	if _, err := run(blog, "withdraw", a.ID, "--version", "1"); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("another publisher's withdraw: %v", err)
	}
	if out, err := run(news, "withdraw", a.ID, "--version", "1"); err != nil || !strings.Contains(out, "withdrawn") {
		t.Fatalf("withdraw: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"offer"}, {"withdraw", a.ID}, {"show"}, {"frobnicate"}} {
		if _, err := run(news, args...); err == nil {
			t.Errorf("gateway agreements %q succeeded", args)
		}
	}
	if _, err := run("", "list"); err == nil || !strings.Contains(err.Error(), "PAYCRAWL_PUBLISHER_TOKEN") {
		t.Errorf("without a token: %v", err)
	}
	_ = os.WriteFile(file, []byte(`{"account": "`+op.ID+`", "valid_untill": "2030-01-01T00:00:00Z"}`), 0o600)
	if _, err := run(news, "offer", "--file", file); err == nil || !strings.Contains(err.Error(), "valid_untill") {
		t.Errorf("a misspelt field: %v", err)
	}
}
