package earnings

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// Kinds of entries.
const (
	// KindEarning: a line of a paid invoice (or of a carried invoice, once
	// a paid invoice collected it).
	KindEarning = "earning"
	// KindVoid: a line of a voided invoice, kept so statements show what
	// was voided; its net is 0.
	KindVoid = "void"
	// KindRefund: the share of a refund of a paid invoice that falls on a
	// line; negative amounts.
	KindRefund = "refund"
	// KindChargeback: the share of a chargeback (a dispute's funds taken
	// back by the card network); negative amounts.
	KindChargeback = "chargeback"
	// KindReinstated: a chargeback's share given back (the dispute was
	// won); the exact opposite of its chargeback entry.
	KindReinstated = "reinstated"
)

// Entry is one line of a publisher's earnings. Amounts are micro-units of
// Currency; Net = Gross - Credit - Voided - Fee. An earning's Gross is its
// invoice line's amount, Credit the line's credit, Fee the platform's fee on
// what is left; a reversal carries the negative of its share, fee included.
type Entry struct {
	// Key names the entry and makes it idempotent: "<invoice>/<line>" for
	// an earning or a void, "<invoice>/<line>/<kind>/<invoice of the
	// reversal>/<sequence>" for a reversal.
	Key       string `json:"key"`
	Kind      string `json:"kind"`
	Publisher string `json:"publisher"`
	// Invoice and Line are the invoice line the entry comes from: the
	// line's commitments are the crawler Account's on Day at Site.
	Invoice  string `json:"invoice"`
	Line     int    `json:"line"`
	Account  string `json:"account"`
	Day      string `json:"day"`
	Site     string `json:"site"`
	Currency string `json:"currency"`
	// Requests is the line's count of charged requests (0 on reversals).
	Requests int64        `json:"requests"`
	Gross    money.Micros `json:"gross"`
	Credit   money.Micros `json:"credit"`
	Voided   money.Micros `json:"voided"`
	FeeBPS   int64        `json:"fee_bps"`
	Fee      money.Micros `json:"fee"`
	Net      money.Micros `json:"net"`
	// At is when the money was collected (the invoice became paid), voided
	// or reversed.
	At time.Time `json:"at"`
	// CollectedBy is, for a carried invoice's line, the paid invoice whose
	// charge included the carried amount.
	CollectedBy string `json:"collected_by,omitempty"`
	// Reference is a reversal's rail id (a refund's, a dispute's).
	Reference string `json:"reference,omitempty"`
}

// Ledger is what the book reads of the ledger (*ledger.Ledger).
type Ledger interface {
	Invoice(ctx context.Context, id string) (*ledger.Invoice, error)
	Invoices(ctx context.Context, day string) ([]*ledger.Invoice, error)
	CarryLog(ctx context.Context, account, currency string) ([]ledger.CarryEntry, error)
}

var _ Ledger = (*ledger.Ledger)(nil)

// Fees tells the platform fee of a publisher, in basis points.
type Fees interface {
	// FeeBPS returns publisher's fee (0 to 10000). A publisher without an
	// account gives the default fee of the implementation, not an error;
	// an error means the fee could not be learned now.
	FeeBPS(ctx context.Context, publisher string) (int64, error)
}

// FixedFee is a Fees that charges every publisher the same fee.
type FixedFee int64

// FeeBPS implements Fees.
func (f FixedFee) FeeBPS(context.Context, string) (int64, error) { return int64(f), nil }

// Options configure a Book. Redis, Ledger and Fees are required.
type Options struct {
	Redis  redis.UniversalClient
	Ledger Ledger
	Fees   Fees
	// Prefix starts every key; default "pc:earn".
	Prefix string
	// Logger; default discards.
	Logger *slog.Logger
}

// Book is the earnings ledger: every publisher's entries and balance, in
// Redis. Each publisher's keys share the hash tag {pub:<id>}, so every
// entry and payout of one publisher is one atomic script on Redis Cluster
// too:
//
//	<prefix>:{pub:<id>}:e            hash   entry key -> entry JSON
//	<prefix>:{pub:<id>}:t            zset   entry keys by time (ms)
//	<prefix>:{pub:<id>}:bal          hash   currency -> balance (net earned - paid out), micros
//	<prefix>:{idx}:pubs              set    publishers with entries
//	<prefix>:{idx}:inv               hash   invoice id -> the state it was recorded in
//	<prefix>:{idx}:won               hash   "<invoice>/<dispute>" -> when it was reported won (ms),
//	                                        so that a chargeback reported after it is matched
type Book struct {
	rdb    redis.UniversalClient
	l      Ledger
	fees   Fees
	prefix string
	log    *slog.Logger
}

// New returns a Book.
func New(o Options) (*Book, error) {
	var errs []error
	if o.Redis == nil {
		errs = append(errs, errors.New("earnings: a redis client is required"))
	}
	if o.Ledger == nil {
		errs = append(errs, errors.New("earnings: a ledger is required"))
	}
	if o.Fees == nil {
		errs = append(errs, errors.New("earnings: fees are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	b := &Book{rdb: o.Redis, l: o.Ledger, fees: o.Fees, prefix: o.Prefix, log: o.Logger}
	if b.prefix == "" {
		b.prefix = "pc:earn"
	}
	if b.log == nil {
		b.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return b, nil
}

// Redis returns the book's client.
func (b *Book) Redis() redis.UniversalClient { return b.rdb }

func (b *Book) pubKey(pub, kind string) string { return b.prefix + ":{pub:" + pub + "}:" + kind }
func (b *Book) idxKey(kind string) string      { return b.prefix + ":{idx}:" + kind }

var (
	//go:embed lua/record.lua
	recordLua    string
	recordScript = redis.NewScript(recordLua)
)

// record writes e once. It returns the entry as stored: e when it is new,
// else the entry recorded before under its key.
func (b *Book) record(ctx context.Context, e Entry) (Entry, bool, error) {
	raw, err := json.Marshal(e)
	if err != nil {
		return Entry{}, false, err
	}
	if err := b.rdb.SAdd(ctx, b.idxKey("pubs"), e.Publisher).Err(); err != nil {
		return Entry{}, false, fmt.Errorf("earnings: %w", err)
	}
	old, err := recordScript.Run(ctx, b.rdb, []string{b.pubKey(e.Publisher, "e"), b.pubKey(e.Publisher, "t"), b.pubKey(e.Publisher, "bal")},
		e.Key, string(raw), e.At.UnixMilli(), e.Currency, int64(e.Net)).Text()
	if err != nil {
		return Entry{}, false, fmt.Errorf("earnings: recording %s: %w", e.Key, err)
	}
	if old == "" {
		return e, true, nil
	}
	var prev Entry
	if err := json.Unmarshal([]byte(old), &prev); err != nil {
		return Entry{}, false, fmt.Errorf("earnings: entry %s: %w", e.Key, err)
	}
	return prev, false, nil
}

// Publishers lists the publishers with entries, sorted.
func (b *Book) Publishers(ctx context.Context) ([]string, error) {
	out, err := b.rdb.SMembers(ctx, b.idxKey("pubs")).Result()
	if err != nil {
		return nil, fmt.Errorf("earnings: %w", err)
	}
	sort.Strings(out)
	return out, nil
}

// Balance returns a publisher's balance in currency: net earned minus
// what payouts took (paid or in flight). It may be negative after a
// reversal.
func (b *Book) Balance(ctx context.Context, publisher, currency string) (money.Micros, error) {
	s, err := b.rdb.HGet(ctx, b.pubKey(publisher, "bal"), currency).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("earnings: %w", err)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return money.Micros(n), err
}

// Balances returns a publisher's balances by currency.
func (b *Book) Balances(ctx context.Context, publisher string) (map[string]money.Micros, error) {
	h, err := b.rdb.HGetAll(ctx, b.pubKey(publisher, "bal")).Result()
	if err != nil {
		return nil, fmt.Errorf("earnings: %w", err)
	}
	out := make(map[string]money.Micros, len(h))
	for cur, s := range h {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("earnings: balance %s %s: %w", publisher, cur, err)
		}
		out[cur] = money.Micros(n)
	}
	return out, nil
}

// Entries returns a publisher's entries with from <= At < to, oldest first.
func (b *Book) Entries(ctx context.Context, publisher string, from, to time.Time) ([]Entry, error) {
	keys, err := b.rdb.ZRangeByScore(ctx, b.pubKey(publisher, "t"), &redis.ZRangeBy{
		Min: strconv.FormatInt(from.UnixMilli(), 10), Max: "(" + strconv.FormatInt(to.UnixMilli(), 10)}).Result()
	if err != nil {
		return nil, fmt.Errorf("earnings: %w", err)
	}
	if len(keys) == 0 {
		return nil, nil
	}
	vals, err := b.rdb.HMGet(ctx, b.pubKey(publisher, "e"), keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("earnings: %w", err)
	}
	out := make([]Entry, 0, len(vals))
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("earnings: entry %s of %s is missing", keys[i], publisher)
		}
		var e Entry
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			return nil, fmt.Errorf("earnings: entry %s of %s: %w", keys[i], publisher, err)
		}
		out = append(out, e)
	}
	return out, nil
}
