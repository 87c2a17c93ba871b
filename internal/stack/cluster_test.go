package stack_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/stack"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// TestCrossProcessCluster runs the platform on a Redis Cluster of 3 masters
// and 3 replicas: the key directory, two gateways and two settlers, as
// processes. A crawler crawls through both gateways while the master of its
// hash slot is killed with SIGKILL; its replica is promoted and the killed
// process restarted (as a supervisor would) to be the new master's replica.
// Every paid 2xx must have its ledger record (appends wait for a replica,
// ledger.min_replicas's default on a cluster); then two settlers close and
// charge the day at the same time, and the card is charged once, the
// ledger's sum.
//
// Bounded: four crawler goroutines, about 250 requests, a 60s deadline for
// the crawl.
func TestCrossProcessCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries and starts 6 redis-servers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	began := time.Now()
	bin := builtBinaries(ctx, t)
	st, must := startStack(ctx, t, stack.Options{Dir: t.TempDir(), Bin: bin, Log: testLog{t}, Cluster: true, Fsync: "everysec"})
	must(st.StartKeydir(ctx, stack.KeydirOptions{}))
	must(st.StartOrigin(ctx, 4096))
	card, err := st.Register(ctx, "card-crawler", "--rail", "stripe", "--daily-cap", "50.00", "--max-price", "0.10")
	must(err)
	must(st.StartGateway(ctx, ""))
	gw2, err := st.StartGatewayReplica(ctx, "gateway-2")
	must(err)
	gateways := []string{st.Gateway, gw2}
	day := ledger.Day(time.Now())
	victim, err := st.MasterOf(ctx, "pc:{"+card.OperatorID+"}:a:"+day)
	must(err)
	t.Logf("platform up after %s; the crawler's slot is on %s", time.Since(began).Round(time.Millisecond), victim)

	var mu sync.Mutex
	var results []outcome
	var done, paidAfterKill atomic.Int64
	var killed atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := crawlerClient(t, card)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(30 * time.Millisecond):
				}
				o := fetch(ctx, client, gateways[(g+i)%2], fmt.Sprintf("/premium/c-%d-%d", g, i))
				mu.Lock()
				results = append(results, o)
				mu.Unlock()
				done.Add(1)
				if killed.Load() && o.status == http.StatusOK {
					paidAfterKill.Add(1)
				}
			}
		}()
	}
	deadline := time.Now().Add(60 * time.Second)
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("%s: not within 60s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("60 responses", func() bool { return done.Load() >= 60 })
	killedAt := time.Now()
	killed.Store(true)
	st.Proc(victim).Kill()
	waitFor("promotion", func() bool {
		m, err := st.MasterOf(ctx, "pc:{"+card.OperatorID+"}:a:"+day)
		return err == nil && m != victim
	})
	promoted := time.Since(killedAt)
	must(st.Restart(ctx, victim, ""))
	waitFor("paid again", func() bool { return paidAfterKill.Load() > 0 })
	recovered := time.Since(killedAt)
	mark := done.Load()
	waitFor("60 responses after recovery", func() bool { return done.Load() >= mark+60 })
	close(stop)
	wg.Wait()
	must(st.WaitClusterOK(ctx, 30*time.Second))

	rdb := st.LedgerClient()
	defer rdb.Close()
	led, err := ledger.New(rdb, ledger.Options{})
	must(err)
	records := map[string]*ledger.Commitment{}
	var sum money.Micros
	must(led.Commitments(ctx, card.OperatorID, day, func(c *ledger.Commitment) error {
		records[c.ID] = c
		sum += c.Price
		return nil
	}))
	var paid, missing, unavailable, other int
	codes := map[string]int{}
	for _, o := range results {
		switch {
		case o.status == http.StatusOK:
			paid++
			if records[o.commitment] == nil {
				missing++
				t.Errorf("%s: paid 200 with commitment %q that the ledger does not have", o.path, o.commitment)
			}
		case o.status == http.StatusServiceUnavailable:
			unavailable++
			codes[o.code]++
		default:
			other++
		}
	}
	t.Logf("%d requests: %d paid (%d missing from the ledger), %d answered 503 during the failover %v, %d other; "+
		"%d records; replica promoted %s after SIGKILL, paid pages again after %s",
		len(results), paid, missing, unavailable, codes, other, len(records), promoted.Round(time.Millisecond), recovered.Round(time.Millisecond))
	if paid < 60 {
		t.Errorf("only %d paid responses", paid)
	}

	// Two settlers close and charge the day at the same time: the lock
	// lets one work at a time, invoice ids and idempotency keys make the
	// other's run a no-op.
	cfg, err := st.WriteSettlerConfig(nil, 0)
	must(err)
	for _, step := range [][]string{{"close", "-config", cfg, "-day", day, "-early"}, {"charge", "-config", cfg, "-day", day}} {
		var swg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			swg.Add(1)
			go func() {
				defer swg.Done()
				_, errs[i] = st.Settler(ctx, step...)
			}()
		}
		swg.Wait()
		for _, err := range errs {
			if err != nil && !strings.Contains(err.Error(), "lock") {
				t.Fatalf("settler %s: %v", step[0], err)
			}
		}
	}
	// Whichever settler lost the race for the lock, one more run settles
	// what is left.
	_, err = st.Settler(ctx, "charge", "-config", cfg, "-day", day)
	must(err)
	inv, err := led.Invoice(ctx, ledger.InvoiceID(card.OperatorID, day, "USD"))
	must(err)
	if inv.Total != sum || inv.Status != ledger.StatusPaid {
		t.Errorf("invoice %s total %s status %s; ledger sum %s", inv.ID, inv.Total, inv.Status, sum)
	}
	intents := 0
	for _, in := range st.Stripe.Intents() {
		if in.Metadata["invoice"] == inv.ID || strings.Contains(in.IdempotencyKey, inv.ID) {
			intents++
		}
	}
	if intents != 1 {
		t.Errorf("Stripe received %d payment intents for %s, want 1", intents, inv.ID)
	}
	t.Logf("whole test %s", time.Since(began).Round(time.Millisecond))
}

// The package's tests share one build of the binaries.
var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// builtBinaries builds the commands once for every test of the package and
// returns their directory; TestMain removes it.
func builtBinaries(ctx context.Context, t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		var mod string
		if mod, buildErr = stack.ModuleDir(); buildErr != nil {
			return
		}
		if buildDir, buildErr = os.MkdirTemp("", "stack-bin-"); buildErr != nil {
			return
		}
		buildErr = stack.Build(ctx, mod, buildDir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// TestUnreplicatedAppendIsUnconfirmed: a gateway whose ledger.min_replicas
// cannot be met (one redis-server, no replica, min_replicas 1) sends no
// paid page; it answers 503 charge_unconfirmed ("may have been
// recorded"), which is the truth: each commitment is on the master, once,
// though no replica confirmed it.
func TestUnreplicatedAppendIsUnconfirmed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, must := startStack(ctx, t, stack.Options{Dir: t.TempDir(), Bin: builtBinaries(ctx, t), Log: testLog{t}, MinReplicas: 1})
	must(st.StartKeydir(ctx, stack.KeydirOptions{}))
	must(st.StartOrigin(ctx, 1024))
	card, err := st.Register(ctx, "card-crawler", "--rail", "stripe", "--daily-cap", "5.00", "--max-price", "0.10")
	must(err)
	must(st.StartGateway(ctx, ""))
	client := crawlerClient(t, card)
	const n = 5
	for i := 0; i < n; i++ {
		o := fetch(ctx, client, st.Gateway, fmt.Sprintf("/premium/u-%d", i))
		if o.err != nil || o.status != http.StatusServiceUnavailable || o.code != "charge_unconfirmed" || o.charged != "" {
			t.Fatalf("%s: status %d code %q charged %q err %v; want 503 charge_unconfirmed, nothing served",
				o.path, o.status, o.code, o.charged, o.err)
		}
	}
	rdb := st.LedgerClient()
	defer rdb.Close()
	led, err := ledger.New(rdb, ledger.Options{})
	must(err)
	count := 0
	must(led.Commitments(ctx, card.OperatorID, ledger.Day(time.Now()), func(*ledger.Commitment) error {
		count++
		return nil
	}))
	if count != n {
		t.Fatalf("%d commitments on the master, want %d (one per request, resends included)", count, n)
	}
}
