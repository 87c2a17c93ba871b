package settle_test

import (
	"testing"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// TestRunOnceAppliesRetention: once a day is RetentionDays old, the daily
// run deletes the commitment streams of its settled crawlers and keeps the
// others', whose invoices are not final yet.
func TestRunOnceAppliesRetention(t *testing.T) {
	e := newEnv(t, rails{})
	e.use("op_done", 0, "pub", "a.example", "USD", 1000)
	e.use("op_open", 0, "pub", "a.example", "USD", 2000)
	s := e.settler(hooks{})
	e.clock.Set(e.closeTime(0))
	if _, err := s.Close(e.ctx, e.day(0)); err != nil {
		t.Fatal(err)
	}
	done := ledger.InvoiceID("op_done", e.day(0), "USD")
	if _, err := s.Void(e.ctx, done, settle.Review{Actor: "alice", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	open := ledger.InvoiceID("op_open", e.day(0), "USD")
	if _, err := s.Hold(e.ctx, open, settle.Review{Actor: "alice", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	count := func(account string) int { return e.hot(account, e.day(0)) }
	// Before the retention period nothing is trimmed.
	rep, err := s.RunOnce(e.ctx)
	if err != nil || len(rep.Trimmed) != 0 || count("op_done") != 1 {
		t.Fatalf("run inside retention: %+v, %v", rep, err)
	}
	e.clock.Set(e.base.AddDate(0, 0, settle.DefaultRetentionDays).Add(e.cfg.Grace))
	rep, err = s.RunOnce(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Trimmed) != 1 || len(rep.Trimmed[0].Trimmed) != 1 || rep.Trimmed[0].Trimmed[0] != "op_done" || rep.Trimmed[0].Kept["op_open"] == "" {
		t.Fatalf("trim report %+v", rep.Trimmed)
	}
	if count("op_done") != 0 || count("op_open") != 1 {
		t.Fatalf("streams after retention: done %d, open %d", count("op_done"), count("op_open"))
	}
	// The invoices and their history stay.
	if inv := e.invoice(done); inv.Status != ledger.StatusVoid || inv.Total != 1000 {
		t.Fatalf("invoice after trim: %+v", inv)
	}
}
