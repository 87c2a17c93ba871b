package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// Tiered is the ledger with its cold tier: it reads a crawler-day's
// commitments from Redis while the day's stream is there, and from the
// day's segment in Store once the Archiver trimmed it. Every other method
// is the ledger's. Commitments read from a segment carry their PublicKey
// (the ledger's reads leave it empty), so an audit verifies them from the
// archive alone.
type Tiered struct {
	*ledger.Ledger
	// Store is the archive; nil reads Redis only.
	Store Store
}

// Commitments calls fn for each commitment of a crawler-day in append
// order, from Redis or, for a trimmed stream, from the archive. A day in
// neither has no commitments.
func (t *Tiered) Commitments(ctx context.Context, account, day string, fn func(*ledger.Commitment) error) error {
	n := 0
	err := t.Ledger.Commitments(ctx, account, day, func(c *ledger.Commitment) error {
		n++
		return fn(c)
	})
	if err != nil || n > 0 || t.Store == nil {
		return err
	}
	return t.archived(ctx, account, day, "", func(r *Record) (bool, error) { return true, fn(r.Commitment()) })
}

// CommitmentsPage is ledger.CommitmentsPage over both tiers. A page of an
// archived day reads the segment's index and decodes from the frame that
// holds the page's first commitment (at most frameRecords commitments
// before it), so paging through a day reads it about once; a segment
// written without an index is decoded from its start up to the page.
func (t *Tiered) CommitmentsPage(ctx context.Context, account, day, after string, limit int) ([]*ledger.Commitment, string, error) {
	page, next, err := t.Ledger.CommitmentsPage(ctx, account, day, after, limit)
	if err != nil || len(page) > 0 || t.Store == nil {
		return page, next, err
	}
	err = t.archived(ctx, account, day, after, func(r *Record) (bool, error) {
		if after != "" && compareIDs(r.ID, after) <= 0 {
			return true, nil
		}
		if len(page) == limit {
			next = page[limit-1].ID
			return false, nil
		}
		page = append(page, r.Commitment())
		return true, nil
	})
	return page, next, err
}

// Archived reports whether the archive holds a segment of the crawler-day.
func (t *Tiered) Archived(ctx context.Context, account, day string) (bool, error) {
	if t.Store == nil {
		return false, nil
	}
	rc, err := t.Store.Get(ctx, SegmentName(account, day))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	rc.Close()
	return true, nil
}

// archived calls fn for each record of the crawler-day's segment, from
// the frame that holds the first record after the id after ("" for the
// first), until it returns false; a missing segment calls it never.
func (t *Tiered) archived(ctx context.Context, account, day, after string, fn func(*Record) (bool, error)) error {
	if err := ledger.ValidateAccount(account); err != nil {
		return err
	}
	name := SegmentName(account, day)
	rc, err := t.Store.Get(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("archive: read %s: %w", name, err)
	}
	defer rc.Close()
	var in io.Reader = rc
	first := "" // the id the first record read must have, if known
	if rs, ok := rc.(io.ReadSeeker); ok && after != "" {
		if first, err = seekAfter(rs, after); err != nil {
			return fmt.Errorf("archive: read %s: %w", name, err)
		}
		in = rs
	}
	sr, err := NewSegmentReader(in)
	if err != nil {
		return err
	}
	defer sr.Close()
	for {
		r, err := sr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("archive: read %s: %w", name, err)
		}
		if r.Account != account || r.Day != day {
			return fmt.Errorf("%w: %s holds a record of %s %s", ErrCorrupt, name, clip(r.Account), clip(r.Day))
		}
		// Records are in id order: a frame that begins with the record its
		// index names holds, from there on, every record after that one.
		if first != "" && r.ID != first {
			return fmt.Errorf("%w: %s: its index names %s where %s begins", ErrCorrupt, name, clip(first), clip(r.ID))
		}
		first = ""
		more, err := fn(r)
		if err != nil || !more {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// seekAfter positions a segment at the frame that holds the first record
// after the id after, by its index, and returns the id of the frame's
// first record; without an index, at its start and "".
func seekAfter(rs io.ReadSeeker, after string) (string, error) {
	size, err := rs.Seek(0, io.SeekEnd)
	if err != nil {
		return "", err
	}
	frames, err := readIndex(rs, size)
	if err != nil {
		return "", err
	}
	f := frameAfter(frames, after)
	if _, err := rs.Seek(f.Offset, io.SeekStart); err != nil {
		return "", err
	}
	return f.First, nil
}

// compareIDs orders two stream ids "<ms>-<seq>" numerically; an id that
// does not parse sorts first.
func compareIDs(a, b string) int {
	am, as := splitID(a)
	bm, bs := splitID(b)
	switch {
	case am != bm:
		return cmp(am, bm)
	default:
		return cmp(as, bs)
	}
}

func splitID(id string) (uint64, uint64) {
	ms, seq, _ := strings.Cut(id, "-")
	m, _ := strconv.ParseUint(ms, 10, 64)
	s, _ := strconv.ParseUint(seq, 10, 64)
	return m, s
}

func cmp(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
