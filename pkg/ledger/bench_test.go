package ledger

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/internal/testredis"
)

// BenchmarkAppend measures Append throughput with 64 concurrent writers
// spread over 64 crawler accounts, on servers configured like
// configs/redis.conf with appendfsync everysec and always. It reports
// appends/s.
func BenchmarkAppend(b *testing.B) {
	const writers = 64
	for _, fsync := range []string{"everysec", "always"} {
		b.Run("fsync="+fsync, func(b *testing.B) {
			srv := testredis.Start(b, testredis.Options{Fsync: fsync, Extra: projectConf(b)})
			rdb, err := NewClient(ClientConfig{Addrs: []string{srv.Addr()}, PoolSize: writers})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = rdb.Close() })
			l, err := New(rdb, Options{})
			if err != nil {
				b.Fatal(err)
			}
			before := redisCPU(b, rdb)
			benchAppends(b, l, writers)
			b.ReportMetric((redisCPU(b, rdb)-before).Seconds()*1e6/float64(b.N), "redis-µs/append")
		})
	}
}

// redisCPU returns the CPU time (user and system) redis-server has used, from
// INFO cpu.
func redisCPU(tb testing.TB, rdb redis.UniversalClient) time.Duration {
	tb.Helper()
	return time.Duration(infoSum(tb, rdb, "cpu", "used_cpu_user", "used_cpu_sys") * float64(time.Second))
}

// infoSum returns the sum of the fields of an INFO section.
func infoSum(tb testing.TB, rdb redis.UniversalClient, section string, fields ...string) float64 {
	tb.Helper()
	info, err := rdb.Info(context.Background(), section).Result()
	if err != nil {
		tb.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && slices.Contains(fields, k) {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatalf("INFO %s %s: %v", section, line, err)
			}
			total += f
		}
	}
	return total
}

// projectConf returns the directives of configs/redis.conf that describe the
// server's behaviour, leaving out those testredis sets itself (address, data
// directory, logging, appendfsync), so tests measure the shipped settings.
func projectConf(tb testing.TB) []string {
	tb.Helper()
	f, err := os.Open("../../configs/redis.conf")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	skip := map[string]bool{
		"bind": true, "port": true, "dir": true, "logfile": true, "loglevel": true,
		"daemonize": true, "protected-mode": true, "appendfsync": true,
	}
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || skip[strings.Fields(line)[0]] {
			continue
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// benchAppends runs b.N appends from writers parallel writers, each
// appending for its own crawler, and reports appends/s and allocations.
// Each commitment has a nonce id and a signature id, and one replay key.
func benchAppends(b *testing.B, l *Ledger, writers int) {
	b.Helper()
	accounts := make([]string, writers)
	for i := range accounts {
		accounts[i] = fmt.Sprintf("crawler-%d", i)
	}
	ctx := context.Background()
	now := time.Now()
	var seq atomic.Int64
	b.SetParallelism((writers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			c := sampleCommitment(accounts[n%int64(writers)], n, 1_000, now)
			c.ReplayKeys = 1 // as the gateway asks for a signature with a nonce
			if _, err := l.Append(ctx, c, Limits{DailyCap: MaxAmount}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// BenchmarkCompact measures the encoding of a commitment signed as the
// gateway signs it, its dictionary entries interned as Append interns them.
func BenchmarkCompact(b *testing.B) {
	c := signedCommitment("acme", 1, time.Now())
	var es entries
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.compactIn(&es); err != nil {
			b.Fatal(err)
		}
	}
}
