package ledger

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// appendCases are the suite's cases of Append.
var appendCases = []suiteCase{
	{"ResendWithSameRequestID", testResendWithSameRequestID},
	{"AppendRecordsEverything", testAppendRecordsEverything},
	{"AppendRetryIsIdempotent", testAppendRetryIsIdempotent},
	{"AppendReplayRefused", testAppendReplayRefused},
	{"AppendLimits", testAppendLimits},
	{"AppendInvalidWritesNothing", testAppendInvalidWritesNothing},
	{"AppendAfterCloseRefused", testAppendAfterCloseRefused},
	{"ConcurrentAppendsRespectReplayAndCap", testConcurrentAppends},
	{"AppendAfterScriptCacheLoss", testAppendAfterScriptCacheLoss},
	{"AppendCanceled", testAppendCanceled},
}

func testAppendRecordsEverything(t *testing.T, e *env) {
	day := e.today()
	var want []*Commitment
	for i := 0; i < 7; i++ {
		c := e.commitment("acme", money.Micros(1000+i))
		if i%3 == 0 {
			c.Publisher, c.Site = "pub-2", "news.example:8443"
		}
		if i == 6 {
			c.Currency = "EUR"
		}
		id := e.mustAppend(c)
		if id == "" || c.ID != id || c.Day != day {
			t.Fatalf("Append set ID %q Day %q, returned %q", c.ID, c.Day, id)
		}
		want = append(want, c)
	}
	e.mustAppend(e.commitment("other", 5))

	// Read back in order, in batches smaller than the day.
	var got []*Commitment
	small := e.ledger(Options{ReadBatch: 3})
	if err := small.Commitments(e.ctx, "acme", day, func(c *Commitment) error {
		got = append(got, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d commitments, want %d", len(got), len(want))
	}
	for i := range want {
		w := *want[i]
		w.PublicKey = ""            // archived separately, not in the record
		w.ReplayUntil = time.Time{} // not in the record either
		w.Received = w.Received.UTC()
		if !reflect.DeepEqual(got[i], &w) {
			t.Errorf("commitment %d:\n got %+v\nwant %+v", i, got[i], &w)
		}
	}
	// The same day in pages of 3: 3, 3, 1, the cursor ending empty.
	var paged []*Commitment
	after, pages := "", 0
	for {
		page, next, err := e.l.CommitmentsPage(e.ctx, "acme", day, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		paged, after, pages = append(paged, page...), next, pages+1
		if next == "" {
			break
		}
	}
	if pages != 3 || !reflect.DeepEqual(paged, got) {
		t.Errorf("paged read: %d pages, %d commitments, want 3 pages equal to the full read", pages, len(paged))
	}
	for _, bad := range []struct {
		after string
		limit int
	}{{"", 0}, {"", MaxPage + 1}, {"x-1", 3}, {"1-", 3}, {"1-2-3", 3}} {
		if _, _, err := e.l.CommitmentsPage(e.ctx, "acme", day, bad.after, bad.limit); !errors.Is(err, ErrInvalid) {
			t.Errorf("CommitmentsPage(after %q, limit %d) = %v, want ErrInvalid", bad.after, bad.limit, err)
		}
	}
	stop := errors.New("stop")
	n := 0
	if err := small.Commitments(e.ctx, "acme", day, func(*Commitment) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("callback error: got %v after %d calls, want stop after 1", err, n)
	}

	agg, err := e.l.Aggregate(e.ctx, "acme", day)
	if err != nil {
		t.Fatal(err)
	}
	wantAgg := &Aggregate{
		Account: "acme", Day: day,
		Currencies: map[string]Total{
			"USD": {Count: 6, Amount: 1000 + 1001 + 1002 + 1003 + 1004 + 1005},
			"EUR": {Count: 1, Amount: 1006},
		},
		Sites: []SiteTotal{
			{Publisher: "pub-2", Site: "news.example:8443", Currency: "EUR", Total: Total{1, 1006}},
			{Publisher: "pub-1", Site: "example.com", Currency: "USD", Total: Total{4, 1001 + 1002 + 1004 + 1005}},
			{Publisher: "pub-2", Site: "news.example:8443", Currency: "USD", Total: Total{2, 1000 + 1003}},
		},
	}
	if !reflect.DeepEqual(agg, wantAgg) {
		t.Errorf("Aggregate:\n got %+v\nwant %+v", agg, wantAgg)
	}
	if err := e.l.Verify(e.ctx, "acme", day); err != nil {
		t.Errorf("Verify: %v", err)
	}
	spent, err := e.l.Spent(e.ctx, "acme", day, "USD")
	if err != nil || spent != wantAgg.Currencies["USD"].Amount {
		t.Errorf("Spent = %d, %v", spent, err)
	}
	if spent, err := e.l.Spent(e.ctx, "nobody", day, "USD"); err != nil || spent != 0 {
		t.Errorf("Spent of an unknown account = %d, %v", spent, err)
	}
	accounts, err := e.l.Accounts(e.ctx, day)
	if err != nil || !reflect.DeepEqual(accounts, []string{"acme", "other"}) {
		t.Errorf("Accounts = %v, %v", accounts, err)
	}
	pk, err := e.l.PublicKey(e.ctx, "acme", want[0].KeyID)
	if err != nil || pk != want[0].PublicKey {
		t.Errorf("PublicKey = %q, %v", pk, err)
	}
	// A later commitment with the same key id never overwrites the archive.
	c := e.commitment("acme", 1)
	c.PublicKey = `{"kty":"OKP","x":"other"}`
	e.mustAppend(c)
	if pk, _ := e.l.PublicKey(e.ctx, "acme", c.KeyID); pk != want[0].PublicKey {
		t.Errorf("public key overwritten: %q", pk)
	}
	if _, err := e.l.PublicKey(e.ctx, "acme", "unknown"); !errors.Is(err, ErrNotFound) {
		t.Errorf("PublicKey(unknown) error = %v, want ErrNotFound", err)
	}

	// Verify notices an aggregate that drifted from the stream.
	if err := e.rdb.HIncrBy(e.ctx, e.l.aggKey("acme", day), "m|USD|pub-1|example.com", 7).Err(); err != nil {
		t.Fatal(err)
	}
	err = e.l.Verify(e.ctx, "acme", day)
	var mm *MismatchError
	if !errors.As(err, &mm) || !errors.Is(err, ErrMismatch) {
		t.Fatalf("Verify after tampering = %v, want *MismatchError", err)
	}
	wantDiff := []Difference{{Field: "m|USD|pub-1|example.com", Aggregate: 4013 + 7, Stream: 4013}}
	if !reflect.DeepEqual(mm.Differences, wantDiff) {
		t.Errorf("differences = %+v, want %+v", mm.Differences, wantDiff)
	}
}

func testAppendRetryIsIdempotent(t *testing.T, e *env) {
	c := e.commitment("acme", 2500)
	id := e.mustAppend(c)
	retry := *c
	retry.ID, retry.Day = "", ""
	id2, err := e.l.Append(e.ctx, &retry, Limits{})
	if err != nil || id2 != id || retry.ID != id {
		t.Fatalf("retry = %q, %v; want %q, nil", id2, err, id)
	}
	// The retry changed nothing: one record, one count.
	agg, err := e.l.Aggregate(e.ctx, "acme", e.today())
	if err != nil {
		t.Fatal(err)
	}
	if got := agg.Currencies["USD"]; got != (Total{1, 2500}) {
		t.Errorf("after retry aggregate = %+v, want one commitment of 2500", got)
	}
	// Idempotent even when the retry would now be over the cap.
	if id3, err := e.l.Append(e.ctx, &retry, Limits{DailyCap: 2500}); err != nil || id3 != id {
		t.Errorf("retry at the cap = %q, %v", id3, err)
	}
}

func testAppendReplayRefused(t *testing.T, e *env) {
	first := e.commitment("acme", 100)
	e.mustAppend(first)
	tests := []struct {
		name   string
		replay []string
	}{
		{"same nonce", []string{first.ReplayIDs[0], "fresh-1"}},
		{"same signature", []string{"fresh-2", first.ReplayIDs[1]}},
		{"both", first.ReplayIDs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen, err := e.l.Seen(e.ctx, "acme", tt.replay)
			if err != nil || !seen {
				t.Errorf("Seen = %v, %v; want true", seen, err)
			}
			c := e.commitment("acme", 100)
			c.ReplayIDs = tt.replay
			_, err = e.l.Append(e.ctx, c, Limits{})
			wantErr(t, err, ErrReplay)
		})
	}
	if seen, err := e.l.Seen(e.ctx, "acme", []string{"never-1", "never-2"}); err != nil || seen {
		t.Errorf("Seen(unused) = %v, %v", seen, err)
	}
	// Replay ids are per account.
	if seen, err := e.l.Seen(e.ctx, "other", first.ReplayIDs); err != nil || seen {
		t.Errorf("Seen(other account) = %v, %v", seen, err)
	}
	if n, _ := e.rdb.XLen(e.ctx, e.l.streamKey("acme", e.today())).Result(); n != 1 {
		t.Errorf("stream has %d entries, want 1", n)
	}
	// The replay keys expire at ReplayUntil + margin.
	ttl, err := e.rdb.PTTL(e.ctx, e.l.replayKey("acme", first.ReplayIDs[0])).Result()
	if err != nil || ttl <= time.Minute || ttl > time.Minute+DefaultReplayMargin {
		t.Errorf("replay key TTL = %s, %v", ttl, err)
	}
}

func testAppendLimits(t *testing.T, e *env) {
	tests := []struct {
		name  string
		spent money.Micros
		price money.Micros
		lim   Limits
		want  error
	}{
		{"no limits", 0, 10_000, Limits{}, nil},
		{"exactly the cap", 90_000, 10_000, Limits{DailyCap: 100_000}, nil},
		{"one micro over the cap", 90_001, 10_000, Limits{DailyCap: 100_000}, ErrOverCap},
		{"exactly the max price", 0, 10_000, Limits{MaxPrice: 10_000}, nil},
		{"one micro over max price", 0, 10_001, Limits{MaxPrice: 10_000}, ErrOverMaxPrice},
		{"near 2^53 total", MaxAmount - 5, 6, Limits{}, ErrInvalid},
		{"price above 2^53", 0, MaxAmount + 1, Limits{}, ErrInvalid},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			account := fmt.Sprintf("limits-%d", i)
			if tt.spent > 0 {
				e.mustAppend(e.commitment(account, tt.spent))
			}
			_, err := e.l.Append(e.ctx, e.commitment(account, tt.price), tt.lim)
			if tt.want == nil && err != nil {
				t.Fatalf("Append: %v", err)
			}
			if tt.want != nil {
				wantErr(t, err, tt.want)
			}
			spent, err2 := e.l.Spent(e.ctx, account, e.today(), "USD")
			if err2 != nil {
				t.Fatal(err2)
			}
			want := tt.spent
			if err == nil {
				want += tt.price
			}
			if spent != want {
				t.Errorf("spent = %d, want %d", spent, want)
			}
			if tt.lim.DailyCap > 0 && spent > tt.lim.DailyCap {
				t.Errorf("spent %d above cap %d", spent, tt.lim.DailyCap)
			}
		})
	}
	// The cap is per currency.
	e.mustAppend(e.commitment("percur", 100))
	c := e.commitment("percur", 100)
	c.Currency = "EUR"
	if _, err := e.l.Append(e.ctx, c, Limits{DailyCap: 100}); err != nil {
		t.Errorf("EUR append under its own cap: %v", err)
	}
}

func testAppendInvalidWritesNothing(t *testing.T, e *env) {
	tests := []struct {
		name   string
		mutate func(c *Commitment)
		lim    Limits
	}{
		{"empty account", func(c *Commitment) { c.Account = "" }, Limits{}},
		{"hash tag in account", func(c *Commitment) { c.Account = "a}{b" }, Limits{}},
		{"brace in account", func(c *Commitment) { c.Account = "{acme" }, Limits{}},
		{"space in account", func(c *Commitment) { c.Account = "ac me" }, Limits{}},
		{"long account", func(c *Commitment) { c.Account = strings.Repeat("a", 129) }, Limits{}},
		{"no request id", func(c *Commitment) { c.RequestID = "" }, Limits{}},
		{"no replay ids", func(c *Commitment) { c.ReplayIDs = nil }, Limits{}},
		{"duplicate replay id", func(c *Commitment) { c.ReplayIDs = []string{"x", "x"} }, Limits{}},
		{"space in replay id", func(c *Commitment) { c.ReplayIDs = []string{"a b"} }, Limits{}},
		{"negative price", func(c *Commitment) { c.Price = -1 }, Limits{}},
		{"negative cap", func(*Commitment) {}, Limits{DailyCap: -1}},
		{"cap above 2^53", func(*Commitment) {}, Limits{DailyCap: MaxAmount + 1}},
		{"lower-case currency", func(c *Commitment) { c.Currency = "usd" }, Limits{}},
		{"bar in publisher", func(c *Commitment) { c.Publisher = "a|b" }, Limits{}},
		{"no site", func(c *Commitment) { c.Site = "" }, Limits{}},
		{"control char in path", func(c *Commitment) { c.Path = "/a\nb" }, Limits{}},
		{"no received time", func(c *Commitment) { c.Received = time.Time{} }, Limits{}},
		{"replay window over", func(c *Commitment) { c.ReplayUntil = c.Received.Add(-time.Hour) }, Limits{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.commitment("acme", 100)
			tt.mutate(c)
			_, err := e.l.Append(e.ctx, c, tt.lim)
			wantErr(t, err, ErrInvalid)
		})
	}
	keys, err := scanKeys(e, e.prefix+":*")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Errorf("refused appends wrote keys: %v", keys)
	}
}

func testAppendAfterCloseRefused(t *testing.T, e *env) {
	e.mustAppend(e.commitment("acme", 300))
	agg, err := e.l.CloseDay(e.ctx, "acme", e.today())
	if err != nil || !agg.Closed || agg.Currencies["USD"] != (Total{1, 300}) {
		t.Fatalf("CloseDay = %+v, %v", agg, err)
	}
	_, err = e.l.Append(e.ctx, e.commitment("acme", 300), Limits{})
	wantErr(t, err, ErrDayClosed)
	// The next day is open.
	c := e.commitment("acme", 300)
	c.Received = c.Received.Add(24 * time.Hour)
	c.ReplayUntil = c.ReplayUntil.Add(24 * time.Hour)
	e.mustAppend(c)
}

// testConcurrentAppends: 32 goroutines append with overlapping replay ids and
// a daily cap. Exactly the allowed appends land: each nonce at most once, the
// cap never exceeded by one micro-unit, and every refusal justified.
func testConcurrentAppends(t *testing.T, e *env) {
	const (
		workers   = 32
		perWorker = 40
		nonces    = workers * perWorker / 2 // each nonce is tried by two workers
		cap       = money.Micros(500_000 - 7)
	)
	lim := Limits{DailyCap: cap, MaxPrice: 1_010}
	type result struct {
		nonce string
		price money.Micros
		id    string
		err   error
	}
	results := make([][]result, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				k := w*perWorker + i
				c := e.commitment("crowd", money.Micros(990+k%21))
				if k%97 == 0 {
					c.Price = lim.MaxPrice + 1
				}
				c.ReplayIDs = []string{fmt.Sprintf("nonce-%d", k%nonces), c.ReplayIDs[1]}
				id, err := e.l.Append(e.ctx, c, lim)
				if err == nil && i%5 == 0 { // resend: same id, nothing changes
					again := *c
					if id2, err2 := e.l.Append(e.ctx, &again, lim); err2 != nil || id2 != id {
						t.Errorf("resend = %q, %v; want %q", id2, err2, id)
					}
				}
				results[w] = append(results[w], result{c.ReplayIDs[0], c.Price, id, err})
			}
		}()
	}
	wg.Wait()

	day := e.today()
	spent, err := e.l.Spent(e.ctx, "crowd", day, "USD")
	if err != nil {
		t.Fatal(err)
	}
	if spent > cap {
		t.Fatalf("spent %d above cap %d", spent, cap)
	}
	landed := map[string]string{} // nonce → id
	var sum money.Micros
	var capRefusals, replayRefusals int
	for _, rs := range results {
		for _, r := range rs {
			switch {
			case r.err == nil:
				if prev, dup := landed[r.nonce]; dup {
					t.Errorf("nonce %s landed twice: %s and %s", r.nonce, prev, r.id)
				}
				landed[r.nonce] = r.id
				sum += r.price
			case errors.Is(r.err, ErrOverCap):
				capRefusals++
				if spent+r.price <= cap {
					t.Errorf("refused %d over cap but final spent %d leaves room under %d", r.price, spent, cap)
				}
			case errors.Is(r.err, ErrReplay):
				replayRefusals++
			case errors.Is(r.err, ErrOverMaxPrice):
				if r.price <= lim.MaxPrice {
					t.Errorf("price %d refused as over max price", r.price)
				}
			default:
				t.Errorf("unexpected error: %v", r.err)
			}
		}
	}
	// A replay refusal is justified only by a landed nonce.
	for _, rs := range results {
		for _, r := range rs {
			if errors.Is(r.err, ErrReplay) && landed[r.nonce] == "" {
				t.Errorf("nonce %s refused as replay but never landed", r.nonce)
			}
		}
	}
	if sum != spent {
		t.Errorf("sum of landed prices %d, aggregate %d", sum, spent)
	}
	if capRefusals == 0 || replayRefusals == 0 {
		t.Errorf("test did not exercise both limits: %d cap, %d replay refusals", capRefusals, replayRefusals)
	}
	n, err := e.rdb.XLen(e.ctx, e.l.streamKey("crowd", day)).Result()
	if err != nil || n != int64(len(landed)) {
		t.Errorf("stream has %d entries, %d appends landed (%v)", n, len(landed), err)
	}
	if err := e.l.Verify(e.ctx, "crowd", day); err != nil {
		t.Errorf("Verify: %v", err)
	}
	t.Logf("%d landed, %d over cap, %d replays; spent %s of cap %s", len(landed), capRefusals, replayRefusals, spent, cap)
}

// testAppendAfterScriptCacheLoss: after a restart or failover Redis has no
// cached scripts; pipelined appends get NOSCRIPT and must still land, once.
func testAppendAfterScriptCacheLoss(t *testing.T, e *env) {
	flush := func() {
		t.Helper()
		var err error
		if cc, ok := e.rdb.(*redis.ClusterClient); ok {
			err = cc.ForEachMaster(e.ctx, func(ctx context.Context, c *redis.Client) error {
				return c.ScriptFlush(ctx).Err()
			})
		} else {
			err = e.rdb.ScriptFlush(e.ctx).Err()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	flush()
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 8; j++ {
				if _, err := e.l.Append(e.ctx, e.commitment("flushed", 10), Limits{}); err != nil {
					t.Error(err)
				}
			}
		}()
		if i == 8 {
			flush()
		}
	}
	wg.Wait()
	if agg, err := e.l.Aggregate(e.ctx, "flushed", e.today()); err != nil || agg.Currencies["USD"] != (Total{128, 1280}) {
		t.Errorf("aggregate = %+v, %v; want 128 appends", agg, err)
	}
}

// testAppendCanceled: a context that ends before the script is sent stops
// the append (the day's index entry is cached, so the cancellation reaches
// the pipeline queue).
func testAppendCanceled(t *testing.T, e *env) {
	e.mustAppend(e.commitment("canceled", 10))
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	if _, err := e.l.Append(ctx, e.commitment("canceled", 10), Limits{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a canceled context: %v", err)
	}
	if n, err := e.rdb.XLen(e.ctx, e.l.streamKey("canceled", e.today())).Result(); err != nil || n != 1 {
		t.Errorf("stream has %d entries (%v), want 1", n, err)
	}
}

// scanKeys lists the keys matching pattern on every node.
func scanKeys(e *env, pattern string) ([]string, error) {
	if cc, ok := e.rdb.(*redis.ClusterClient); ok {
		var mu sync.Mutex
		var keys []string
		err := cc.ForEachMaster(e.ctx, func(ctx context.Context, c *redis.Client) error {
			ks, err := c.Keys(ctx, pattern).Result()
			mu.Lock()
			keys = append(keys, ks...)
			mu.Unlock()
			return err
		})
		return keys, err
	}
	return e.rdb.Keys(e.ctx, pattern).Result()
}

// testResendWithSameRequestID: a resend carrying the first run's request id
// is the same request even when its record differs otherwise (the
// facilitator's second settle re-derives the time): it gets the first id and
// records nothing; the same signature under another request id is a replay.
func testResendWithSameRequestID(t *testing.T, e *env) {
	c := e.commitment("acme", 100)
	id, err := e.l.Append(e.ctx, c, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	resend := *c
	resend.Received = c.Received.Add(time.Second)
	if again, err := e.l.Append(e.ctx, &resend, Limits{}); err != nil || again != id {
		t.Fatalf("resend with the same request id = %q, %v; want %q", again, err, id)
	}
	other := *c
	other.RequestID = c.RequestID + "-other"
	if _, err := e.l.Append(e.ctx, &other, Limits{}); !errors.Is(err, ErrReplay) {
		t.Fatalf("same signature, another request id: %v, want ErrReplay", err)
	}
	if spent, err := e.l.Spent(e.ctx, "acme", e.today(), "USD"); err != nil || spent != 100 {
		t.Fatalf("spent = %v, %v; want 100 (one commitment)", spent, err)
	}
}
