package archive

import (
	"context"
	"fmt"
)

// chain is what a run needs of the manifests already written.
type chain struct {
	// manifestSeq is the last manifest's sequence, headSeq and headHash the
	// last entry's (0 and "" for an empty store).
	manifestSeq, headSeq int64
	headHash             string
	// day holds the entries of the day being archived, by account.
	day map[string]Entry
}

// loadChain reads the head of the chain and the manifests of day.
func loadChain(ctx context.Context, st Store, day string) (*chain, error) {
	refs, err := listManifests(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("archive: list manifests: %w", err)
	}
	ch := &chain{day: map[string]Entry{}}
	for i, ref := range refs {
		last := i == len(refs)-1
		if ref.day != day && !last {
			continue
		}
		m, err := readManifest(ctx, st, ref)
		if err != nil {
			return nil, err
		}
		if last {
			ch.manifestSeq = m.Seq
			if n := len(m.Entries); n > 0 {
				ch.headSeq, ch.headHash = m.Entries[n-1].Seq, m.Entries[n-1].Hash
			}
		}
		if ref.day == day {
			for _, e := range m.Entries {
				ch.day[e.Account] = e
			}
		}
	}
	return ch, nil
}
