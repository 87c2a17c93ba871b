package archive

import (
	"context"
	"errors"
	"fmt"

	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// CheckReport is what Check found.
type CheckReport struct {
	// Manifests and Entries count the chain; Segments the segments read
	// back and Commitments their records.
	Manifests, Entries, Segments int
	Commitments                  int64
	// Problems says what does not hold, one sentence each; none means the
	// archive verified.
	Problems []string
}

// OK reports whether nothing was found wrong.
func (r *CheckReport) OK() bool { return len(r.Problems) == 0 }

// Check verifies the archive: the whole chain of manifests (sequences,
// each entry's hash and its link to the one before), and, for the entries
// of day ("" for every day), each segment read back from the store
// against its entry (digest, size, count, sums, ids) and against the
// invoices in the ledger. An error means the check could not run (the
// store or the ledger is unavailable); what does not verify is in the
// report.
func (a *Archiver) Check(ctx context.Context, day string) (*CheckReport, error) {
	refs, err := listManifests(ctx, a.st)
	if err != nil {
		return nil, fmt.Errorf("archive: list manifests: %w", err)
	}
	rep := &CheckReport{}
	problem := func(format string, args ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...)) }
	var prev string
	var seq int64
	for i, ref := range refs {
		rep.Manifests++
		if ref.seq != int64(i+1) {
			problem("manifest %s: sequence %d where %d was expected (a manifest is missing)", ref.name, ref.seq, i+1)
		}
		m, err := readManifest(ctx, a.st, ref)
		if errors.Is(err, ErrCorrupt) {
			problem("%v", err)
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range m.Entries {
			rep.Entries++
			seq++
			if e.Seq != seq {
				problem("manifest %s: entry %s %s has sequence %d, want %d", ref.name, e.Account, e.Day, e.Seq, seq)
			}
			if e.Prev != prev {
				problem("manifest %s: entry %d does not link to the entry before it", ref.name, e.Seq)
			}
			if h := e.ComputeHash(); h != e.Hash {
				problem("manifest %s: entry %d hashes to %s, it says %s", ref.name, e.Seq, h, e.Hash)
			}
			prev = e.Hash
			if e.Day != m.Day || e.Segment != SegmentName(e.Account, e.Day) {
				problem("manifest %s: entry %d names %s %s (%s)", ref.name, e.Seq, e.Account, e.Day, e.Segment)
				continue
			}
			if day != "" && e.Day != day {
				continue
			}
			if err := a.checkEntry(ctx, &e, rep); err != nil {
				return nil, err
			}
		}
	}
	return rep, nil
}

// checkEntry reads e's segment back and compares it with e and the
// ledger's invoices.
func (a *Archiver) checkEntry(ctx context.Context, e *Entry, rep *CheckReport) error {
	rep.Segments++
	rep.Commitments += e.Count
	problems, err := readSegment(ctx, a.st, e, nil)
	if err != nil {
		return err
	}
	var invs []*ledger.Invoice
	for _, ref := range e.Invoices {
		inv, err := a.l.Invoice(ctx, ref.ID)
		if errors.Is(err, ledger.ErrNotFound) {
			problems = append(problems, "invoice "+ref.ID+" is not in the ledger")
			continue
		}
		if err != nil {
			return err
		}
		invs = append(invs, inv)
	}
	diffs, err := a.invoiceProblems(ctx, e, invs)
	if err != nil {
		return err
	}
	problems = append(problems, diffs...)
	for _, p := range problems {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%s %s: %s", e.Account, e.Day, p))
	}
	return nil
}
