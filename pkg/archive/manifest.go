package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// ManifestVersion is the manifest format written.
const ManifestVersion = 1

// maxManifestBytes bounds a manifest read back (an entry is well under 4
// KiB; a day of a million crawlers fits).
const maxManifestBytes = 4 << 30

// Sum is a count of commitments and their amount in micro-units.
type Sum struct {
	Count  int64 `json:"count"`
	Amount int64 `json:"amount"`
}

// SiteSum is a crawler-day's usage on one publisher site in one currency.
type SiteSum struct {
	Currency  string `json:"currency"`
	Publisher string `json:"publisher"`
	Site      string `json:"site"`
	Sum
}

// InvoiceRef is an invoice of the crawler-day as it was when archived.
type InvoiceRef struct {
	ID       string `json:"id"`
	Currency string `json:"currency"`
	Status   string `json:"status"`
	// Total is in micro-units of Currency.
	Total int64 `json:"total"`
}

// Entry describes one archived crawler-day, and links the chain: Prev is
// the Hash of the entry before it (Seq-1), "" for the first.
type Entry struct {
	Seq     int64  `json:"seq"`
	Account string `json:"account"`
	Day     string `json:"day"`
	// Segment is the segment's object name, SHA256 the hex digest of its
	// bytes and Bytes their number.
	Segment string `json:"segment"`
	SHA256  string `json:"sha256"`
	Bytes   int64  `json:"bytes"`
	// Count is the number of commitments; FirstID and LastID the first and
	// last commitment ids ("" for none).
	Count   int64  `json:"count"`
	FirstID string `json:"first_id,omitempty"`
	LastID  string `json:"last_id,omitempty"`
	// Currencies and Sites are the segment's sums.
	Currencies map[string]Sum `json:"currencies"`
	Sites      []SiteSum      `json:"sites"`
	// Invoices are the day's invoices the segment was checked against.
	Invoices []InvoiceRef `json:"invoices"`
	Archived time.Time    `json:"archived"`
	Prev     string       `json:"prev"`
	// Hash is the hex SHA-256 of the entry's JSON encoding with Hash empty.
	Hash string `json:"hash"`
}

// ComputeHash returns the hash the entry should carry.
func (e Entry) ComputeHash() string {
	e.Hash = ""
	b, _ := json.Marshal(e)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Manifest is one archiving run's record of one day.
type Manifest struct {
	Version int     `json:"version"`
	Seq     int64   `json:"seq"`
	Day     string  `json:"day"`
	Entries []Entry `json:"entries"`
}

// manifestRef is a manifest's place in the store, from its name.
type manifestRef struct {
	name string
	seq  int64
	day  string
}

// parseManifestName reads "manifests/<seq>-<day>.json".
func parseManifestName(name string) (manifestRef, bool) {
	rest, ok := strings.CutPrefix(name, manifestPrefix)
	if !ok {
		return manifestRef{}, false
	}
	rest, ok = strings.CutSuffix(rest, ".json")
	if !ok {
		return manifestRef{}, false
	}
	s, day, ok := strings.Cut(rest, "-")
	if !ok {
		return manifestRef{}, false
	}
	seq, err := strconv.ParseInt(s, 10, 64)
	if err != nil || seq < 1 || manifestName(seq, day) != name {
		return manifestRef{}, false
	}
	return manifestRef{name: name, seq: seq, day: day}, true
}

// listManifests returns the store's manifests in chain order.
func listManifests(ctx context.Context, st Store) ([]manifestRef, error) {
	names, err := st.List(ctx, manifestPrefix)
	if err != nil {
		return nil, err
	}
	var out []manifestRef
	for _, n := range names {
		if ref, ok := parseManifestName(n); ok {
			out = append(out, ref)
		}
	}
	for i := 1; i < len(out); i++ {
		if out[i].seq == out[i-1].seq {
			return nil, fmt.Errorf("%w: two manifests with sequence %d (%s, %s)", ErrCorrupt, out[i].seq, out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// readManifest reads and decodes one manifest.
func readManifest(ctx context.Context, st Store, ref manifestRef) (*Manifest, error) {
	rc, err := st.Get(ctx, ref.name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	dec := json.NewDecoder(io.LimitReader(rc, maxManifestBytes))
	dec.DisallowUnknownFields()
	m := new(Manifest)
	if err := dec.Decode(m); err != nil {
		return nil, fmt.Errorf("%w: manifest %s: %v", ErrCorrupt, ref.name, err)
	}
	if m.Version != ManifestVersion || m.Seq != ref.seq || m.Day != ref.day {
		return nil, fmt.Errorf("%w: manifest %s: version %d, seq %d, day %q do not match its name",
			ErrCorrupt, ref.name, m.Version, m.Seq, m.Day)
	}
	return m, nil
}

// writeManifest stores m durably.
func writeManifest(ctx context.Context, st Store, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	return st.Put(ctx, manifestName(m.Seq, m.Day), bytes.NewReader(b), int64(len(b)))
}
