package ledger

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// Total is a count of commitments and their amount.
type Total struct {
	Count  int64
	Amount money.Micros
}

// SiteTotal is the usage of one crawler-day on one publisher's site, in one
// currency.
type SiteTotal struct {
	Publisher, Site, Currency string
	Total
}

// Aggregate is a crawler-day's usage as the append script summed it.
type Aggregate struct {
	Account, Day string
	// Closed reports that the day was closed for invoicing (CloseDay or
	// CreateInvoice): no commitment can be appended to it any more.
	Closed bool
	// Currencies holds the day's totals by currency.
	Currencies map[string]Total
	// Sites holds the totals by publisher, site and currency, sorted by
	// currency, publisher, site.
	Sites []SiteTotal
	// InvoicedOn maps a currency to the day of the invoice that covers
	// this day's usage in it when that is not the day's own invoice (a
	// weekly or monthly invoice, dated its period's last day; see
	// CreateLinesInvoice). A day's own invoice is not listed.
	InvoicedOn map[string]string
}

// Accounts lists, sorted, the crawler accounts with usage on day (from the
// day's index; an account listed there may have no usage if its append was
// refused).
func (l *Ledger) Accounts(ctx context.Context, day string) ([]string, error) {
	if err := validateDay(day); err != nil {
		return nil, err
	}
	out, err := l.rdb.SMembers(ctx, l.dayAccountsKey(day)).Result()
	if err != nil {
		return nil, fmt.Errorf("ledger: accounts of %s: %w", day, wrap(err))
	}
	sort.Strings(out)
	return out, nil
}

// Aggregate reads a crawler-day's aggregate. A day without usage gives an
// empty aggregate, not an error.
func (l *Ledger) Aggregate(ctx context.Context, account, day string) (*Aggregate, error) {
	if err := validateAccountDay(account, day); err != nil {
		return nil, err
	}
	h, err := l.rdb.HGetAll(ctx, l.aggKey(account, day)).Result()
	if err != nil {
		return nil, fmt.Errorf("ledger: aggregate %s %s: %w", account, day, wrap(err))
	}
	return parseAggregate(account, day, h)
}

// CloseDay closes a crawler-day to new commitments (Append then returns
// ErrDayClosed) and returns its final aggregate, atomically. The settler calls
// it before creating the day's invoices, so that no commitment can land after
// the invoice was computed. Closing is idempotent.
func (l *Ledger) CloseDay(ctx context.Context, account, day string) (*Aggregate, error) {
	if err := validateAccountDay(account, day); err != nil {
		return nil, err
	}
	v, err := l.runDurable(ctx, closeDayScript, []string{l.aggKey(account, day)}, l.now().UnixMilli()).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("ledger: close %s %s: %w", account, day, wrap(err))
	}
	h := make(map[string]string, len(v)/2)
	for i := 0; i+1 < len(v); i += 2 {
		h[v[i]] = v[i+1]
	}
	return parseAggregate(account, day, h)
}

// parseAggregate reads the aggregate hash's fields: n|<cur>, m|<cur>,
// n|<cur>|<publisher>|<site>, m|<cur>|<publisher>|<site>, closed, inv|<cur>.
func parseAggregate(account, day string, h map[string]string) (*Aggregate, error) {
	a := &Aggregate{Account: account, Day: day, Currencies: map[string]Total{}}
	curs := map[string]*Total{}
	sites := map[[3]string]*SiteTotal{}
	for f, v := range h {
		if f == "closed" {
			a.Closed = true
			continue
		}
		if cur, ok := strings.CutPrefix(f, "inv|"); ok {
			if v != day {
				if a.InvoicedOn == nil {
					a.InvoicedOn = map[string]string{}
				}
				a.InvoicedOn[cur] = v
			}
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("ledger: aggregate %s %s field %q: %w", account, day, f, err)
		}
		parts := strings.Split(f, "|")
		if len(parts) != 2 && len(parts) != 4 {
			return nil, fmt.Errorf("ledger: aggregate %s %s: unknown field %q", account, day, f)
		}
		var t *Total
		if len(parts) == 2 {
			t = curs[parts[1]]
			if t == nil {
				t = &Total{}
				curs[parts[1]] = t
			}
		} else {
			k := [3]string{parts[1], parts[2], parts[3]}
			st := sites[k]
			if st == nil {
				st = &SiteTotal{Currency: parts[1], Publisher: parts[2], Site: parts[3]}
				sites[k] = st
			}
			t = &st.Total
		}
		switch parts[0] {
		case "n":
			t.Count = n
		case "m":
			t.Amount = money.Micros(n)
		default:
			return nil, fmt.Errorf("ledger: aggregate %s %s: unknown field %q", account, day, f)
		}
	}
	for cur, t := range curs {
		a.Currencies[cur] = *t
	}
	for _, st := range sites {
		a.Sites = append(a.Sites, *st)
	}
	sort.Slice(a.Sites, func(i, j int) bool {
		x, y := a.Sites[i], a.Sites[j]
		if x.Currency != y.Currency {
			return x.Currency < y.Currency
		}
		if x.Publisher != y.Publisher {
			return x.Publisher < y.Publisher
		}
		return x.Site < y.Site
	})
	return a, nil
}

// Commitments calls fn for each commitment of a crawler-day, in append order.
// It reads the stream in batches of Options.ReadBatch entries, so memory stays
// bounded whatever the day's size. An error from fn stops the iteration and is
// returned.
func (l *Ledger) Commitments(ctx context.Context, account, day string, fn func(*Commitment) error) error {
	if err := validateAccountDay(account, day); err != nil {
		return err
	}
	key := l.streamKey(account, day)
	profiles := l.dict(ctx, account, day)
	start := "-"
	for {
		msgs, err := l.rdb.XRangeN(ctx, key, start, "+", l.readBatch).Result()
		if err != nil {
			return fmt.Errorf("ledger: commitments %s %s: %w", account, day, wrap(err))
		}
		for _, m := range msgs {
			c, err := decodeCommitment(account, day, m, profiles)
			if err != nil {
				return err
			}
			if err := fn(c); err != nil {
				return err
			}
		}
		if int64(len(msgs)) < l.readBatch {
			return nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

// dayDict reads (and keeps) the dictionary entries of a crawler-day's
// compact records from its hash, one HGET per entry first named.
type dayDict struct {
	ctx     context.Context
	rdb     redis.UniversalClient
	key     string
	byID    map[string]*profile
	entries map[uint64]any
}

// dict returns the dictionary of a crawler-day's records.
func (l *Ledger) dict(ctx context.Context, account, day string) *dayDict {
	return &dayDict{ctx: ctx, rdb: l.rdb, key: l.profileKey(account, day), byID: map[string]*profile{}, entries: map[uint64]any{}}
}

func (d *dayDict) get(field string) ([]byte, error) {
	b, err := d.rdb.HGet(d.ctx, d.key, field).Bytes()
	if err == redis.Nil {
		return nil, fmt.Errorf("%w: its dictionary entry %q is missing", ErrCorrupt, field)
	}
	if err != nil {
		return nil, fmt.Errorf("dictionary: %w", wrap(err))
	}
	return b, nil
}

func (d *dayDict) profileByID(id string) (*profile, error) {
	if p, ok := d.byID[id]; ok {
		return p, nil
	}
	b, err := d.get(id)
	if err != nil {
		return nil, err
	}
	p, err := decodeProfile(b)
	if err != nil {
		return nil, fmt.Errorf("%w: profile %x: %w", ErrCorrupt, id, err)
	}
	d.byID[id] = p
	return p, nil
}

func (d *dayDict) entry(n uint64) (any, error) {
	if e, ok := d.entries[n]; ok {
		return e, nil
	}
	b, err := d.get(strconv.FormatUint(n, 10))
	if err != nil {
		return nil, err
	}
	e, err := decodeEntry(b)
	if err != nil {
		return nil, fmt.Errorf("%w: dictionary entry %d: %w", ErrCorrupt, n, err)
	}
	d.entries[n] = e
	return e, nil
}

// MaxPage bounds the page size of CommitmentsPage.
const MaxPage = 1000

// CommitmentsPage returns, in append order, at most limit (1 to MaxPage)
// commitments of a crawler-day that follow the commitment id after ("" for
// the first page), and the id to pass as after for the next page: "" once
// the day holds no more. It serves paged APIs; Commitments reads a whole day.
func (l *Ledger) CommitmentsPage(ctx context.Context, account, day, after string, limit int) ([]*Commitment, string, error) {
	if err := validateAccountDay(account, day); err != nil {
		return nil, "", err
	}
	if limit < 1 || limit > MaxPage {
		return nil, "", fmt.Errorf("%w: page size %d not in [1, %d]", ErrInvalid, limit, MaxPage)
	}
	start := "-"
	if after != "" {
		if !streamID(after) {
			return nil, "", fmt.Errorf("%w: %q is not a commitment id", ErrInvalid, clip(after))
		}
		start = "(" + after
	}
	// One more than asked tells whether another page follows.
	msgs, err := l.rdb.XRangeN(ctx, l.streamKey(account, day), start, "+", int64(limit)+1).Result()
	if err != nil {
		return nil, "", fmt.Errorf("ledger: commitments %s %s: %w", account, day, wrap(err))
	}
	next := ""
	if len(msgs) > limit {
		msgs = msgs[:limit]
		next = msgs[limit-1].ID
	}
	out := make([]*Commitment, 0, len(msgs))
	profiles := l.dict(ctx, account, day)
	for _, m := range msgs {
		c, err := decodeCommitment(account, day, m, profiles)
		if err != nil {
			return nil, "", err
		}
		out = append(out, c)
	}
	return out, next, nil
}

// streamID reports whether s has the form of a Redis stream entry id,
// "<ms>-<seq>" in decimal.
func streamID(s string) bool {
	ms, seq, ok := strings.Cut(s, "-")
	if !ok || len(ms) == 0 || len(ms) > 20 || len(seq) == 0 || len(seq) > 20 {
		return false
	}
	for _, part := range []string{ms, seq} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return false
			}
		}
	}
	return true
}

// Difference is one aggregate value that differs from the stream's sum. Field
// names the aggregate field: n|<cur>, m|<cur>, n|<cur>|<publisher>|<site>, m|….
type Difference struct {
	Field             string
	Aggregate, Stream int64
}

// MismatchError reports a crawler-day whose aggregate differs from its stream.
// It matches ErrMismatch with errors.Is.
type MismatchError struct {
	Account, Day string
	Differences  []Difference
}

// Error lists the differences.
func (e *MismatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ledger: aggregate of %s %s does not match its stream:", e.Account, e.Day)
	for _, d := range e.Differences {
		fmt.Fprintf(&b, " %s aggregate=%d stream=%d;", d.Field, d.Aggregate, d.Stream)
	}
	return strings.TrimSuffix(b.String(), ";")
}

// Unwrap makes errors.Is(err, ErrMismatch) true.
func (e *MismatchError) Unwrap() error { return ErrMismatch }

// Verify recomputes a crawler-day's aggregate from its stream and compares it
// with the stored one. It returns nil if they are equal, a *MismatchError
// listing every difference otherwise. Verify is meant for a closed day (it
// reads the stream and the aggregate at different moments).
func (l *Ledger) Verify(ctx context.Context, account, day string) error {
	if err := validateAccountDay(account, day); err != nil {
		return err
	}
	stream := map[string]int64{}
	err := l.Commitments(ctx, account, day, func(c *Commitment) error {
		site := c.Currency + "|" + c.Publisher + "|" + c.Site
		stream["n|"+c.Currency]++
		stream["m|"+c.Currency] += int64(c.Price)
		stream["n|"+site]++
		stream["m|"+site] += int64(c.Price)
		return nil
	})
	if err != nil {
		return err
	}
	h, err := l.rdb.HGetAll(ctx, l.aggKey(account, day)).Result()
	if err != nil {
		return fmt.Errorf("ledger: verify %s %s: %w", account, day, wrap(err))
	}
	agg := make(map[string]int64, len(h))
	for f, v := range h {
		if f == "closed" || strings.HasPrefix(f, "inv|") {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("ledger: aggregate %s %s field %q: %w", account, day, f, err)
		}
		agg[f] = n
	}
	var diffs []Difference
	for f, n := range agg {
		if stream[f] != n {
			diffs = append(diffs, Difference{Field: f, Aggregate: n, Stream: stream[f]})
		}
	}
	for f, n := range stream {
		if _, ok := agg[f]; !ok {
			diffs = append(diffs, Difference{Field: f, Stream: n})
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	sort.Slice(diffs, func(i, j int) bool { return diffs[i].Field < diffs[j].Field })
	return &MismatchError{Account: account, Day: day, Differences: diffs}
}

func validateAccountDay(account, day string) error {
	if err := ValidateAccount(account); err != nil {
		return err
	}
	return validateDay(day)
}

// scanCount is the COUNT hint of the SCANs that repair a day's index.
const scanCount = 1000

// ScanAccounts lists, sorted, the crawler accounts with usage on day like
// Accounts, but does not trust the day's index alone: it also SCANs every
// master for the day's aggregate keys, and adds each account it finds
// missing to the index. The index lives in another hash slot than the
// accounts' data, so a failover can lose an index entry whose usage
// survived on the account's own node (replication is asynchronous per
// node, and the index SADD is not waited for). The settler closes a day
// with ScanAccounts, so such a crawler is still invoiced.
//
// The cost is a full SCAN of every master (the keyspace, not just the
// day's keys), once per close: seconds for tens of millions of keys.
func (l *Ledger) ScanAccounts(ctx context.Context, day string) ([]string, error) {
	indexed, err := l.Accounts(ctx, day)
	if err != nil {
		return nil, err
	}
	found := map[string]bool{}
	var mu sync.Mutex
	pattern := l.prefix + ":{*}:a:" + day
	scan := func(ctx context.Context, c redis.Cmdable) error {
		it := c.Scan(ctx, 0, pattern, scanCount).Iterator()
		for it.Next(ctx) {
			k := it.Val()
			open, close := len(l.prefix)+2, strings.LastIndex(k, "}:a:")
			if close <= open || k[:open] != l.prefix+":{" {
				continue
			}
			mu.Lock()
			found[k[open:close]] = true
			mu.Unlock()
		}
		return it.Err()
	}
	if cc, ok := l.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, l.rdb)
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: scan accounts of %s: %w", day, wrap(err))
	}
	for _, a := range indexed {
		delete(found, a)
	}
	if len(found) == 0 {
		return indexed, nil
	}
	missing := make([]string, 0, len(found))
	for a := range found {
		if ValidateAccount(a) == nil {
			missing = append(missing, a)
		}
	}
	sort.Strings(missing)
	for _, a := range missing {
		l.log.Warn("ledger: account with usage was missing from the day's index (lost in a failover?); added back",
			"day", day, "account", a)
		if err := l.index(ctx, l.dayAccountsKey(day), a); err != nil {
			return nil, err
		}
	}
	out := append(indexed, missing...)
	sort.Strings(out)
	return out, nil
}
