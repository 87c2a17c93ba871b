package ledger

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/internal/testredis"
)

// TestAppendWaitsForReplicas: with MinReplicas an append returns only once
// a replica has it; with the replica down it fails with ErrUnreplicated
// (also ErrUnavailable) although the master recorded it, and resending the
// same commitment once the replica is back confirms the first run.
func TestAppendWaitsForReplicas(t *testing.T) {
	ctx := context.Background()
	master := testredis.Start(t, testredis.Options{NoAOF: true})
	replica := testredis.StartReplica(t, master, testredis.Options{NoAOF: true})
	mc, rc := master.Client(), replica.Client()
	now := time.Now().UTC()
	// A replica that is up confirms within 5 s even on a loaded machine;
	// the down case waits 100 ms (down, a longer wait ends the same).
	l, err := New(mc, Options{MinReplicas: 1, ReplicaTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	short, err := New(mc, Options{MinReplicas: 1, ReplicaTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if l.MinReplicas() != 1 {
		t.Fatalf("MinReplicas() = %d", l.MinReplicas())
	}
	c1 := sampleCommitment("acct-w", 1, 100, now)
	if _, err := l.Append(ctx, c1, Limits{}); err != nil {
		t.Fatal(err)
	}
	// Acknowledged means on the replica already, not some time later.
	if n, err := rc.XLen(ctx, l.streamKey("acct-w", c1.Day)).Result(); err != nil || n != 1 {
		t.Fatalf("replica stream length right after Append = %d, %v; want 1", n, err)
	}

	replica.Kill()
	c2 := sampleCommitment("acct-w", 2, 100, now)
	_, err = short.Append(ctx, c2, Limits{})
	if !errors.Is(err, ErrUnreplicated) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Append with the replica down = %v, want ErrUnreplicated and ErrUnavailable", err)
	}
	if n, err := mc.XLen(ctx, l.streamKey("acct-w", Day(now))).Result(); err != nil || n != 2 {
		t.Fatalf("master stream length = %d, %v; want 2 (the unconfirmed append is on the master)", n, err)
	}

	replica.Restart()
	if err := replica.WaitInSync(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	// The resend is a duplicate on the master; its own write makes WAIT
	// cover the first run, whatever connection that came on.
	id2, err := l.Append(ctx, sampleCommitment("acct-w", 2, 100, now), Limits{})
	if err != nil {
		t.Fatalf("resend after the replica came back: %v", err)
	}
	if n, err := rc.XLen(ctx, l.streamKey("acct-w", Day(now))).Result(); err != nil || n != 2 {
		t.Fatalf("replica stream length = %d, %v; want 2", n, err)
	}
	if id2 == "" {
		t.Fatal("empty id")
	}
}

// TestMinReplicasDefaults: on by default (1) on a cluster client, off on a
// single server, and off on request.
func TestMinReplicasDefaults(t *testing.T) {
	single := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	t.Cleanup(func() { _ = single.Close(); _ = cluster.Close() })
	for _, tc := range []struct {
		name string
		rdb  redis.UniversalClient
		opt  int
		want int
	}{
		{"single default", single, 0, 0},
		{"single 2", single, 2, 2},
		{"cluster default", cluster, 0, 1},
		{"cluster off", cluster, -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := New(tc.rdb, Options{MinReplicas: tc.opt})
			if err != nil {
				t.Fatal(err)
			}
			if got := l.MinReplicas(); got != tc.want {
				t.Fatalf("MinReplicas() = %d, want %d", got, tc.want)
			}
		})
	}
	one, zero := 1, 0
	for _, tc := range []struct {
		v    *int
		want int
	}{{nil, 0}, {&zero, -1}, {&one, 1}} {
		if got := (RedisConfig{MinReplicas: tc.v}).MinReplicasOption(); got != tc.want {
			t.Errorf("MinReplicasOption(%v) = %d, want %d", tc.v, got, tc.want)
		}
	}
}

// replicaCases are the suite's cases of the day's account index.
var replicaCases = []suiteCase{
	{"ScanAccountsRepairsTheIndex", testScanAccountsRepairsTheIndex},
}

// testScanAccountsRepairsTheIndex: ScanAccounts finds an account the day's
// index lost and adds it back.
func testScanAccountsRepairsTheIndex(t *testing.T, e *env) {
	for _, a := range []string{"acct-s1", "acct-s2", "acct-s3"} {
		e.mustAppend(e.commitment(a, 10))
	}
	day := e.today()
	// As a failover of the index's node could: the index forgets one.
	if err := e.rdb.SRem(e.ctx, e.l.dayAccountsKey(day), "acct-s2").Err(); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.l.Accounts(e.ctx, day); len(got) != 2 {
		t.Fatalf("Accounts after the loss = %v", got)
	}
	got, err := e.l.ScanAccounts(e.ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != "acct-s1" || got[1] != "acct-s2" || got[2] != "acct-s3" {
		t.Fatalf("ScanAccounts = %v", got)
	}
	if got, _ := e.l.Accounts(e.ctx, day); len(got) != 3 {
		t.Fatalf("Accounts after the repair = %v; the scan did not add the entry back", got)
	}
}

// TestLockWaitsForReplicas: the settler's lock (and its fencing token) is
// granted only once a replica has it; without one the acquisition fails
// and gives the lock back, so the next settler is not blocked for the ttl.
func TestLockWaitsForReplicas(t *testing.T) {
	ctx := context.Background()
	master := testredis.Start(t, testredis.Options{NoAOF: true})
	replica := testredis.StartReplica(t, master, testredis.Options{NoAOF: true})
	// A replica that is up acknowledges within the generous timeout even
	// on a loaded machine (100 ms was once too short under a load of 30);
	// the one that is down is waited for only briefly.
	l, err := New(master.Client(), Options{MinReplicas: 1, ReplicaTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	brief, err := New(master.Client(), Options{MinReplicas: 1, ReplicaTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tok1, release, err := l.AcquireLock(ctx, "settle", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	release()
	replica.Kill()
	if _, _, err := brief.AcquireLock(ctx, "settle", time.Minute); !errors.Is(err, ErrUnreplicated) {
		t.Fatalf("AcquireLock with the replica down = %v, want ErrUnreplicated", err)
	}
	replica.Restart()
	if err := replica.WaitInSync(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	tok3, release, err := l.AcquireLock(ctx, "settle", time.Minute)
	if err != nil {
		t.Fatalf("AcquireLock after the replica came back: %v (the failed acquisition kept the lock?)", err)
	}
	defer release()
	if tok3 <= tok1 {
		t.Fatalf("token %d after %d: fencing tokens must grow", tok3, tok1)
	}
}
