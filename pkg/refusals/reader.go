package refusals

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// MaxDays bounds the days one read spans.
const MaxDays = 366

// Reader reads the counts a Recorder wrote. It is safe for concurrent use.
type Reader struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewReader returns a Reader of the counts under prefix ("" means
// DefaultPrefix) on rdb.
func NewReader(rdb redis.UniversalClient, prefix string) (*Reader, error) {
	if rdb == nil {
		return nil, ErrNoRedis
	}
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Reader{rdb: rdb, prefix: prefix}, nil
}

// Row is one count: a crawler's refusals of one reason and code on one day.
type Row struct {
	// Day is the UTC day, YYYY-MM-DD.
	Day string `json:"day"`
	// Crawler is the operator account, Unverified or Others.
	Crawler string `json:"crawler"`
	// Reason is one of the Reason constants.
	Reason string `json:"reason"`
	// Code is the refusal's machine-readable code (pkg/deferred).
	Code  string `json:"code"`
	Count int64  `json:"count"`
}

// ErrRange is a read of a range that is empty or spans more than MaxDays.
var ErrRange = errors.New("refusals: a range spans 1 to 366 days")

// Rows returns publisher's counts of the UTC days that start in [from,
// to), by day, crawler, reason and code.
func (rd *Reader) Rows(ctx context.Context, publisher string, from, to time.Time) ([]Row, error) {
	days, err := daysOf(from, to)
	if err != nil {
		return nil, err
	}
	pipe := rd.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(days))
	for i, d := range days {
		cmds[i] = pipe.HGetAll(ctx, key(rd.prefix, publisher, d))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("refusals: reading: %w", err)
	}
	var rows []Row
	for i, cmd := range cmds {
		for f, v := range cmd.Val() {
			crawler, reason, code, ok := parseField(f)
			n, err := strconv.ParseInt(v, 10, 64)
			if !ok || err != nil {
				continue
			}
			rows = append(rows, Row{Day: days[i], Crawler: crawler, Reason: reason, Code: code, Count: n})
		}
	}
	slices.SortFunc(rows, func(a, b Row) int {
		return cmp.Or(strings.Compare(a.Day, b.Day), strings.Compare(a.Crawler, b.Crawler),
			strings.Compare(a.Reason, b.Reason), strings.Compare(a.Code, b.Code))
	})
	return rows, nil
}

// Refusals returns publisher's counts over the UTC days that start in
// [from, to), by crawler (an operator account, Unverified or Others) and
// reason. It implements the publisher page's Refusals.
func (rd *Reader) Refusals(ctx context.Context, publisher string, from, to time.Time) (map[string]map[string]int64, error) {
	rows, err := rd.Rows(ctx, publisher, from, to)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]int64{}
	for _, r := range rows {
		m := out[r.Crawler]
		if m == nil {
			m = map[string]int64{}
			out[r.Crawler] = m
		}
		m[r.Reason] += r.Count
	}
	return out, nil
}

// parseField splits a field crawler|reason|code. The reason is read as
// written, so a count keeps its reason if the table of ReasonOf changes.
func parseField(f string) (crawler, reason, code string, ok bool) {
	crawler, rest, ok1 := strings.Cut(f, string(sep))
	reason, code, ok2 := strings.Cut(rest, string(sep))
	if !ok1 || !ok2 || crawler == "" || reason == "" {
		return "", "", "", false
	}
	return crawler, reason, code, true
}

// daysOf lists the UTC days that start in [from, to).
func daysOf(from, to time.Time) ([]string, error) {
	d := from.UTC().Truncate(24 * time.Hour)
	if d.Before(from) {
		d = d.AddDate(0, 0, 1)
	}
	var days []string
	for ; d.Before(to); d = d.AddDate(0, 0, 1) {
		if len(days) == MaxDays {
			return nil, ErrRange
		}
		days = append(days, d.Format(time.DateOnly))
	}
	if len(days) == 0 {
		return nil, ErrRange
	}
	return days, nil
}
