package settle_test

import (
	"testing"

	"github.com/paycrawl/paycrawl/pkg/archive"
	"github.com/paycrawl/paycrawl/pkg/archive/localstore"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// TestRunOnceArchivesFinalDays: with a cold tier, the daily run archives
// each crawler-day once its invoices are final and trims its stream; one
// still held stays in Redis, also past retention, where the run archives
// instead of trimming.
func TestRunOnceArchivesFinalDays(t *testing.T) {
	e := newEnv(t, rails{})
	e.use("op_done", 0, "pub", "a.example", "USD", 1000, 2000)
	e.use("op_open", 0, "pub", "a.example", "USD", 3000)
	st, err := localstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, err := archive.New(archive.Options{Ledger: e.l, Store: st, TempDir: t.TempDir(), Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	s := e.settler(hooks{archiver: a})
	e.clock.Set(e.closeTime(0))
	if _, err := s.Close(e.ctx, e.day(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Void(e.ctx, ledger.InvoiceID("op_done", e.day(0), "USD"), settle.Review{Actor: "alice", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Hold(e.ctx, ledger.InvoiceID("op_open", e.day(0), "USD"), settle.Review{Actor: "alice", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	count := func(account string) int { return e.hot(account, e.day(0)) }
	rep, err := s.RunOnce(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	ar := rep.Days[len(rep.Days)-1].Archive
	if ar == nil || ar.Day != e.day(0) || len(ar.Archived) != 1 || ar.Archived[0].Account != "op_done" || ar.Kept["op_open"] == "" {
		t.Fatalf("archive report %+v", ar)
	}
	if count("op_done") != 0 || count("op_open") != 1 {
		t.Fatalf("streams: done %d, open %d", count("op_done"), count("op_open"))
	}
	tiered := &archive.Tiered{Ledger: e.l, Store: st}
	n := 0
	if err := tiered.Commitments(e.ctx, "op_done", e.day(0), func(*ledger.Commitment) error { n++; return nil }); err != nil || n != 2 {
		t.Fatalf("archived read: %d %v", n, err)
	}

	// Past retention the held crawler-day is still not final: the run
	// archives (nothing) rather than trim, and its stream stays.
	e.clock.Set(e.base.AddDate(0, 0, settle.DefaultRetentionDays).Add(e.cfg.Grace))
	rep, err = s.RunOnce(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Trimmed) != 0 || len(rep.Archived) != 1 || rep.Archived[0].Kept["op_open"] == "" || count("op_open") != 1 {
		t.Fatalf("retention with an archive: %+v %+v, op_open %d", rep.Trimmed, rep.Archived, count("op_open"))
	}
}
