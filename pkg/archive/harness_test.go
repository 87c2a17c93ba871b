package archive_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/testclock"
	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/pkg/archive"
	"github.com/paycrawl/paycrawl/pkg/archive/localstore"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// world is an archive test's world: a real redis-server with a ledger and
// a settler on a settable clock, and a local store. Usage lands on day;
// close leaves the clock after the day's close.
type world struct {
	t     testing.TB
	ctx   context.Context
	l     *ledger.Ledger
	s     *settle.Settler
	clock *testclock.Clock
	base  time.Time
	day   string
	store archive.Store
	seq   int
}

func newWorld(t testing.TB) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	rdb := testredis.Start(t, testredis.Options{Fsync: "no"}).Client()
	base := time.Now().UTC().Add(48 * time.Hour).Truncate(24 * time.Hour)
	c := testclock.New(base.Add(12 * time.Hour))
	l, err := ledger.New(rdb, ledger.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	s, err := settle.New(settle.Options{Ledger: l, Payers: noPayers{}, Config: settle.DefaultConfig(), Now: c.Now, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	st, err := localstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, ctx: ctx, l: l, s: s, clock: c, base: base, day: ledger.Day(base), store: st}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type noPayers struct{}

func (noPayers) Payer(context.Context, string) (settle.Payer, error) {
	return settle.Payer{}, settle.ErrNoPayer
}

// use appends one commitment per price (unsigned: the archive does not
// verify signatures; internal/finance's tests audit archived days).
func (w *world) use(account, site, cur string, prices ...money.Micros) {
	w.t.Helper()
	w.clock.Set(w.base.Add(12 * time.Hour))
	for _, p := range prices {
		w.seq++
		at := w.base.Add(12 * time.Hour)
		c := &ledger.Commitment{
			RequestID: fmt.Sprintf("req-%d", w.seq), Received: at, Account: account, KeyID: "kid-" + account,
			PublicKey: `{"kty":"OKP","crv":"Ed25519","x":"` + account + `"}`,
			Publisher: "pub_" + site, Site: site, Method: http.MethodGet, Scheme: "https", Authority: site,
			Path: fmt.Sprintf("/a/%d", w.seq), Price: p, Currency: cur, Dialect: "crawler-price",
			Label: "sig1", SignatureInput: fmt.Sprintf(`("@authority");created=%d`, w.seq), Signature: ":c2ln:",
			Covered:   map[string]string{"signature-agent": `"https://agent.example"`},
			ReplayIDs: []string{fmt.Sprintf("nonce-%d", w.seq)}, ReplayUntil: at.Add(time.Hour),
		}
		if _, err := w.l.Append(w.ctx, c, ledger.Limits{}); err != nil {
			w.t.Fatalf("Append: %v", err)
		}
	}
}

// close closes the day with the settler.
func (w *world) close() {
	w.t.Helper()
	w.clock.Set(w.base.Add(24*time.Hour + settle.DefaultGrace + time.Minute))
	if _, err := w.s.Close(w.ctx, w.day); err != nil {
		w.t.Fatalf("Close: %v", err)
	}
}

// void makes an invoice final.
func (w *world) void(account, cur string) {
	w.t.Helper()
	if _, err := w.s.Void(w.ctx, ledger.InvoiceID(account, w.day, cur), settle.Review{Actor: "test", Reason: "test"}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) archiver(faults func(string) error) *archive.Archiver {
	w.t.Helper()
	a, err := archive.New(archive.Options{Ledger: w.l, Store: w.store, TempDir: w.t.TempDir(), Now: w.clock.Now, Logger: discard(), Faults: faults})
	if err != nil {
		w.t.Fatal(err)
	}
	return a
}

// read returns a crawler-day's commitments through reader.
func (w *world) read(r interface {
	Commitments(context.Context, string, string, func(*ledger.Commitment) error) error
}, account string) []*ledger.Commitment {
	w.t.Helper()
	var out []*ledger.Commitment
	if err := r.Commitments(w.ctx, account, w.day, func(c *ledger.Commitment) error {
		out = append(out, c)
		return nil
	}); err != nil {
		w.t.Fatal(err)
	}
	return out
}

// hot is how many commitments of the crawler-day Redis still holds.
func (w *world) hot(account string) int { return len(w.read(w.l, account)) }
