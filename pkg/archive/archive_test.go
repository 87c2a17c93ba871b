package archive_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/archive"
	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// stripKeys returns the commitments without the public key a segment
// adds, after checking that each carries one.
func stripKeys(t *testing.T, cs []*ledger.Commitment) []*ledger.Commitment {
	t.Helper()
	out := make([]*ledger.Commitment, len(cs))
	for i, c := range cs {
		if c.PublicKey == "" {
			t.Fatalf("archived commitment %s carries no public key", c.ID)
		}
		cp := *c
		cp.PublicKey = ""
		out[i] = &cp
	}
	return out
}

// TestArchiveDayMovesOnlyFinalDays: a crawler-day whose invoices are all
// final goes to the archive and leaves Redis; one with a draft stays; the
// tiered reader gives the same commitments either way; a later run chains
// its manifest to the first.
func TestArchiveDayMovesOnlyFinalDays(t *testing.T) {
	w := newWorld(t)
	w.use("op_acme", "blog.example", "USD", 10_000, 20_000)
	w.use("op_acme", "news.example", "USD", 30_000)
	w.use("op_acme", "news.example", "EUR", 5_000)
	w.use("op_bolt", "news.example", "USD", 1_000, 2_000)
	w.close()
	w.void("op_acme", "USD")
	w.void("op_acme", "EUR")
	acme := w.read(w.l, "op_acme")

	rep, err := w.archiver(nil).ArchiveDay(w.ctx, w.day)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Archived) != 1 || !reflect.DeepEqual(rep.Trimmed, []string{"op_acme"}) ||
		rep.Kept["op_bolt"] != "invoice "+ledger.InvoiceID("op_bolt", w.day, "USD")+" is draft" {
		t.Fatalf("report: %+v", rep)
	}
	e := rep.Archived[0]
	if e.Seq != 1 || e.Prev != "" || e.Count != 4 || e.Currencies["USD"] != (archive.Sum{Count: 3, Amount: 60_000}) ||
		e.Currencies["EUR"] != (archive.Sum{Count: 1, Amount: 5_000}) || len(e.Sites) != 3 || len(e.Invoices) != 2 ||
		e.FirstID != acme[0].ID || e.LastID != acme[3].ID {
		t.Fatalf("entry: %+v", e)
	}
	if w.hot("op_acme") != 0 || w.hot("op_bolt") != 2 {
		t.Fatalf("Redis holds %d and %d commitments", w.hot("op_acme"), w.hot("op_bolt"))
	}
	tiered := &archive.Tiered{Ledger: w.l, Store: w.store}
	got := w.read(tiered, "op_acme")
	if !reflect.DeepEqual(stripKeys(t, got), acme) || got[0].PublicKey != `{"kty":"OKP","crv":"Ed25519","x":"op_acme"}` {
		t.Fatalf("archived read:\n%+v\nwant\n%+v", got, acme)
	}
	if hot := w.read(tiered, "op_bolt"); len(hot) != 2 || hot[0].PublicKey != "" {
		t.Fatalf("hot read through the tiered reader: %+v", hot)
	}

	// Pages of an archived day.
	p1, next, err := tiered.CommitmentsPage(w.ctx, "op_acme", w.day, "", 3)
	if err != nil || len(p1) != 3 || next != acme[2].ID {
		t.Fatalf("page 1: %d %q %v", len(p1), next, err)
	}
	p2, next, err := tiered.CommitmentsPage(w.ctx, "op_acme", w.day, next, 3)
	if err != nil || len(p2) != 1 || next != "" || p2[0].ID != acme[3].ID {
		t.Fatalf("page 2: %d %q %v", len(p2), next, err)
	}

	// The draft becomes final: a second run archives it under a second
	// manifest chained to the first; a third does nothing.
	w.void("op_bolt", "USD")
	rep2, err := w.archiver(nil).ArchiveDay(w.ctx, w.day)
	if err != nil || len(rep2.Archived) != 1 || rep2.Archived[0].Seq != 2 || rep2.Archived[0].Prev != e.Hash ||
		!reflect.DeepEqual(rep2.Trimmed, []string{"op_acme", "op_bolt"}) {
		t.Fatalf("second run: %+v %v", rep2, err)
	}
	rep3, err := w.archiver(nil).ArchiveDay(w.ctx, w.day)
	if err != nil || rep3.Manifest != "" || len(rep3.Archived) != 0 || len(rep3.Kept) != 0 {
		t.Fatalf("third run: %+v %v", rep3, err)
	}
	check, err := w.archiver(nil).Check(w.ctx, "")
	if err != nil || !check.OK() || check.Manifests != 2 || check.Entries != 2 || check.Segments != 2 || check.Commitments != 6 {
		t.Fatalf("check: %+v %v", check, err)
	}
}

// errInjected is what the fault hook returns: the run stops there.
var errInjected = errors.New("injected crash")

// TestArchiveResumesAfterACrashAtEachStep stops a run after each step
// (segment written, verified, manifest written, one stream trimmed) and
// reruns it: nothing is lost, no stream goes before its manifest, and the
// end state is the one an uninterrupted run reaches.
func TestArchiveResumesAfterACrashAtEachStep(t *testing.T) {
	for _, point := range []string{archive.FaultWritten, archive.FaultVerified, archive.FaultManifest, archive.FaultTrimmed} {
		t.Run(strings.TrimPrefix(point, "archive:"), func(t *testing.T) {
			w := newWorld(t)
			w.use("op_acme", "blog.example", "USD", 10_000, 20_000, 30_000)
			w.use("op_bolt", "news.example", "USD", 1_000)
			w.close()
			w.void("op_acme", "USD")
			w.void("op_bolt", "USD")
			want := map[string][]*ledger.Commitment{"op_acme": w.read(w.l, "op_acme"), "op_bolt": w.read(w.l, "op_bolt")}

			crash := func(p string) error {
				if p == point {
					return errInjected
				}
				return nil
			}
			if _, err := w.archiver(crash).ArchiveDay(w.ctx, w.day); !errors.Is(err, errInjected) {
				t.Fatalf("crashed run: %v", err)
			}
			manifests, _ := w.store.List(w.ctx, "manifests/")
			if point == archive.FaultWritten || point == archive.FaultVerified {
				if len(manifests) != 0 || w.hot("op_acme") != 3 || w.hot("op_bolt") != 1 {
					t.Fatalf("before the manifest: %v, Redis holds %d and %d", manifests, w.hot("op_acme"), w.hot("op_bolt"))
				}
			}
			if point == archive.FaultTrimmed && (w.hot("op_acme") != 0 || w.hot("op_bolt") != 1) {
				t.Fatalf("after one trim, Redis holds %d and %d", w.hot("op_acme"), w.hot("op_bolt"))
			}

			rep, err := w.archiver(nil).ArchiveDay(w.ctx, w.day)
			if err != nil || len(rep.Kept) != 0 {
				t.Fatalf("rerun: %+v %v", rep, err)
			}
			names, err := w.store.List(w.ctx, "")
			wantNames := []string{"manifests/000000000001-" + w.day + ".json",
				archive.SegmentName("op_acme", w.day), archive.SegmentName("op_bolt", w.day)}
			if err != nil || !reflect.DeepEqual(names, wantNames) {
				t.Fatalf("store holds %v (%v), want %v", names, err, wantNames)
			}
			tiered := &archive.Tiered{Ledger: w.l, Store: w.store}
			for acct, cs := range want {
				if w.hot(acct) != 0 {
					t.Errorf("%s: stream still in Redis", acct)
				}
				if got := w.read(tiered, acct); !reflect.DeepEqual(stripKeys(t, got), cs) {
					t.Errorf("%s: archived %+v, want %+v", acct, got, cs)
				}
			}
			check, err := w.archiver(nil).Check(w.ctx, w.day)
			if err != nil || !check.OK() || check.Entries != 2 || check.Commitments != 4 {
				t.Fatalf("check: %+v %v", check, err)
			}
		})
	}
}

// corruptingStore flips a byte of every segment it stores.
type corruptingStore struct{ archive.Store }

func (s corruptingStore) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if strings.HasPrefix(name, "segments/") {
		b[len(b)/2] ^= 0x40
	}
	return s.Store.Put(ctx, name, bytes.NewReader(b), size)
}

// TestArchiveKeepsTheStreamOfASegmentThatDoesNotVerify: a store that
// damages what it is given gets no manifest entry and no trim; and Check
// finds a segment damaged after it was archived.
func TestArchiveKeepsTheStreamOfASegmentThatDoesNotVerify(t *testing.T) {
	w := newWorld(t)
	w.use("op_acme", "blog.example", "USD", 10_000, 20_000)
	w.close()
	w.void("op_acme", "USD")
	good := w.store
	w.store = corruptingStore{good}
	rep, err := w.archiver(nil).ArchiveDay(w.ctx, w.day)
	var ve *archive.VerifyError
	if !errors.As(err, &ve) || ve.Account != "op_acme" || len(rep.Archived) != 0 || rep.Kept["op_acme"] == "" {
		t.Fatalf("corrupt segment: %+v %v", rep, err)
	}
	if w.hot("op_acme") != 2 {
		t.Fatal("the stream of a segment that did not verify was trimmed")
	}
	if names, _ := good.List(w.ctx, "manifests/"); len(names) != 0 {
		t.Fatalf("manifests %v", names)
	}

	// A sound store archives it; damage afterwards is found by Check.
	w.store = good
	if rep, err := w.archiver(nil).ArchiveDay(w.ctx, w.day); err != nil || len(rep.Trimmed) != 1 {
		t.Fatalf("archive: %+v %v", rep, err)
	}
	name := archive.SegmentName("op_acme", w.day)
	rc, _ := good.Get(w.ctx, name)
	b, _ := io.ReadAll(rc)
	rc.Close()
	b[len(b)/2] ^= 0x40
	if err := good.Put(w.ctx, name, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
	check, err := w.archiver(nil).Check(w.ctx, "")
	if err != nil || check.OK() {
		t.Fatalf("check of a damaged segment: %+v %v", check, err)
	}
	tiered := &archive.Tiered{Ledger: w.l, Store: good}
	if err := tiered.Commitments(w.ctx, "op_acme", w.day, func(*ledger.Commitment) error { return nil }); err == nil {
		t.Fatal("a damaged segment read without error")
	}
}
