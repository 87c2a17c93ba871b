package finance_test

import (
	"context"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/paycrawl/paycrawl/internal/finance"
	"github.com/paycrawl/paycrawl/internal/testlog"
	"github.com/paycrawl/paycrawl/pkg/archive"
	"github.com/paycrawl/paycrawl/pkg/archive/localstore"
	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// keylessLedger is the ledger with its archived public keys gone: an
// audit through it can verify signatures only from what it reads.
type keylessLedger struct{ *archive.Tiered }

func (keylessLedger) PublicKey(context.Context, string, string) (string, error) {
	return "", ledger.ErrNotFound
}

// TestAuditOfAnArchivedDayEqualsTheAuditFromRedis: a day's invoices,
// audited and exported as CSV while the day is in Redis, audit and export
// the same once the day is archived and its streams trimmed, through the
// API and with the public keys gone from Redis (from the archive alone).
func TestAuditOfAnArchivedDayEqualsTheAuditFromRedis(t *testing.T) {
	w := newWorld(t)
	w.use("op_acme", "pub_blog", "blog.example", "USD", 50_000, 70_000)
	w.use("op_acme", "pub_news", "news.example", "USD", 100_000, 100_000)
	w.use("op_acme", "pub_news", "news.example", "EUR", 70_000)
	other := newCrawlerKey(t)
	w.useWith(other, "op_bolt", "pub_news", "news.example", "USD", 10_000, 20_000)
	w.close()
	ids := []string{w.id("op_acme", "USD"), w.id("op_acme", "EUR"), w.id("op_bolt", "USD")}
	w.drive(ids[0], ledger.StatusPaid, ledger.Settlement{})
	w.drive(ids[1], ledger.StatusVoid, ledger.Settlement{})
	w.drive(ids[2], ledger.StatusCarried, ledger.Settlement{})

	st, err := localstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tiered := &archive.Tiered{Ledger: w.l, Store: st}
	srv, err := finance.New(finance.Options{Ledger: tiered, Ops: w.s, Config: w.fcfg, Now: w.clock.Now, Logger: testlog.New()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

	type view struct {
		report *finance.AuditReport
		csv    string
	}
	// look audits and exports every invoice with an Auditor on l and
	// through the API of the server ts.
	look := func(l finance.Ledger, ts *httptest.Server) map[string]view {
		saved := w.ts
		w.ts = ts
		defer func() { w.ts = saved }()
		out := map[string]view{}
		for _, id := range ids {
			inv := w.invoice(id)
			rep, err := (&finance.Auditor{Ledger: l}).Audit(w.ctx, inv, finance.AuditHooks{})
			if err != nil {
				t.Fatal(err)
			}
			code, csv := w.call("GET", "/v1/invoices/"+id+"/commitments.csv", victorToken, nil)
			_, sum := w.audit(id)
			if code != 200 || !sum.OK || rep.Verified == 0 || !rep.OK() {
				t.Fatalf("%s: csv %d, audit %+v, report %+v", id, code, sum, rep)
			}
			out[id] = view{rep, string(csv)}
		}
		return out
	}
	hot := look(w.l, w.ts)

	a, err := archive.New(archive.Options{Ledger: w.l, Store: st, TempDir: t.TempDir(), Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := a.ArchiveDay(w.ctx, w.day)
	if err != nil || len(rep.Archived) != 2 || len(rep.Trimmed) != 2 {
		t.Fatalf("archive: %+v %v", rep, err)
	}
	var n int
	_ = w.l.Commitments(w.ctx, "op_acme", w.day, func(*ledger.Commitment) error { n++; return nil })
	if n != 0 {
		t.Fatalf("Redis still holds %d commitments of op_acme", n)
	}
	if cold := look(tiered, ts); !reflect.DeepEqual(cold, hot) {
		t.Fatalf("archived day:\n%+v\nfrom Redis:\n%+v", cold, hot)
	}
	// From the archive alone: no key from Redis.
	for _, id := range ids {
		inv := w.invoice(id)
		r, err := (&finance.Auditor{Ledger: keylessLedger{tiered}}).Audit(w.ctx, inv, finance.AuditHooks{})
		if err != nil || !reflect.DeepEqual(r, hot[id].report) {
			t.Fatalf("%s from the archive alone: %+v %v, want %+v", id, r, err, hot[id].report)
		}
	}
	// A day in neither tier is reported as such.
	r, err := (&finance.Auditor{Ledger: w.l}).Audit(w.ctx, w.invoice(ids[0]), finance.AuditHooks{})
	if err != nil || r.SumsOK() {
		t.Fatalf("audit without the archive: %+v %v", r, err)
	}
}
