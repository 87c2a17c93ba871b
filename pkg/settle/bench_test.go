package settle_test

import (
	"context"
	"fmt"
	"github.com/paycrawl/paycrawl/internal/testclock"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// BenchmarkCloseDay closes a day of 1,000,000 commitments over 1,000
// crawlers (10 publishers, 3 sites each) on a real redis-server: the
// commitments are appended through the ledger's own Append by 64 writers
// (not timed, reported as load-s), then Close builds and checks the 1,000
// invoices (timed). It reports close-s and the peak Go heap during Close
// (peak-heap-MB, sampled every 5 ms), and how long closing the day again
// takes (reclose-s, untimed). SETTLE_BENCH_COMMITMENTS and
// SETTLE_BENCH_CRAWLERS change the size.
//
//	go test -run '^$' -bench CloseDay -benchtime 1x ./pkg/settle/
func BenchmarkCloseDay(b *testing.B) {
	commitments, crawlers := envInt("SETTLE_BENCH_COMMITMENTS", 1_000_000), envInt("SETTLE_BENCH_CRAWLERS", 1_000)
	b.Run(fmt.Sprintf("commitments=%d/crawlers=%d", commitments, crawlers), func(b *testing.B) {
		rdb := benchRedis(b)
		ctx := context.Background()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			cd := prepareCloseDay(b, rdb, "b"+strconv.Itoa(i), commitments, crawlers)
			runtime.GC()
			peak, stop := sampleHeap()
			b.StartTimer()
			start := time.Now()
			rep, err := cd.s.Close(ctx, cd.day)
			elapsed := time.Since(start)
			b.StopTimer()
			stop()
			cd.check(b, rep, err)
			// Closing again (every run of the daemon does, for the look-back
			// days) finds everything done.
			start = time.Now()
			again, err := cd.s.Close(ctx, cd.day)
			if err != nil || again.Created != 0 || again.Existing != cd.crawlers {
				b.Fatalf("second Close = %+v, %v", again, err)
			}
			b.ReportMetric(time.Since(start).Seconds(), "reclose-s")
			b.ReportMetric(cd.loaded.Seconds(), "load-s")
			b.ReportMetric(elapsed.Seconds(), "close-s")
			b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(commitments)/elapsed.Seconds(), "commitments/s")
			if err := rdb.FlushAll(ctx).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestCloseDaySmall runs the benchmark's load and close at a small size in
// the ordinary test pass, so that the benchmark cannot rot.
func TestCloseDaySmall(t *testing.T) {
	cd := prepareCloseDay(t, benchRedis(t), "small", 3_000, 30)
	rep, err := cd.s.Close(context.Background(), cd.day)
	cd.check(t, rep, err)
}

func benchRedis(tb testing.TB) redis.UniversalClient {
	srv := testredis.Start(tb, testredis.Options{NoAOF: true})
	rdb, err := ledger.NewClient(ledger.ClientConfig{Addrs: []string{srv.Addr()}, PoolSize: 64, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// closeDay is a loaded day ready to close.
type closeDay struct {
	s                     *settle.Settler
	l                     *ledger.Ledger
	now                   func() time.Time
	day                   string
	commitments, crawlers int
	want                  money.Micros
	loaded                time.Duration
}

// prepareCloseDay loads a day of commitments under prefix and returns a
// settler whose clock is past the day's grace.
func prepareCloseDay(tb testing.TB, rdb redis.UniversalClient, prefix string, commitments, crawlers int) *closeDay {
	return prepareDay(tb, rdb, prefix, commitments, crawlers, plainCommitment)
}

// prepareDay is prepareCloseDay with the commitments made by mk.
func prepareDay(tb testing.TB, rdb redis.UniversalClient, prefix string, commitments, crawlers int, mk makeCommitment) *closeDay {
	tb.Helper()
	base := time.Now().UTC().Add(48 * time.Hour).Truncate(24 * time.Hour)
	c := testclock.New(base.Add(12 * time.Hour))
	l, err := ledger.New(rdb, ledger.Options{Prefix: prefix, Now: c.Now})
	if err != nil {
		tb.Fatal(err)
	}
	start := time.Now()
	want := load(tb, l, base.Add(12*time.Hour), commitments, crawlers, mk)
	loaded := time.Since(start)
	c.Set(base.AddDate(0, 0, 1).Add(settle.DefaultGrace))
	s, err := settle.New(settle.Options{Ledger: l, Payers: &payers{m: map[string]settle.Payer{}}, Config: settle.DefaultConfig(), Now: c.Now})
	if err != nil {
		tb.Fatal(err)
	}
	return &closeDay{s: s, l: l, now: c.Now, day: ledger.Day(base), commitments: commitments, crawlers: crawlers, want: want, loaded: loaded}
}

// check verifies Close's report: one invoice per crawler, every commitment
// counted, the totals equal to what was appended, nothing held.
func (cd *closeDay) check(tb testing.TB, rep *settle.CloseReport, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
	if rep.Created != cd.crawlers || rep.Commitments != int64(cd.commitments) || rep.Totals["USD"] != cd.want || rep.Held != 0 {
		tb.Fatalf("report %+v, want %d invoices, %d commitments, total %s", rep, cd.crawlers, cd.commitments, cd.want)
	}
}

// makeCommitment returns the i-th commitment of a loaded day received at
// at, spread over crawlers.
type makeCommitment func(i int64, crawlers int, at time.Time) *ledger.Commitment

// plainCommitment is a commitment with a placeholder signature.
func plainCommitment(i int64, crawlers int, at time.Time) *ledger.Commitment {
	return &ledger.Commitment{
		RequestID: "r" + strconv.FormatInt(i, 36), Received: at,
		Account: "op_bench" + strconv.FormatInt(i%int64(crawlers), 10), KeyID: "kid-bench",
		Publisher: "pub-" + strconv.FormatInt(i%10, 10), Site: "site" + strconv.FormatInt(i%3, 10) + ".example",
		Method: "GET", Path: "/article/" + strconv.FormatInt(i, 36), Price: money.Micros(1_000 + i%9_000), Currency: "USD",
		Signature: "sig1=:c2lnbmF0dXJl:", ReplayIDs: []string{"n" + strconv.FormatInt(i, 36)}, ReplayUntil: at.Add(time.Minute),
	}
}

// load appends n commitments made by mk, spread over crawlers, through the
// ledger with 64 writers and returns their total.
func load(b testing.TB, l *ledger.Ledger, at time.Time, n, crawlers int, mk makeCommitment) money.Micros {
	b.Helper()
	const writers = 64
	var (
		next  atomic.Int64
		total atomic.Int64
		wg    sync.WaitGroup
		fail  atomic.Value
	)
	ctx := context.Background()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || fail.Load() != nil {
					return
				}
				c := mk(i, crawlers, at)
				if _, err := l.Append(ctx, c, ledger.Limits{}); err != nil {
					fail.Store(err)
					return
				}
				total.Add(int64(c.Price))
			}
		}()
	}
	wg.Wait()
	if err := fail.Load(); err != nil {
		b.Fatal(err)
	}
	return money.Micros(total.Load())
}

// sampleHeap records the peak HeapAlloc until stop is called.
func sampleHeap() (*atomic.Uint64, func()) {
	var peak atomic.Uint64
	done, stopped := make(chan struct{}), make(chan struct{})
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		if m.HeapAlloc > peak.Load() {
			peak.Store(m.HeapAlloc)
		}
	}
	go func() {
		defer close(stopped)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			sample()
			select {
			case <-done:
				sample()
				return
			case <-t.C:
			}
		}
	}()
	return &peak, func() { close(done); <-stopped }
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
