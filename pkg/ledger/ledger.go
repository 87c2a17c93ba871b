package ledger

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// MaxAmount is the largest amount, cap or day total the ledger accepts, in
// micro-units: 2^53-1, the largest integer a Redis Lua number (a double)
// holds exactly.
const MaxAmount money.Micros = 1<<53 - 1

// dayLayout is the form of a day: the UTC calendar date.
const dayLayout = "2006-01-02"

// Defaults of Options.
const (
	DefaultPrefix        = "pc"
	DefaultReplayMargin  = 5 * time.Minute
	DefaultRetentionDays = 90
	DefaultReadBatch     = 512
	DefaultMaxPipeline   = 16
)

// Options configure a Ledger. The zero value is usable: every zero field
// takes the default documented on it.
type Options struct {
	// Prefix starts every key. Default "pc". It must not contain '{' or '}'.
	Prefix string
	// Now is the clock; default time.Now. It stamps invoices, history and
	// carry-over entries, and decides which days Trim may delete.
	Now func() time.Time
	// Logger receives warnings (such as a trimmed day); default discards.
	Logger *slog.Logger
	// ReplayMargin is added to Commitment.ReplayUntil before the replay keys
	// expire, to cover clock skew between gateways and Redis. Default 5 min.
	ReplayMargin time.Duration
	// RetentionDays: Trim deletes the commitments of days at least this many
	// days old (and settled). Default 90.
	RetentionDays int
	// ReadBatch is the number of stream entries read per XRANGE when
	// iterating a crawler-day. Default 512.
	ReadBatch int
	// MaxPipeline bounds how many append scripts travel in one pipeline:
	// concurrent Appends are grouped (a group commit, each append still its
	// own atomic script). Default 16; 1 sends each append alone.
	MaxPipeline int
	// MinReplicas is how many replicas must have each append before Append
	// returns it (WAIT on the master's connection, right after the script).
	// Redis replicates asynchronously: without it, a master that dies
	// between acknowledging an append and sending it to its replica loses a
	// commitment whose page was served. 0 takes the default: 1 on a
	// *redis.ClusterClient, none on a single server; negative waits for
	// none. An append that reaches fewer replicas within ReplicaTimeout
	// fails with ErrUnreplicated. The settler's writes (lock, day close,
	// invoices, transitions, write-ahead records, nonce claims) wait the
	// same way and fail with ErrUnavailable when unconfirmed.
	MinReplicas int
	// ReplicaTimeout bounds the wait for MinReplicas. Default 250ms; keep
	// it below the client's read timeout.
	ReplicaTimeout time.Duration
}

// DefaultReplicaTimeout is the default of Options.ReplicaTimeout.
const DefaultReplicaTimeout = 250 * time.Millisecond

// Ledger is the Redis ledger. It is safe for concurrent use.
//
// CheckPrefix reports whether p may start the ledger's keys (Options.Prefix):
// no braces (they would move the hash tag) and no spaces.
func CheckPrefix(p string) error {
	if strings.ContainsAny(p, "{} \t\r\n") {
		return fmt.Errorf("%w: prefix %q must not contain braces or spaces", ErrInvalid, p)
	}
	return nil
}

// Key layout (<p> is Options.Prefix, {<a>} the crawler's account as hash tag):
//
//	<p>:{<a>}:c:<day>            stream   commitments of a crawler-day, in order
//	<p>:{<a>}:a:<day>            hash     aggregates of a crawler-day: n|<cur>, m|<cur> (count,
//	                                      amount), n|<cur>|<publisher>|<site>, m|…; "closed" once invoiced
//	<p>:{<a>}:pr:<day>           hash     dictionary of a crawler-day's compact records: what its
//	                                      commitments repeat, numbered: n, h<id> → number, <number> →
//	                                      entry (see compact.go); format 1: profile id (16 bytes) → profile
//	<p>:{<a>}:rp:<replay id>     string   the commitment's stream id as one integer "<ms><seq:06>"
//	                                      (older: "<id> <request id>"), expires at ReplayUntil+margin
//	<p>:{<a>}:pk:<keyid>         string   public JWK archived at first use, never deleted
//	<p>:{<a>}:inv:<day>:<cur>    hash     invoice: status, token, amounts, rail fields, write-ahead
//	                                      (raw_tx, nonce, wa_attempt), check, lines l<i>.*
//	<p>:{<a>}:invh:<day>:<cur>   stream   invoice history (creation, transitions, credits, checks)
//	<p>:{<a>}:inva:<day>:<cur>   stream   charge attempts and notes, numbered (n)
//	<p>:{<a>}:q:<agr>:<day>      string   requests recorded in a subscription period starting on day
//	                                      (see agreement.go)
//	<p>:{<a>}:pp:<agr>           string   prepaid balance (integer micro-units, never negative)
//	<p>:{<a>}:ppt:<agr>          hash     prepaid top-ups credited: top-up id → amount; r|<id> → taken back
//	<p>:{<a>}:carry:<cur>        string   carry-over balance (integer micro-units)
//	<p>:{<a>}:carrylog:<cur>     stream   carry-over entries (+carried by X, -consumed by Y)
//	<p>:{day:<day>}:accounts     set      accounts with usage on a day
//	<p>:{day:<day>}:invoices     set      invoice ids of a day
//	<p>:{lock:<name>}            string   lock: "<token> <holder>", with a TTL
//	<p>:{lock:<name>}:token      string   fencing token counter
//	<p>:{nonce:<sender>}         hash     nonce journal of a chain sender: n:<nonce> → "<invoice>
//	                                      <attempt> <tx hash> <raw tx>", o:<invoice>#<attempt> → nonce
type Ledger struct {
	rdb       redis.UniversalClient
	prefix    string
	now       func() time.Time
	log       *slog.Logger
	margin    time.Duration
	retention int
	readBatch int64

	// indexed remembers when this Ledger last added "<day> <account>" to a
	// day's index (see indexAccount); archived remembers "<account> <keyid>"
	// public keys it saw archived (see Append).
	indexed, archived memo
	// profiled remembers "<account> <day> <entry id>" dictionary entries it
	// saw stored (see Append).
	profiled memo
	// pipe sends append scripts in pipelines (see batcher).
	pipe *batcher
	// entries interns the dictionary entries Append encodes.
	entries entries
	// days names the days of appends.
	days Days
}

// memo is a bounded concurrent map from a string to when it was noted. When
// it grows past memoMax entries it forgets everything: forgetting only costs
// a redundant (idempotent) write.
type memo struct {
	m sync.Map
	n atomic.Int64
}

const memoMax = 1 << 16

// noted returns when k was noted, and whether it was.
func (m *memo) noted(k string) (time.Time, bool) {
	v, ok := m.m.Load(k)
	if !ok {
		return time.Time{}, false
	}
	return v.(time.Time), true
}

func (m *memo) note(k string, now time.Time) {
	if _, loaded := m.m.Swap(k, now); !loaded && m.n.Add(1) > memoMax {
		m.m.Clear()
		m.n.Store(0)
	}
}

func (m *memo) forget(k string) { m.m.Delete(k) }

// New returns a Ledger on rdb, a *redis.Client or *redis.ClusterClient (see
// NewClient for one with bounded timeouts). New does not contact Redis.
func New(rdb redis.UniversalClient, opts Options) (*Ledger, error) {
	if rdb == nil {
		return nil, fmt.Errorf("%w: nil redis client", ErrInvalid)
	}
	l := &Ledger{
		rdb:       rdb,
		prefix:    opts.Prefix,
		now:       opts.Now,
		log:       opts.Logger,
		margin:    opts.ReplayMargin,
		retention: opts.RetentionDays,
		readBatch: int64(opts.ReadBatch),
	}
	if l.prefix == "" {
		l.prefix = DefaultPrefix
	}
	if err := CheckPrefix(l.prefix); err != nil {
		return nil, err
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.log == nil {
		l.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if l.margin <= 0 {
		l.margin = DefaultReplayMargin
	}
	if l.retention <= 0 {
		l.retention = DefaultRetentionDays
	}
	if l.readBatch <= 0 {
		l.readBatch = DefaultReadBatch
	}
	if opts.MaxPipeline <= 0 {
		opts.MaxPipeline = DefaultMaxPipeline
	}
	l.pipe = newBatcher(rdb, opts.MaxPipeline)
	switch _, cluster := rdb.(*redis.ClusterClient); {
	case opts.MinReplicas > 0:
		l.pipe.minReplicas = opts.MinReplicas
	case opts.MinReplicas == 0 && cluster:
		l.pipe.minReplicas = 1
	}
	l.pipe.replicaTimeout = opts.ReplicaTimeout
	if l.pipe.replicaTimeout <= 0 {
		l.pipe.replicaTimeout = DefaultReplicaTimeout
	}
	return l, nil
}

// MinReplicas is the number of replicas each append waits for (0: none),
// after Options.MinReplicas's default.
func (l *Ledger) MinReplicas() int { return l.pipe.minReplicas }

// Ping checks that Redis answers; the error wraps ErrUnavailable if not.
// On a cluster it pings every master.
func (l *Ledger) Ping(ctx context.Context) error {
	if cc, ok := l.rdb.(*redis.ClusterClient); ok {
		return wrapf("ledger: ping", cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			return c.Ping(ctx).Err()
		}))
	}
	return wrapf("ledger: ping", l.rdb.Ping(ctx).Err())
}
