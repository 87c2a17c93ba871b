package ledger

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/testredis"
)

// TestCrashSafety SIGKILLs redis-server (appendfsync always) while writers
// append, restarts it on the same AOF, three times. Every acknowledged append
// must survive with its id; every failed one must be an ErrUnavailable that a
// resend with the same request id settles exactly once.
func TestCrashSafety(t *testing.T) {
	srv := testredis.Start(t, testredis.Options{Fsync: "always", Extra: projectConf(t)})
	rdb, err := NewClient(ClientConfig{Addrs: []string{srv.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	l, err := New(rdb, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	type attempt struct {
		c   *Commitment
		id  string
		err error
	}
	var (
		mu       sync.Mutex
		attempts []attempt
		seq      atomic.Int64
		acked    atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c := sampleCommitment("crash", seq.Add(1), 1_000, time.Now())
				actx, cancel := context.WithTimeout(ctx, 2*time.Second)
				id, err := l.Append(actx, c, Limits{})
				cancel()
				mu.Lock()
				attempts = append(attempts, attempt{c, id, err})
				mu.Unlock()
				if err != nil {
					time.Sleep(5 * time.Millisecond)
				} else {
					acked.Add(1)
				}
			}
		}()
	}
	// waitAcks waits until n more appends have been acknowledged.
	waitAcks := func(n int64) {
		t.Helper()
		target := acked.Load() + n
		deadline := time.Now().Add(10 * time.Second)
		for acked.Load() < target {
			if time.Now().After(deadline) {
				t.Fatalf("writers made no progress (%d acked)", acked.Load())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for round := 0; round < 3; round++ {
		waitAcks(200)
		srv.Kill()
		time.Sleep(50 * time.Millisecond)
		srv.Restart()
	}
	waitAcks(200)
	close(stop)
	wg.Wait()

	day := Day(attempts[0].c.Received)
	days := []string{day}
	if last := Day(attempts[len(attempts)-1].c.Received); last != day {
		days = append(days, last) // the test straddled midnight UTC
	}
	inStream := map[string]string{} // request id → commitment id
	read := func() {
		t.Helper()
		clear(inStream)
		for _, d := range days {
			if err := l.Commitments(ctx, "crash", d, func(c *Commitment) error {
				if prev, dup := inStream[c.RequestID]; dup {
					t.Errorf("request %s recorded twice: %s and %s", c.RequestID, prev, c.ID)
				}
				inStream[c.RequestID] = c.ID
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	read()
	var failed int
	for _, a := range attempts {
		if a.err == nil {
			if inStream[a.c.RequestID] != a.id {
				t.Errorf("acknowledged append %s (%s) lost in the crash", a.id, a.c.RequestID)
			}
			continue
		}
		failed++
		if !errors.Is(a.err, ErrUnavailable) {
			t.Errorf("append failed with %v, want ErrUnavailable", a.err)
		}
		// Resend: lands now, or finds the append that landed before the crash.
		id, err := l.Append(ctx, a.c, Limits{})
		if err != nil {
			t.Errorf("resend of %s: %v", a.c.RequestID, err)
		}
		if prev, ok := inStream[a.c.RequestID]; ok && prev != id {
			t.Errorf("resend of %s returned %s, the stream has %s", a.c.RequestID, id, prev)
		}
	}
	read()
	if len(inStream) != len(attempts) {
		t.Errorf("stream has %d commitments for %d distinct requests", len(inStream), len(attempts))
	}
	if err := l.Verify(ctx, "crash", day); err != nil {
		t.Error(err)
	}
	t.Logf("%d appends, %d acknowledged, %d failed during the crashes and resent", len(attempts), acked.Load(), failed)
}
