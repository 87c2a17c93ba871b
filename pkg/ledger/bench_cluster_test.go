package ledger

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/testredis"
)

// BenchmarkAppendCluster measures Append throughput with 64 concurrent
// writers on a 3-master / 3-replica cluster (appendfsync everysec), with
// and without the replica wait (Options.MinReplicas 1 and off). It reports
// appends/s.
func BenchmarkAppendCluster(b *testing.B) {
	const writers = 64
	cluster := testredis.StartReplicated(b, testredis.ReplicaOptions{Server: testredis.Options{Extra: projectConf(b)}})
	rdb, err := NewClient(ClientConfig{Addrs: cluster.Addrs(), Cluster: true, PoolSize: writers})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = rdb.Close() })
	for _, mr := range []int{-1, 1} {
		b.Run(fmt.Sprintf("min_replicas=%d", max(mr, 0)), func(b *testing.B) {
			l, err := New(rdb, Options{Prefix: fmt.Sprintf("b%d", max(mr, 0)), MinReplicas: mr})
			if err != nil {
				b.Fatal(err)
			}
			benchAppends(b, l, writers)
		})
	}
}

// BenchmarkCommitmentMemory reports the memory one commitment takes in
// Redis (MEMORY USAGE of the crawler-day's stream and aggregate and of its
// replay keys, per commitment, with the sample commitment's ~1 KB record),
// for sizing nodes. Replay keys expire after the signature's validity.
func BenchmarkCommitmentMemory(b *testing.B) {
	const n = 2000
	srv := testredis.Start(b, testredis.Options{NoAOF: true, Extra: projectConf(b)})
	rdb := srv.Client()
	ctx := context.Background()
	l, err := New(rdb, Options{})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	var last *Commitment
	for i := 0; i < n; i++ {
		last = sampleCommitment("crawler-mem", int64(i), 1_000, now)
		if _, err := l.Append(ctx, last, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
	usage := func(key string) int64 {
		v, err := rdb.MemoryUsage(ctx, key, 0).Result()
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	stream := usage(l.streamKey("crawler-mem", last.Day)) + usage(l.aggKey("crawler-mem", last.Day))
	replay := int64(0)
	for _, id := range last.ReplayIDs {
		replay += usage(l.replayKey("crawler-mem", id))
	}
	rec, _ := last.encode()
	for i := 0; i < b.N; i++ {
		_ = usage(l.aggKey("crawler-mem", last.Day))
	}
	b.ReportMetric(float64(stream)/n, "stream-bytes/commitment")
	b.ReportMetric(float64(replay), "replay-bytes/commitment")
	b.ReportMetric(float64(len(rec)), "record-bytes")
}
