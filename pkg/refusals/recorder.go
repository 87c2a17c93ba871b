package refusals

import (
	"context"
	_ "embed"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/pkg/deferred"
)

// DefaultPrefix starts the keys of the counts: the ledger's default prefix
// and "rf".
const DefaultPrefix = "pc:rf"

// Defaults of Options.
const (
	DefaultRetention  = 90 * 24 * time.Hour
	DefaultMaxFields  = 4096
	DefaultMaxPending = 10000
	// DefaultMaxSignatures is Options.MaxSignatures' default.
	DefaultMaxSignatures = 100000
	DefaultInterval      = time.Second
	DefaultTimeout       = 2 * time.Second
)

// sep separates a field's crawler, reason and code.
const sep = '|'

//go:embed lua/incr.lua
var incrLua string

var incrScript = redis.NewScript(incrLua)

// Options configure a Recorder. Redis is required; every zero value takes
// the default its field documents.
type Options struct {
	// Redis holds the counts (the ledger's Redis).
	Redis redis.UniversalClient
	// Prefix starts every key; default DefaultPrefix. It must match the
	// reader's.
	Prefix string
	// Retention is how long a day's counts are kept after the day ends;
	// default 90 days.
	Retention time.Duration
	// MaxFields bounds the fields of one publisher-day hash: the counts of
	// verified crawlers beyond it go to the Others bucket; default 4096.
	MaxFields int
	// MaxPending bounds the distinct counters held between two flushes;
	// a refusal that would add one more is dropped (and counted as such);
	// default 10000.
	MaxPending int
	// MaxSignatures bounds the verified signatures remembered (each until
	// it expires) so that a copy of one is not credited again; default
	// 100000.
	MaxSignatures int
	// Interval is the time between flushes; default 1s.
	Interval time.Duration
	// Timeout bounds one flush; default 2s.
	Timeout time.Duration
	// Metrics receives the collectors; nil means unregistered ones.
	Metrics *Metrics
	// Logger logs failed flushes; nil discards.
	Logger *slog.Logger
}

// Recorder aggregates refusal counts in memory and flushes them to Redis.
// It is safe for concurrent use. Start its flusher with Run.
type Recorder struct {
	o       Options
	metrics *Metrics

	mu      sync.Mutex
	pending map[counter]int64
	// seen holds the verified signatures already credited, until they
	// expire.
	seenMu sync.Mutex
	seen   map[string]time.Time
	// nextSweep is when a full seen may next be swept of expired entries.
	nextSweep time.Time
	// flushing serialises flushes (Run's ticks and Close).
	flushing sync.Mutex
}

// counter is one field of one publisher-day hash.
type counter struct {
	publisher, day, field, overflow string
}

// ErrNoRedis is a Recorder without Options.Redis.
var ErrNoRedis = errors.New("refusals: a Redis client is required")

// NewRecorder returns a Recorder.
func NewRecorder(o Options) (*Recorder, error) {
	if o.Redis == nil {
		return nil, ErrNoRedis
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(o.Prefix, "{} \t\r\n") {
		return nil, errors.New("refusals: the prefix must not contain braces or spaces")
	}
	o.Retention, o.Interval, o.Timeout = positive(o.Retention, DefaultRetention), positive(o.Interval, DefaultInterval), positive(o.Timeout, DefaultTimeout)
	o.MaxFields, o.MaxPending = positive(o.MaxFields, DefaultMaxFields), positive(o.MaxPending, DefaultMaxPending)
	o.MaxSignatures = positive(o.MaxSignatures, DefaultMaxSignatures)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	m := o.Metrics
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Recorder{o: o, metrics: m, pending: map[counter]int64{}, seen: map[string]time.Time{}}, nil
}

// positive is v, or def when v is not above zero.
func positive[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Refusal is one refusal to count.
type Refusal struct {
	// Publisher is the refused site's publisher.
	Publisher string
	// Account is the operator whose key verified the request's signature,
	// "" for none (see Attribute).
	Account string
	// Signature identifies the verified signature (the paywall's first
	// replay id), valid until SignatureExpires; "" for none. Account is
	// credited once per signature: a copy sent again (which a blocked or
	// capped request's replay check never sees) counts as Unverified.
	Signature        string
	SignatureExpires time.Time
	// Code is the refusal's code; At when the request was received.
	Code deferred.Code
	At   time.Time
}

// Record counts a refusal of code sent at for publisher's site, by the
// verified account (no signature id: see Add).
func (rc *Recorder) Record(publisher, account string, code deferred.Code, at time.Time) {
	rc.Add(Refusal{Publisher: publisher, Account: account, Code: code, At: at})
}

// Add counts one refusal. A code that is not counted (ReasonOf) is
// ignored. Add does no I/O and never blocks on Redis.
func (rc *Recorder) Add(rf Refusal) {
	reason, ok := ReasonOf(rf.Code)
	if !ok || rf.Publisher == "" {
		return
	}
	code := rf.Code
	crawler := Attribute(rf.Account, code)
	if crawler != Unverified && rf.Signature != "" && !rc.firstUse(rf.Signature, rf.SignatureExpires, rf.At) {
		crawler = Unverified
	}
	c := counter{publisher: rf.Publisher, day: rf.At.UTC().Format(time.DateOnly), field: field(crawler, reason, code)}
	// A verified crawler's field that does not fit goes to Others; the
	// Unverified fields (one per code at most) always fit.
	c.overflow = c.field
	if crawler != Unverified {
		c.overflow = field(Others, reason, code)
	}
	rc.mu.Lock()
	_, held := rc.pending[c]
	if !held && len(rc.pending) >= rc.o.MaxPending {
		rc.mu.Unlock()
		rc.metrics.Dropped.WithLabelValues(dropBufferFull).Inc()
		return
	}
	rc.pending[c]++
	rc.mu.Unlock()
	rc.metrics.Recorded.Inc()
}

// firstUse reports whether signature is credited for the first time, and
// remembers it until it expires. The memory holds at most MaxSignatures;
// when it is full of unexpired signatures a new one is credited without
// being remembered (expired ones are swept at most once a second).
func (rc *Recorder) firstUse(signature string, expires, now time.Time) bool {
	rc.seenMu.Lock()
	defer rc.seenMu.Unlock()
	if until, ok := rc.seen[signature]; ok && now.Before(until) {
		return false
	}
	if len(rc.seen) >= rc.o.MaxSignatures {
		// Sweeping is O(MaxSignatures): at most once a second, so that a
		// memory full of unexpired signatures cannot make every refusal
		// pay for a sweep.
		if !now.Before(rc.nextSweep) {
			rc.nextSweep = now.Add(time.Second)
			for s, until := range rc.seen {
				if !now.Before(until) {
					delete(rc.seen, s)
				}
			}
		}
		if len(rc.seen) >= rc.o.MaxSignatures {
			return true
		}
	}
	rc.seen[signature] = expires
	return true
}

func field(crawler, reason string, code deferred.Code) string {
	return crawler + string(sep) + reason + string(sep) + string(code)
}

// Run flushes every Interval until ctx ends, then flushes once more (with
// its own Timeout) and returns.
func (rc *Recorder) Run(ctx context.Context) {
	t := time.NewTicker(rc.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = rc.Flush(context.WithoutCancel(ctx))
			return
		case <-t.C:
			_ = rc.Flush(ctx)
		}
	}
}

// Flush writes the counts held so far, in one pipeline of one script call
// per publisher-day, within Timeout. The counts of a call that fails are
// dropped (and counted in the dropped metric), never retried: a count must
// not hold memory while Redis is away.
func (rc *Recorder) Flush(ctx context.Context) error {
	rc.flushing.Lock()
	defer rc.flushing.Unlock()
	rc.mu.Lock()
	pending := rc.pending
	if len(pending) == 0 {
		rc.mu.Unlock()
		return nil
	}
	rc.pending = make(map[counter]int64, len(pending))
	rc.mu.Unlock()

	type hash struct {
		key   string
		args  []any
		count int64
	}
	byKey := map[string]*hash{}
	var order []*hash
	for c, n := range pending {
		k := key(rc.o.Prefix, c.publisher, c.day)
		h := byKey[k]
		if h == nil {
			day, _ := time.Parse(time.DateOnly, c.day)
			h = &hash{key: k, args: []any{day.AddDate(0, 0, 1).Add(rc.o.Retention).Unix(), rc.o.MaxFields}}
			byKey[k] = h
			order = append(order, h)
		}
		h.args = append(h.args, c.field, c.overflow, n)
		h.count += n
	}
	ctx, cancel := context.WithTimeout(ctx, rc.o.Timeout)
	defer cancel()
	pipe := rc.o.Redis.Pipeline()
	cmds := make([]*redis.Cmd, len(order))
	for i, h := range order {
		cmds[i] = incrScript.Eval(ctx, pipe, []string{h.key}, h.args...)
	}
	_, err := pipe.Exec(ctx)
	var dropped, overflowed int64
	for i, cmd := range cmds {
		if cmd.Err() != nil {
			dropped += order[i].count
			continue
		}
		n, _ := cmd.Int64()
		overflowed += n
	}
	if overflowed > 0 {
		rc.metrics.Overflowed.Add(float64(overflowed))
	}
	if dropped > 0 {
		rc.metrics.Dropped.WithLabelValues(dropRedis).Add(float64(dropped))
		rc.o.Logger.Warn("refusal counts dropped: redis did not take them", "counts", dropped, "err", err)
	}
	return err
}

// Close flushes what is held, within Timeout.
func (rc *Recorder) Close() error { return rc.Flush(context.Background()) }

// key is the hash of publisher's refusals of day.
func key(prefix, publisher, day string) string {
	return prefix + ":{pub:" + publisher + "}:" + day
}
