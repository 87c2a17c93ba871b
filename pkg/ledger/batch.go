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
type batcher struct {
	rdb      redis.UniversalClient
	max      int // scripts per pipeline
	flushers int // pipelines in flight at most

	mu      sync.Mutex
	queue   []*batchItem
	running int // flusher goroutines alive; they exit when the queue is empty
}

type batchItem struct {
	ctx  context.Context
	keys []string
	args []interface{}
	cmd  *redis.Cmd
	done chan struct{}
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
// returns its result. If ctx ends first, run returns ctx's error: the script
// may still run (an unknown outcome, like any timeout; resending the same
// commitment is safe), unless it was still queued, in which case it is
// dropped.
func (b *batcher) run(ctx context.Context, keys []string, args []interface{}) *redis.Cmd {
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
		return it.cmd
	case <-ctx.Done():
		select {
		case <-it.done: // finished at the same moment: report what happened
			return it.cmd
		default:
		}
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(ctx.Err())
		return cmd
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

// exec runs one batch as a pipeline and completes its items.
func (b *batcher) exec(batch []*batchItem) {
	pipe := b.rdb.Pipeline()
	sent := 0
	for _, it := range batch {
		if err := it.ctx.Err(); err != nil {
			it.cmd = redis.NewCmd(it.ctx)
			it.cmd.SetErr(err) // never sent: no outcome to wonder about
			continue
		}
		it.cmd = appendScript.EvalSha(it.ctx, pipe, it.keys, it.args...)
		sent++
	}
	if sent > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		_, _ = pipe.Exec(ctx) // errors are per command
		cancel()
	}
	for _, it := range batch {
		if err := it.cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			// The server lost its script cache (restart, failover, SCRIPT
			// FLUSH): the script did not run. Run it alone, which falls back
			// to EVAL and caches it again.
			it.cmd = appendScript.Run(it.ctx, b.rdb, it.keys, it.args...)
		}
		close(it.done)
	}
}
