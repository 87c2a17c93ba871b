package archive

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// keyCache holds the public keys of one crawler-day's commitments.
type keyCache struct {
	l       Ledger
	account string
	keys    map[string]string
}

// get returns the archived JWK of kid, "" if the ledger has none (the
// audit then reports the commitment, as it would from Redis).
func (k *keyCache) get(ctx context.Context, kid string) (string, error) {
	if jwk, ok := k.keys[kid]; ok {
		return jwk, nil
	}
	jwk, err := k.l.PublicKey(ctx, k.account, kid)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		jwk = ""
	case err != nil:
		return "", err
	}
	k.keys[kid] = jwk
	return jwk, nil
}

// hashCounter hashes and counts what goes through it.
type hashCounter struct {
	h hash.Hash
	n int64
}

func newHashCounter() *hashCounter { return &hashCounter{h: sha256.New()} }

func (c *hashCounter) Write(p []byte) (int, error) {
	c.h.Write(p)
	c.n += int64(len(p))
	return len(p), nil
}

func (c *hashCounter) sum() string { return hex.EncodeToString(c.h.Sum(nil)) }

// write streams the crawler-day into a temporary segment file, then puts
// it in the store, and returns its entry (without chain fields).
func (a *Archiver) write(ctx context.Context, account, day string, invs []*ledger.Invoice) (*Entry, error) {
	f, err := os.CreateTemp(a.tmp, "paycrawl-segment-*.ndjson.zst")
	if err != nil {
		return nil, fmt.Errorf("archive: temporary segment: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	hc := newHashCounter()
	bw := bufio.NewWriterSize(io.MultiWriter(f, hc), 1<<20)
	sw, err := newSegmentWriter(bw)
	if err != nil {
		return nil, err
	}
	keys := &keyCache{l: a.l, account: account, keys: map[string]string{}}
	s := newSums()
	err = a.l.Commitments(ctx, account, day, func(c *ledger.Commitment) error {
		jwk, err := keys.get(ctx, c.KeyID)
		if err != nil {
			return err
		}
		r := recordOf(c, jwk)
		s.add(&r)
		return sw.write(&r)
	})
	if cerr := sw.close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return nil, fmt.Errorf("archive: write segment of %s %s: %w", account, day, err)
	}
	e := &Entry{Account: account, Day: day, Segment: SegmentName(account, day), SHA256: hc.sum(), Bytes: hc.n,
		Invoices: invoiceRefs(invs), Archived: a.now().UTC()}
	s.fill(e)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if err := a.st.Put(ctx, e.Segment, f, e.Bytes); err != nil {
		return nil, fmt.Errorf("archive: store segment of %s %s: %w", account, day, err)
	}
	return e, nil
}
