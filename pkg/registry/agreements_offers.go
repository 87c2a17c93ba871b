package registry

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/redis/go-redis/v9"
)

// OfferQuery selects the offers Offers lists: those made to Account, or
// by Publisher, or by Publisher to Account when both are set.
type OfferQuery struct {
	// Account is an operator id; "" means any.
	Account string
	// Publisher is a publisher id; "" means any.
	Publisher string
	// State is the state of the agreements' latest versions to list:
	// offered (the zero value: pending offers), declined or withdrawn.
	// Accepted versions are AcceptedAgreements'.
	State agreement.State
	// Offset (0 to MaxListOffset) and Limit (1 to 1000; 0 means 100) page
	// the list, ordered by agreement id.
	Offset, Limit int
}

// Offers lists the latest version of each agreement of q's party whose
// state is q.State (pending offers by default), by agreement id, one page
// of them, and how many there are in all. It is the operator's and the
// publisher's own view of what awaits a decision (or was refused); it
// reads one head and one state per agreement of the party and the
// versions of its page, never every version. Errors wrap ErrInvalid or
// ErrUnavailable.
func (s *Store) Offers(ctx context.Context, q OfferQuery) ([]agreement.Agreement, int, error) {
	if q.Limit == 0 {
		q.Limit = 100
	}
	if q.Offset < 0 || q.Offset > MaxListOffset || q.Limit < 1 || q.Limit > 1000 {
		return nil, 0, fmt.Errorf("%w: offset must be in [0, %d] and limit in [1, 1000]", ErrInvalid, MaxListOffset)
	}
	if q.State == "" {
		q.State = agreement.StateOffered
	}
	switch q.State {
	case agreement.StateOffered, agreement.StateDeclined, agreement.StateWithdrawn:
	default:
		return nil, 0, fmt.Errorf("%w: state %q is not offered, declined or withdrawn", ErrInvalid, truncate(string(q.State), 32))
	}
	var set string
	switch {
	case q.Account != "" && q.Publisher != "":
		set = pairAgrsKey(q.Publisher, q.Account)
	case q.Account != "":
		set = opAgrsKey(q.Account)
	case q.Publisher != "":
		set = pubAgrsKey(q.Publisher)
	default:
		return nil, 0, fmt.Errorf("%w: offers of an account or a publisher", ErrInvalid)
	}
	latest, err := s.latestOf(ctx, set)
	if err != nil {
		return nil, 0, err
	}
	keys := make([]string, len(latest))
	for i, l := range latest {
		keys[i] = agrVersionKey(l.id, l.latest)
	}
	states, err := s.fields(ctx, keys, "state")
	if err != nil {
		return nil, 0, err
	}
	var match []agreement.Ref
	for i, l := range latest {
		if agreement.State(states[i]) == q.State {
			match = append(match, agreement.Ref{ID: l.id, Version: l.latest})
		}
	}
	total := len(match)
	if q.Offset >= total {
		return []agreement.Agreement{}, total, nil
	}
	match = match[q.Offset:min(total, q.Offset+q.Limit)]
	keys = keys[:0]
	for _, r := range match {
		keys = append(keys, agrKey(r.ID), agrVersionKey(r.ID, r.Version))
	}
	hs, err := s.hashes(ctx, keys)
	if err != nil {
		return nil, 0, err
	}
	out := make([]agreement.Agreement, 0, len(match))
	for i, r := range match {
		if len(hs[2*i]) == 0 || len(hs[2*i+1]) == 0 {
			continue
		}
		a, err := agreementFromHash(hs[2*i], r.Version, hs[2*i+1])
		if err != nil {
			return nil, 0, fmt.Errorf("registry: stored %s: %w", agrVersionKey(r.ID, r.Version), err)
		}
		out = append(out, a)
	}
	return out, total, nil
}

// latest is an agreement id and its latest version.
type latest struct {
	id     string
	latest int
}

// pairLatest returns the agreements of publisher with account and the
// latest version of each, as OfferAgreement passes them to its script to
// count the pair's pending offers.
func (s *Store) pairLatest(ctx context.Context, publisher, account string) ([]latest, error) {
	return s.latestOf(ctx, pairAgrsKey(publisher, account))
}

// latestOf returns the agreement ids in set, sorted, with their latest
// versions; ids without a head are skipped.
func (s *Store) latestOf(ctx context.Context, set string) ([]latest, error) {
	ids, err := s.rdb.SMembers(ctx, set).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	sort.Strings(ids)
	valid, heads := agreementHeads(ids)
	ns, err := s.fields(ctx, heads, "latest")
	if err != nil {
		return nil, err
	}
	out := make([]latest, 0, len(valid))
	for i, id := range valid {
		if n, err := strconv.Atoi(ns[i]); err == nil && n >= 1 {
			out = append(out, latest{id: id, latest: n})
		}
	}
	return out, nil
}

// fields reads one field of each hash at keys in one pipeline, in order; a
// missing one is "".
func (s *Store) fields(ctx context.Context, keys []string, field string) ([]string, error) {
	cmds := make([]*redis.StringCmd, len(keys))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.HGet(ctx, k, field)
		}
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(err)
	}
	out := make([]string, len(keys))
	for i, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return nil, unavailable(err)
		}
		out[i] = c.Val()
	}
	return out, nil
}
