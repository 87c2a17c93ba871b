package archive_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/paycrawl/paycrawl/internal/tests3"
	"github.com/paycrawl/paycrawl/pkg/archive"
	"github.com/paycrawl/paycrawl/pkg/archive/s3store"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// TestArchiveDayOnS3 archives into a real S3-compatible server on
// loopback, crashing once after the manifest: the rerun trims, the day
// reads back from the bucket and the archive checks.
func TestArchiveDayOnS3(t *testing.T) {
	srv := tests3.Start(t)
	w := newWorld(t)
	st, err := s3store.New(s3store.Config{Endpoint: srv.Endpoint, Insecure: true, PathStyle: true,
		Bucket: tests3.Bucket, Prefix: "ledger", AccessKey: tests3.AccessKey, SecretKey: tests3.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	w.store = st
	w.use("op_acme", "news.example", "EUR", 5_000)
	prices := make([]money.Micros, 600) // three of a segment's frames
	for i := range prices {
		prices[i] = money.Micros(10_000 + i)
	}
	w.use("op_acme", "blog.example", "USD", prices...)
	w.close()
	w.void("op_acme", "USD")
	w.void("op_acme", "EUR")
	want := w.read(w.l, "op_acme")

	crash := func(p string) error {
		if p == archive.FaultManifest {
			return errInjected
		}
		return nil
	}
	if _, err := w.archiver(crash).ArchiveDay(w.ctx, w.day); !errors.Is(err, errInjected) {
		t.Fatalf("crashed run: %v", err)
	}
	if w.hot("op_acme") != 601 {
		t.Fatal("trimmed before the run finished")
	}
	rep, err := w.archiver(nil).ArchiveDay(w.ctx, w.day)
	if err != nil || rep.Manifest != "" || !reflect.DeepEqual(rep.Trimmed, []string{"op_acme"}) {
		t.Fatalf("rerun: %+v %v", rep, err)
	}
	tiered := &archive.Tiered{Ledger: w.l, Store: st}
	if got := w.read(tiered, "op_acme"); w.hot("op_acme") != 0 || !reflect.DeepEqual(stripKeys(t, got), want) {
		t.Fatalf("read back from S3: %+v", got)
	}
	// Pages start at their frame: a ranged read of the object.
	for _, from := range []int{1, 300, 590} {
		page, next, err := tiered.CommitmentsPage(w.ctx, "op_acme", w.day, want[from].ID, 10)
		wantNext := ""
		if from+11 < len(want) {
			wantNext = want[from+10].ID
		}
		if err != nil || !reflect.DeepEqual(stripKeys(t, page), want[from+1:min(from+11, len(want))]) || next != wantNext {
			t.Fatalf("page after %d: %d commitments, next %q, %v", from, len(page), next, err)
		}
	}
	check, err := w.archiver(nil).Check(w.ctx, w.day)
	if err != nil || !check.OK() || check.Commitments != 601 {
		t.Fatalf("check: %+v %v", check, err)
	}
	if _, err := tiered.Archived(w.ctx, "op_bolt", w.day); err != nil {
		t.Fatal(err)
	}
}
