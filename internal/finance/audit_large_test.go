package finance_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/finance/wire"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// TestAuditStreamsALargeInvoice audits an invoice of 50,000 signed
// commitments (20,000 under the race detector, which slows each signature
// check eightfold) through the API: the first records arrive while the
// server is still checking, every signature is checked, the tampered ones
// are reported, and the heap grows by a small fraction of what the day's
// commitments weigh (the stream is read in batches, never whole).
func TestAuditStreamsALargeInvoice(t *testing.T) {
	n := 50_000
	if raceEnabled {
		n = 20_000
	}
	w := newWorld(t)
	const price = 1_000
	shared := w.signer.sign(t, "news.example", "/articles/shared", money.Amount{Currency: "USD", Value: price})
	w.clock.Set(w.base.Add(12 * time.Hour))
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		tampered = map[int]bool{}
		errs     = make(chan error, 8)
	)
	for i := 5; i < n; i += 10_000 {
		tampered[i] = true
	}
	start := time.Now()
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c := w.commitment(w.signer, "op_big", "pub_news", "news.example", "USD", price, &shared)
				c.RequestID = fmt.Sprintf("big-%d", i)
				if tampered[i] {
					c.Path = "/articles/not-what-was-signed"
				}
				if _, err := w.l.Append(w.ctx, c, ledger.Limits{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	w.close()
	t.Logf("%d commitments appended and closed in %s", n, time.Since(start).Round(time.Millisecond))
	streamBytes, err := w.rdb.MemoryUsage(w.ctx, "pc:{op_big}:c:"+w.day).Result()
	if err != nil {
		t.Fatal(err)
	}
	// What holding the day would take: every commitment decoded at once.
	// Compact records make the stream itself far smaller than that, so
	// the audit is held to this, not to the stream's bytes.
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var held []*ledger.Commitment
	if err := w.l.Commitments(w.ctx, "op_big", w.day, func(c *ledger.Commitment) error {
		held = append(held, c)
		return nil
	}); err != nil || len(held) != n {
		t.Fatalf("reading the day: %d commitments, %v", len(held), err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	holding := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	runtime.KeepAlive(held)
	held = nil

	// The handler, noting when it returns.
	var done atomic.Bool
	h := w.srv.Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(rw, r)
		done.Store(true)
	}))
	defer ts.Close()

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseline := ms.HeapAlloc
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	start = time.Now()
	req, _ := http.NewRequestWithContext(w.ctx, "GET", ts.URL+"/v1/invoices/"+w.id("op_big", "USD")+"/audit", nil)
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var (
		first       = true
		failures    int
		progress    int
		summary     wire.AuditSummary
		haveSummary bool
	)
	for sc.Scan() {
		if first {
			first = false
			if done.Load() {
				t.Fatal("the first audit record arrived only after the handler finished: the audit does not stream")
			}
			t.Logf("first record after %s: %s", time.Since(start).Round(time.Millisecond), sc.Bytes())
		}
		var head struct{ Type string }
		_ = json.Unmarshal(sc.Bytes(), &head)
		switch head.Type {
		case wire.AuditTypeFailure:
			failures++
		case wire.AuditTypeProgress:
			progress++
		case wire.AuditTypeSummary:
			summary, haveSummary = decode[wire.AuditSummary](t, sc.Bytes()), true
		}
	}
	close(stop)
	<-sampled
	elapsed := time.Since(start)
	if !haveSummary || summary.Commitments != int64(n) || summary.Failed != int64(len(tampered)) ||
		summary.Verified != int64(n-len(tampered)) || !summary.SumsOK || failures != len(tampered) || progress != n/10_000 {
		t.Fatalf("summary %+v, %d failures, %d progress records", summary, failures, progress)
	}
	growth := int64(peak.Load()) - int64(baseline)
	t.Logf("audited %d commitments in %s; stream holds %d MiB in Redis; holding the day decoded takes %d MiB; heap grew by at most %d MiB",
		n, elapsed.Round(time.Millisecond), streamBytes>>20, holding>>20, growth>>20)
	// Generous, and still well below what holding the day would take.
	const bound = 48 << 20
	if growth > bound || growth > holding/2 {
		t.Fatalf("the heap grew by %d MiB during the audit (holding the day: %d MiB): it does not stream in bounded memory",
			growth>>20, holding>>20)
	}
}
