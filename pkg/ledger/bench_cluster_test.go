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
// Redis, for sizing nodes: MEMORY USAGE of the crawler-day's stream,
// aggregate and profiles and of one commitment's replay keys, after 10,000
// appends to one crawler-day, and the growth of INFO's used_memory per
// commitment (everything: keys, replay keys, the server's own tables), then
// again once the replay keys are gone ("kept").
// "sample" is the suite's commitment (short made-up signature and ids);
// "signed" one made as the gateway makes it (a 64-byte nonce, an Ed25519
// signature, deferred.ReplayIDs). Both get one replay key, as the gateway
// asks when the signature has a nonce. Replay keys expire after the
// signature's validity.
func BenchmarkCommitmentMemory(b *testing.B) {
	for _, kind := range []string{"sample", "signed"} {
		b.Run(kind, func(b *testing.B) {
			const n = 10_000
			srv := testredis.Start(b, testredis.Options{NoAOF: true, Extra: projectConf(b)})
			rdb := srv.Client()
			ctx := context.Background()
			l, err := New(rdb, Options{})
			if err != nil {
				b.Fatal(err)
			}
			usedMemory := func() int64 { return int64(infoSum(b, rdb, "memory", "used_memory")) }
			now := time.Now()
			const acct = "crawler-mem"
			// A first append opens the connection and loads the script, whose
			// memory is not the commitments'.
			warm := sampleCommitment("crawler-warm", 0, 1_000, now)
			if _, err := l.Append(ctx, warm, Limits{}); err != nil {
				b.Fatal(err)
			}
			var last *Commitment
			before := usedMemory()
			for i := 0; i < n; i++ {
				if kind == "signed" {
					last = signedCommitment(acct, int64(i), now)
				} else {
					last = sampleCommitment(acct, int64(i), 1_000, now)
					last.ReplayKeys = 1
				}
				if _, err := l.Append(ctx, last, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
			total := usedMemory() - before
			usage := func(key string) int64 {
				v, err := rdb.MemoryUsage(ctx, key, 0).Result()
				if err != nil {
					b.Fatal(err)
				}
				return v
			}
			stream := usage(l.streamKey(acct, last.Day)) + usage(l.aggKey(acct, last.Day)) + usage(l.profileKey(acct, last.Day))
			replay := int64(0)
			for _, id := range last.ReplayIDs[:last.ReplayKeys] {
				replay += usage(l.replayKey(acct, id))
			}
			// What stays once the replay keys expired.
			var replayKeys []string
			for i := 0; i < n; i++ {
				c := sampleCommitment(acct, int64(i), 1_000, now)
				if kind == "signed" {
					c = signedCommitment(acct, int64(i), now)
				}
				replayKeys = append(replayKeys, l.replayKey(acct, c.ReplayIDs[0]))
			}
			for i := 0; i < len(replayKeys); i += 500 {
				if err := rdb.Unlink(ctx, replayKeys[i:min(i+500, len(replayKeys))]...).Err(); err != nil {
					b.Fatal(err)
				}
			}
			time.Sleep(100 * time.Millisecond) // UNLINK frees in the background
			kept := usedMemory() - before
			rec, _ := stored(b, last)
			for i := 0; i < b.N; i++ {
				_ = usage(l.aggKey(acct, last.Day))
			}
			b.ReportMetric(float64(stream)/n, "stream-bytes/commitment")
			b.ReportMetric(float64(replay), "replay-bytes/commitment")
			b.ReportMetric(float64(stream)/n+float64(replay), "bytes/commitment")
			b.ReportMetric(float64(total)/n, "allocated-bytes/commitment")
			b.ReportMetric(float64(kept)/n, "allocated-kept-bytes/commitment")
			b.ReportMetric(float64(len(rec)), "record-bytes")
		})
	}
}
