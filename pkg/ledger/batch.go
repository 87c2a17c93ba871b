package ledger

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// batcher runs the append script of concurrent Append calls in pipelines (a
// group commit): calls that arrive while pipelines are in flight go out
// together in the next one, so Redis and the client pay one network round
// trip, one read and one write system call per batch instead of per append.
// A lone call is sent at once; nothing waits for a batch to fill.
//
// Each append stays its own script run, atomic on its own; batching changes
// only how the commands travel. A resent pipeline (go-redis retries one after
// a network error) is harmless because the append script is idempotent.
//
// With minReplicas > 0 each pipeline goes to one master on one connection
// and ends with WAIT minReplicas: WAIT blocks until the replicas have
// acknowledged every write that connection made, so one WAIT confirms every
// script of the pipeline. A cluster client's own pipeline cannot do this: it
// routes a keyless WAIT to a random node. So the batcher groups the scripts
// by master itself (ClusterClient.MasterForKey) and pipelines on that node's
// client.
type batcher struct {
	rdb      redis.UniversalClient
	max      int // scripts per pipeline
	flushers int // pipelines in flight at most

	// minReplicas > 0 ends every pipeline with WAIT minReplicas
	// replicaTimeout (see Options.MinReplicas).
	minReplicas    int
	replicaTimeout time.Duration

	mu      sync.Mutex
	queue   []*batchItem
	running int // flusher goroutines alive; they exit when the queue is empty
}

type batchItem struct {
	ctx  context.Context
	keys []string
	args []interface{}
	cmd  *redis.Cmd
	// unreplicated is set when the pipeline's WAIT did not confirm
	// minReplicas replicas; the script's reply stands, its durability is
	// unknown.
	unreplicated error
	done         chan struct{}
}

// batchTimeout bounds one pipeline when the client has no socket timeouts of
// its own; NewClient's are much shorter.
const batchTimeout = 10 * time.Second

// newBatcher returns a batcher sending at most max scripts per pipeline.
// Four pipelines of at most 16 kept Redis busiest in BenchmarkAppend (64
// writers, 2 cores): fewer or longer pipelines leave Redis idle while the
// client handles a finished batch.
func newBatcher(rdb redis.UniversalClient, max int) *batcher {
	return &batcher{rdb: rdb, max: max, flushers: 4}
}

// run runs the append script with keys and args in the next pipeline and
// returns its result, and a non-nil *unreplicatedError if the script ran
// but WAIT did not confirm it on enough replicas. If ctx ends first, run
// returns ctx's error: the script may still run (an unknown outcome, like
// any timeout; resending the same commitment is safe), unless it was still
// queued, in which case it is dropped.
func (b *batcher) run(ctx context.Context, keys []string, args []interface{}) (*redis.Cmd, error) {
	it := &batchItem{ctx: ctx, keys: keys, args: args, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, it)
	if b.running < b.flushers {
		b.running++
		go b.flush()
	}
	b.mu.Unlock()
	select {
	case <-it.done:
		return it.cmd, it.unreplicated
	case <-ctx.Done():
		select {
		case <-it.done: // finished at the same moment: report what happened
			return it.cmd, it.unreplicated
		default:
		}
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(ctx.Err())
		return cmd, nil
	}
}

// flush sends batches until the queue is empty, then exits.
func (b *batcher) flush() {
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.queue = nil // let the backing array go
			b.running--
			b.mu.Unlock()
			return
		}
		n := min(len(b.queue), b.max)
		batch := b.queue[:n:n]
		b.queue = b.queue[n:]
		b.mu.Unlock()
		b.exec(batch)
	}
}

// exec runs one batch and completes its items.
func (b *batcher) exec(batch []*batchItem) {
	live := make([]*batchItem, 0, len(batch))
	for _, it := range batch {
		if err := it.ctx.Err(); err != nil {
			it.cmd = redis.NewCmd(it.ctx)
			it.cmd.SetErr(err) // never sent: no outcome to wonder about
			continue
		}
		live = append(live, it)
	}
	cc, cluster := b.rdb.(*redis.ClusterClient)
	switch {
	case len(live) == 0:
	case b.minReplicas <= 0:
		b.send(b.rdb, live, false, false)
	case !cluster:
		b.send(b.rdb, live, true, false)
	default:
		b.sendByMaster(cc, live, false)
	}
	reload := false
	for _, it := range batch {
		err := it.cmd.Err()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			// The server lost its script cache (restart, failover, SCRIPT
			// FLUSH): the script did not run. Send it alone with EVAL, which
			// caches it again and cannot answer NOSCRIPT, followed by WAIT
			// on the same connection when replicas must confirm it.
			b.resendEval(it)
			err = it.cmd.Err()
		}
		if cluster && err != nil && clusterMoved(err) {
			reload = true
		}
		close(it.done)
	}
	if reload {
		// go-redis reloads its slot map by itself only every 60s or on a
		// MOVED it saw; a dead master gives network errors instead, and a
		// MOVED answered to a node client is not seen. Reload now so that
		// the caller's resend finds the promoted replica.
		cc.ReloadState(context.Background())
	}
}

// appendCmd returns the command that runs the append script (EVALSHA, or
// EVAL when eval is set) with it's keys and arguments, as
// redis.Script.EvalSha and Eval build it, but with the keys passed as
// pointers: go-redis writes (and routes by) a *string as its string, and
// boxing a pointer allocates nothing.
func appendCmd(it *batchItem, eval bool) *redis.Cmd {
	argv := make([]any, 3+len(it.keys), 3+len(it.keys)+len(it.args))
	argv[0], argv[1] = "evalsha", appendSHA
	if eval {
		argv[0], argv[1] = "eval", appendSource
	}
	argv[2] = len(it.keys)
	for i := range it.keys {
		argv[3+i] = &it.keys[i]
	}
	cmd := redis.NewCmd(it.ctx, append(argv, it.args...)...)
	cmd.SetFirstKeyPos(3)
	return cmd
}

// appendSHA and appendSource are the append script's hash and source,
// boxed once.
var appendSHA, appendSource any = appendScript.Hash(), appendLua

// clusterMoved reports an error after which the slot map may be stale: the
// node is gone, or says the slot is elsewhere or not served.
func clusterMoved(err error) bool {
	return unavailable(err)
}

// send runs items as one pipeline on c, with EVALSHA (or EVAL when eval is
// set); with wait, the pipeline ends with WAIT, so c must send it on one
// connection to one server (a *redis.Client).
func (b *batcher) send(c redis.Cmdable, items []*batchItem, wait, eval bool) {
	pipe := c.Pipeline()
	for _, it := range items {
		it.cmd = appendCmd(it, eval)
		_ = pipe.Process(it.ctx, it.cmd)
	}
	var w *redis.IntCmd
	if wait {
		// Pipeliner has no Wait method; the reply comes within the
		// timeout, below the connection's read timeout.
		w = redis.NewIntCmd(context.Background(), "wait", b.minReplicas, b.replicaTimeout.Milliseconds())
		_ = pipe.Process(context.Background(), w)
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	_, _ = pipe.Exec(ctx) // errors are per command
	cancel()
	if wait {
		b.judgeWait(w, items)
	}
}

// judgeWait marks the items whose script ran as unreplicated unless w
// confirmed minReplicas replicas.
func (b *batcher) judgeWait(w *redis.IntCmd, items []*batchItem) {
	n, err := w.Result()
	if err == nil && n >= int64(b.minReplicas) {
		return
	}
	for _, it := range items {
		if it.cmd.Err() == nil {
			it.unreplicated = &unreplicatedError{got: n, want: int64(b.minReplicas), err: err}
		}
	}
}

// sendByMaster groups items by the master of their slot and sends each
// group, concurrently, as one pipeline ending in WAIT on that master.
func (b *batcher) sendByMaster(cc *redis.ClusterClient, items []*batchItem, eval bool) {
	groups := map[*redis.Client][]*batchItem{}
	for _, it := range items {
		node, err := cc.MasterForKey(it.ctx, it.keys[0])
		if err != nil {
			it.cmd = redis.NewCmd(it.ctx)
			it.cmd.SetErr(err)
			continue
		}
		groups[node] = append(groups[node], it)
	}
	var wg sync.WaitGroup
	for node, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.send(node, g, true, eval)
		}()
	}
	wg.Wait()
}

// resendEval sends it's script alone with EVAL (not EVALSHA), followed by
// WAIT on the master of its slot when replicas must confirm it.
func (b *batcher) resendEval(it *batchItem) {
	one := []*batchItem{it}
	switch cc, cluster := b.rdb.(*redis.ClusterClient); {
	case b.minReplicas <= 0:
		it.cmd = appendCmd(it, true)
		_ = b.rdb.Process(it.ctx, it.cmd)
	case cluster:
		b.sendByMaster(cc, one, true)
	default:
		b.send(b.rdb, one, true, true)
	}
}

// runWaited runs script alone on the master of keys[0]'s slot, followed by
// WAIT minReplicas on the same connection (EVAL, not EVALSHA: a NOSCRIPT
// retry would come on another connection, outside the WAIT). Without
// minReplicas it is script.Run. The returned error is a non-nil
// *unreplicatedError when the script ran but WAIT did not confirm it.
func (b *batcher) runWaited(ctx context.Context, script *redis.Script, keys []string, args ...interface{}) (*redis.Cmd, error) {
	if b.minReplicas <= 0 {
		return script.Run(ctx, b.rdb, keys, args...), nil
	}
	var node redis.Cmdable = b.rdb
	if cc, ok := b.rdb.(*redis.ClusterClient); ok {
		c, err := cc.MasterForKey(ctx, keys[0])
		if err != nil {
			cmd := redis.NewCmd(ctx)
			cmd.SetErr(err)
			return cmd, nil
		}
		node = c
	}
	pipe := node.Pipeline()
	cmd := script.Eval(ctx, pipe, keys, args...)
	w := redis.NewIntCmd(ctx, "wait", b.minReplicas, b.replicaTimeout.Milliseconds())
	_ = pipe.Process(ctx, w)
	_, _ = pipe.Exec(ctx)
	if err := cmd.Err(); err != nil {
		if cc, ok := b.rdb.(*redis.ClusterClient); ok && clusterMoved(err) {
			cc.ReloadState(context.Background())
		}
		return cmd, nil
	}
	if n, err := w.Result(); err != nil || n < int64(b.minReplicas) {
		return cmd, &unreplicatedError{got: n, want: int64(b.minReplicas), err: err}
	}
	return cmd, nil
}

// runDurable runs one of the settler's scripts (invoice creation and
// transitions, write-ahead records, nonce claims, day closes) like
// runWaited; a script that ran but was not confirmed by enough replicas
// gives a command whose error is the *unreplicatedError (matching
// ErrUnavailable): every such script is idempotent, and the caller treats
// it as an unknown outcome to resend, never as done. Without
// Options.MinReplicas it is script.Run.
func (l *Ledger) runDurable(ctx context.Context, script *redis.Script, keys []string, args ...interface{}) *redis.Cmd {
	cmd, unreplicated := l.pipe.runWaited(ctx, script, keys, args...)
	if unreplicated != nil {
		failed := redis.NewCmd(ctx)
		failed.SetErr(unreplicated)
		return failed
	}
	return cmd
}
