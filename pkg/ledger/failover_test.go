package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// TestFailoverLosesNoServedCommitment kills a master with SIGKILL while
// appends are flowing, as a gateway makes them (resend the same commitment
// up to three times on ErrUnavailable; "serve" only on success), and crawlers
// keep crawling until the killed master's replica is promoted and, once the
// crashed process is restarted as its replica, confirms appends again.
// Every served commitment must be in the ledger afterwards (Options.MinReplicas
// defaults to 1 on a cluster: an acknowledged append is on a replica), and the
// next settlement invoices each recorded commitment exactly once.
//
// Bounded: eight crawlers pacing themselves, a few hundred appends, a 45s
// deadline for the whole fault.
func TestFailoverLosesNoServedCommitment(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 6-node cluster and waits for a failover")
	}
	ctx := context.Background()
	cluster := testredis.StartReplicated(t, testredis.ReplicaOptions{NodeTimeout: time.Second})
	rdb, err := NewClient(ClientConfig{Addrs: cluster.Addrs(), Cluster: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	l, err := New(rdb, Options{Prefix: "fo"})
	if err != nil {
		t.Fatal(err)
	}
	if l.MinReplicas() != 1 {
		t.Fatalf("MinReplicas() = %d on a cluster, want the default 1", l.MinReplicas())
	}
	now := time.Now().UTC()
	day := Day(now)
	accounts := make([]string, 12)
	for i := range accounts {
		accounts[i] = fmt.Sprintf("acct-fo%d", i)
	}
	victim, err := cluster.MasterOf(l.aggKey(accounts[0], day))
	if err != nil {
		t.Fatal(err)
	}
	onVictim := map[string]bool{}
	for _, a := range accounts {
		if m, err := cluster.MasterOf(l.aggKey(a, day)); err == nil && m == victim {
			onVictim[a] = true
		}
	}

	var (
		mu          sync.Mutex
		served      = map[string]string{} // request id → commitment id
		servedSum   money.Micros
		unconfirmed int // 503s: the outcome stayed unknown
		seq         atomic.Int64
		nServed     atomic.Int64
		attempts    atomic.Int64
		killedAt    atomic.Int64 // unix nanos, 0 before the kill
		recoveredAt atomic.Int64 // first served append on the victim's slots after the kill
		stop        = make(chan struct{})
		wg          sync.WaitGroup
	)
	// gatewayAppend is the gateway's append: resend the same commitment on an
	// unknown outcome, at most three tries.
	gatewayAppend := func(c *Commitment) (string, error) {
		backoff := 20 * time.Millisecond
		var err error
		for try := 1; try <= 3; try++ {
			actx, cancel := context.WithTimeout(ctx, time.Second)
			var id string
			id, err = l.Append(actx, c, Limits{})
			cancel()
			if err == nil || !errorsIsUnavailable(err) {
				return id, err
			}
			time.Sleep(backoff)
			backoff *= 4
		}
		return "", err
	}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(40 * time.Millisecond):
				}
				account := accounts[i%len(accounts)]
				n := seq.Add(1)
				attempts.Add(1)
				c := sampleCommitment(account, n, money.Micros(1000+n%7), now)
				id, err := gatewayAppend(c)
				mu.Lock()
				if err == nil {
					served[c.RequestID] = id
					servedSum += c.Price
				} else {
					unconfirmed++
				}
				mu.Unlock()
				if err == nil {
					nServed.Add(1)
					if k := killedAt.Load(); k != 0 && onVictim[account] {
						recoveredAt.CompareAndSwap(0, time.Now().UnixNano())
					}
				}
			}
		}()
	}
	deadline := time.Now().Add(45 * time.Second)
	waitFor := func(what string, cond func() bool) {
		for !cond() {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("%s: not within the deadline", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("100 served before the kill", func() bool { return nServed.Load() >= 100 })
	killedAt.Store(time.Now().UnixNano())
	victim.Kill()
	// The replica takes over, but alone: with MinReplicas 1 its appends are
	// unconfirmed (503) until it has a replica again. A supervisor restarts
	// the crashed process, which rejoins as the new master's replica.
	waitFor("the victim's replica promoted", func() bool {
		m, err := cluster.MasterOf(l.aggKey(accounts[0], day))
		return err == nil && m != victim
	})
	promoted := time.Duration(time.Now().UnixNano() - killedAt.Load())
	victim.Restart()
	waitFor("the victim's accounts served again", func() bool { return recoveredAt.Load() != 0 })
	after := nServed.Load()
	waitFor("100 more served after recovery", func() bool { return nServed.Load() >= after+100 })
	close(stop)
	wg.Wait()
	recovery := time.Duration(recoveredAt.Load() - killedAt.Load())

	if err := cluster.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}

	// Every served commitment is in the ledger, once.
	recorded := map[string]string{}
	var recordedSum money.Micros
	dups := 0
	for _, a := range accounts {
		err := l.Commitments(ctx, a, day, func(c *Commitment) error {
			if _, ok := recorded[c.RequestID]; ok {
				dups++
			}
			recorded[c.RequestID] = c.ID
			recordedSum += c.Price
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	missing := 0
	for rid, id := range served {
		if recorded[rid] != id {
			missing++
			t.Errorf("served %s as %s; the ledger has %q", rid, id, recorded[rid])
		}
	}
	if dups != 0 {
		t.Errorf("%d request ids recorded twice", dups)
	}

	// The next settlement: two settlers close the day; each recorded
	// commitment is invoiced once.
	listed, err := l.ScanAccounts(ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != len(accounts) {
		t.Fatalf("ScanAccounts = %v, want all %d accounts", listed, len(accounts))
	}
	var invoiced money.Micros
	for _, a := range listed {
		inv, created, err := l.CreateInvoice(ctx, a, day, "USD", "settler-a")
		if err != nil || !created {
			t.Fatalf("CreateInvoice(%s) = %v, %v", a, created, err)
		}
		again, created, err := l.CreateInvoice(ctx, a, day, "USD", "settler-b")
		if err != nil || created || again.ID != inv.ID || again.Total != inv.Total {
			t.Fatalf("second settler's CreateInvoice(%s) = %v created=%v, %v", a, again, created, err)
		}
		if err := l.Verify(ctx, a, day); err != nil {
			t.Fatal(err)
		}
		invoiced += inv.Total
	}
	if invoiced != recordedSum {
		t.Errorf("invoiced %s, recorded %s: a commitment invoiced twice or not at all", invoiced, recordedSum)
	}
	if invoiced < servedSum {
		t.Errorf("invoiced %s < served %s", invoiced, servedSum)
	}
	t.Logf("attempts %d, served %d, 503 %d, recorded %d (%d recorded but answered 503: may have been recorded), "+
		"missing %d; replica promoted %s after SIGKILL, appends confirmed again after %s; invoiced %s = recorded, served %s",
		attempts.Load(), len(served), unconfirmed, len(recorded), len(recorded)-len(served), missing,
		promoted.Round(time.Millisecond), recovery.Round(time.Millisecond), invoiced, servedSum)
}

func errorsIsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }
