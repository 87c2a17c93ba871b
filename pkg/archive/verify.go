package archive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// ErrVerify reports an archived crawler-day that does not match its
// stream, its invoices or its manifest entry; a *VerifyError carries the
// details.
var ErrVerify = errors.New("archive: verification failed")

// VerifyError lists what does not match for one crawler-day. It matches
// ErrVerify with errors.Is.
type VerifyError struct {
	Account, Day string
	Problems     []string
}

// Error lists the problems.
func (e *VerifyError) Error() string {
	return fmt.Sprintf("archive: %s %s does not verify: %s", e.Account, e.Day, strings.Join(e.Problems, "; "))
}

// Unwrap makes errors.Is(err, ErrVerify) true.
func (e *VerifyError) Unwrap() error { return ErrVerify }

// readSegment reads e's segment from the store, calls fn for each record,
// and checks the bytes against e's digest and size and the records against
// e's sums. Problems are returned as strings; err is for a store that
// cannot be read or an fn that failed.
func readSegment(ctx context.Context, st Store, e *Entry, fn func(*Record) error) ([]string, error) {
	rc, err := st.Get(ctx, e.Segment)
	if errors.Is(err, ErrNotFound) {
		return []string{"segment " + e.Segment + " is missing"}, nil
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	hc := newHashCounter()
	tee := io.TeeReader(rc, hc)
	sr, err := NewSegmentReader(tee)
	if err != nil {
		return []string{err.Error()}, nil
	}
	defer sr.Close()
	s := newSums()
	var problems []string
	for {
		r, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			problems = append(problems, err.Error())
			break
		}
		if r.Account != e.Account || r.Day != e.Day {
			problems = append(problems, fmt.Sprintf("record %s is of %s %s", r.ID, r.Account, r.Day))
		}
		s.add(r)
		if fn != nil {
			if err := fn(r); err != nil {
				return nil, err
			}
		}
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return nil, err
	}
	if hc.n != e.Bytes || hc.sum() != e.SHA256 {
		problems = append(problems, fmt.Sprintf("segment is %d bytes with SHA-256 %s, the entry says %d bytes %s",
			hc.n, hc.sum(), e.Bytes, e.SHA256))
	}
	return append(problems, s.differences(e)...), nil
}

// verify reads e's segment back from the store and compares it record by
// record with the stream, and its sums with the invoices.
func (a *Archiver) verify(ctx context.Context, e *Entry, invs []*ledger.Invoice) error {
	keys := &keyCache{l: a.l, account: e.Account, keys: map[string]string{}}
	next, stop := streamPull(ctx, a.l, e.Account, e.Day)
	defer stop()
	var problems []string
	mismatch := func(p string) {
		if len(problems) < 20 {
			problems = append(problems, p)
		}
	}
	read, err := readSegment(ctx, a.st, e, func(r *Record) error {
		c, err := next()
		if err != nil {
			return err
		}
		if c == nil {
			mismatch("segment record " + r.ID + " is not in the stream")
			return nil
		}
		jwk, err := keys.get(ctx, c.KeyID)
		if err != nil {
			return err
		}
		want := recordOf(c, jwk)
		if !sameRecord(r, &want) {
			mismatch("segment record " + r.ID + " differs from stream entry " + c.ID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("archive: verify %s %s: %w", e.Account, e.Day, err)
	}
	for _, p := range read {
		mismatch(p)
	}
	if c, err := next(); err != nil {
		return fmt.Errorf("archive: verify %s %s: %w", e.Account, e.Day, err)
	} else if c != nil {
		mismatch("stream entry " + c.ID + " and any after it are not in the segment")
	}
	diffs, err := a.invoiceProblems(ctx, e, invs)
	if err != nil {
		return fmt.Errorf("archive: verify %s %s: %w", e.Account, e.Day, err)
	}
	for _, p := range diffs {
		mismatch(p)
	}
	if len(problems) > 0 {
		return &VerifyError{Account: e.Account, Day: e.Day, Problems: problems}
	}
	return nil
}

// invoiceProblems compares the crawler-day e with its invoices: an invoice
// of the day alone with e's sums (invoiceDifferences), a lines invoice,
// which may cover other days too, through Options.Invoices.
func (a *Archiver) invoiceProblems(ctx context.Context, e *Entry, invs []*ledger.Invoice) ([]string, error) {
	var daily, lines []*ledger.Invoice
	for _, inv := range invs {
		if inv.Covered != nil {
			lines = append(lines, inv)
		} else {
			daily = append(daily, inv)
		}
	}
	out := invoiceDifferences(e, daily, lines)
	for _, inv := range lines {
		if !containsDay(inv.Covered, e.Day) {
			out = append(out, fmt.Sprintf("invoice %s does not cover %s", inv.ID, e.Day))
			continue
		}
		if a.invs == nil {
			out = append(out, fmt.Sprintf("invoice %s is made of computed lines, and no invoice check is configured to re-derive it", inv.ID))
			continue
		}
		ps, err := a.invs.CheckInvoice(ctx, inv, a.readDay)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			out = append(out, "invoice "+inv.ID+": "+p)
		}
	}
	return out, nil
}

// readDay is the DayReader of Options.Invoices: a crawler-day from Redis
// while its stream is there, else from its segment.
func (a *Archiver) readDay(ctx context.Context, account, day string, fn func(*ledger.Commitment) error) error {
	t := &Tiered{Store: a.st}
	n := 0
	err := a.l.Commitments(ctx, account, day, func(c *ledger.Commitment) error {
		n++
		return fn(c)
	})
	if err != nil || n > 0 {
		return err
	}
	return t.archived(ctx, account, day, "", func(r *Record) (bool, error) { return true, fn(r.Commitment()) })
}

func containsDay(days []string, day string) bool {
	for _, d := range days {
		if d == day {
			return true
		}
	}
	return false
}

// sameRecord compares two records by their JSON encoding (so that an
// empty and a missing map are equal, as in the segment).
func sameRecord(x, y *Record) bool {
	a, err1 := json.Marshal(x)
	b, err2 := json.Marshal(y)
	return err1 == nil && err2 == nil && string(a) == string(b)
}

// streamPull turns the ledger's push iteration of a crawler-day into a
// pull: next returns the next commitment, nil after the last. stop ends
// the iteration early.
func streamPull(ctx context.Context, l Ledger, account, day string) (next func() (*ledger.Commitment, error), stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	items := make(chan *ledger.Commitment, 256)
	done := make(chan error, 1)
	go func() {
		err := l.Commitments(ctx, account, day, func(c *ledger.Commitment) error {
			select {
			case items <- c:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		close(items)
		done <- err
	}()
	var finished bool
	var ferr error
	next = func() (*ledger.Commitment, error) {
		if finished {
			return nil, ferr
		}
		if c, ok := <-items; ok {
			return c, nil
		}
		finished, ferr = true, <-done
		return nil, ferr
	}
	stop = func() {
		cancel()
		for range items {
		}
		if !finished {
			finished = true
			<-done
		}
	}
	return next, stop
}
