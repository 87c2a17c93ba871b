package archive_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/paycrawl/paycrawl/internal/tests3"
	"github.com/paycrawl/paycrawl/pkg/archive"
	"github.com/paycrawl/paycrawl/pkg/archive/s3store"
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
	w.use("op_acme", "blog.example", "USD", 10_000, 20_000, 30_000)
	w.use("op_acme", "news.example", "EUR", 5_000)
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
	if w.hot("op_acme") != 4 {
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
	page, next, err := tiered.CommitmentsPage(w.ctx, "op_acme", w.day, want[1].ID, 10)
	if err != nil || next != "" || len(page) != 2 || page[0].ID != want[2].ID {
		t.Fatalf("page: %v %q %v", page, next, err)
	}
	check, err := w.archiver(nil).Check(w.ctx, w.day)
	if err != nil || !check.OK() || check.Commitments != 4 {
		t.Fatalf("check: %+v %v", check, err)
	}
	if _, err := tiered.Archived(w.ctx, "op_bolt", w.day); err != nil {
		t.Fatal(err)
	}
}
