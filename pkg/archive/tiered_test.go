package archive_test

import (
	"context"
	"io"
	"reflect"
	"sync/atomic"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/archive"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// countingStore counts the bytes read from the objects it opens.
type countingStore struct {
	archive.Store
	read atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	rc, err := s.Store.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	cr := &countingReader{rc: rc, n: &s.read}
	if _, ok := rc.(io.Seeker); ok {
		return countingSeeker{cr}, nil
	}
	return cr, nil
}

type countingReader struct {
	rc io.ReadCloser
	n  *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingReader) Close() error { return c.rc.Close() }

// countingSeeker passes Seek through, as the stores' readers seek.
type countingSeeker struct{ *countingReader }

func (c countingSeeker) Seek(off int64, whence int) (int64, error) {
	return c.rc.(io.Seeker).Seek(off, whence)
}

// noSeek hides the Seek of the readers its store opens: reads go from
// the segment's start, as for a segment written without an index.
type noSeek struct{ archive.Store }

func (s noSeek) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	rc, err := s.Store.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	return struct{ io.ReadCloser }{rc}, nil
}

// paged is what paging through a crawler-day read.
type paged struct {
	got                []*ledger.Commitment
	total, first, last int64 // bytes read: in all, for the first page, for the last
}

// pageThrough reads a crawler-day page by page through st.
func pageThrough(t *testing.T, w *world, st archive.Store, account string, size int) paged {
	t.Helper()
	cs := &countingStore{Store: st}
	tiered := &archive.Tiered{Ledger: w.l, Store: cs}
	var p paged
	for after := ""; ; {
		before := cs.read.Load()
		page, next, err := tiered.CommitmentsPage(w.ctx, account, w.day, after, size)
		if err != nil {
			t.Fatal(err)
		}
		p.last = cs.read.Load() - before
		if after == "" {
			p.first = p.last
		}
		p.got = append(p.got, page...)
		if next == "" || len(p.got) > 1_000_000 {
			break
		}
		after = next
	}
	p.total = cs.read.Load()
	return p
}

// Paging through an archived day reads its segment about once: each page
// starts at the frame (of at most 256 commitments) that holds its first
// commitment, found by the segment's index, so the last page reads no
// more than the first. Read from the start (a segment without an index,
// or a store whose reader cannot seek), page k decodes k pages: the last
// reads the whole segment, and the day costs pages²/2 page reads.
func TestPagingAnArchivedDayReadsItOnce(t *testing.T) {
	const n, pageSize = 2_000, 100
	w := newWorld(t)
	prices := make([]money.Micros, n)
	for i := range prices {
		prices[i] = money.Micros(1_000 + i)
	}
	w.use("op_acme", "blog.example", "USD", prices...)
	w.close()
	w.void("op_acme", "USD")
	want := w.read(w.l, "op_acme")
	rep, err := w.archiver(nil).ArchiveDay(w.ctx, w.day)
	if err != nil || len(rep.Archived) != 1 || w.hot("op_acme") != 0 {
		t.Fatalf("ArchiveDay = %+v, %v", rep, err)
	}
	size := rep.Archived[0].Bytes
	indexed := pageThrough(t, w, w.store, "op_acme", pageSize)
	scanned := pageThrough(t, w, noSeek{w.store}, "op_acme", pageSize)
	for _, p := range []paged{indexed, scanned} {
		if !reflect.DeepEqual(stripKeys(t, p.got), want) {
			t.Fatalf("pages gave %d commitments, want the %d of the day", len(p.got), len(want))
		}
	}
	t.Logf("segment of %d bytes, %d pages of %d: by the index %d bytes read in all (first page %d, last %d); from the start %d (first %d, last %d)",
		size, n/pageSize, pageSize, indexed.total, indexed.first, indexed.last, scanned.total, scanned.first, scanned.last)
	if indexed.last > 2*indexed.first || indexed.total > 5*size {
		t.Errorf("by the index: the last page read %d bytes, the first %d; %d in all for a %d-byte segment", indexed.last, indexed.first, indexed.total, size)
	}
	if scanned.last < size || 2*indexed.total > scanned.total {
		t.Errorf("from the start: the last page read %d bytes of %d, %d in all (by the index %d)", scanned.last, size, scanned.total, indexed.total)
	}
}
