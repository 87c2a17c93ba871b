// Package recent remembers, in one gateway process, what the ledger has
// already told it: the replay ids of the signatures it recorded and a lower
// bound of each crawler's spend today. The gateway asks it before the origin
// instead of asking the ledger, so that a charged request costs one ledger
// round trip (the append) and not two, while a replay or an over-cap request
// still rarely reaches the origin.
//
// It decides nothing on its own: every answer is one the ledger gave (a
// signature it recorded is a replay until it expires; a day's spend only
// grows), so a refusal it suggests is one the ledger's atomic append would
// make too. What it does not know (another replica's appends, a restart)
// it does not refuse, and the append refuses it then, before a byte of the
// page is sent.
package recent

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// DefaultCapacity is the number of replay ids a Memo keeps when New is
// given 0: at 5,000 charged requests a second with two ids each, the last
// 6.5 seconds, about 10 MB.
const DefaultCapacity = 1 << 16

const shards = 16

// Memo is the memory of one process. The zero value is not usable; call
// New. It is safe for concurrent use.
type Memo struct {
	seed   maphash.Seed
	now    func() time.Time
	shards [shards]shard

	mu    sync.Mutex
	day   string
	spent map[spendKey]money.Micros
}

type shard struct {
	mu   sync.Mutex
	ids  map[string]replay
	ring []string // the ids in insertion order, oldest at next
	next int
}

type replay struct {
	account string
	until   time.Time
}

type spendKey struct{ account, currency string }

// New returns a Memo that keeps up to capacity replay ids (0 means
// DefaultCapacity), the oldest forgotten first; now is its clock (nil means
// time.Now).
func New(capacity int, now func() time.Time) *Memo {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	if now == nil {
		now = time.Now
	}
	m := &Memo{seed: maphash.MakeSeed(), now: now, spent: map[spendKey]money.Micros{}}
	per := max(capacity/shards, 1)
	for i := range m.shards {
		m.shards[i] = shard{ids: make(map[string]replay, per), ring: make([]string, 0, per)}
	}
	return m
}

func (m *Memo) shard(id string) *shard {
	return &m.shards[maphash.String(m.seed, id)%shards]
}

// Replayed reports whether one of ids is one the ledger recorded for
// account and whose signature is still within its validity.
func (m *Memo) Replayed(account string, ids []string) bool {
	now := m.now()
	for _, id := range ids {
		s := m.shard(id)
		s.mu.Lock()
		r, ok := s.ids[id]
		s.mu.Unlock()
		if ok && r.account == account && now.Before(r.until) {
			return true
		}
	}
	return false
}

// Recorded notes what the ledger recorded (or refused as a replay): the
// replay ids of account's signature, which stay replays until until.
func (m *Memo) Recorded(account string, ids []string, until time.Time) {
	for _, id := range ids {
		s := m.shard(id)
		s.mu.Lock()
		if _, ok := s.ids[id]; !ok {
			if len(s.ring) < cap(s.ring) {
				s.ring = append(s.ring, id)
			} else {
				delete(s.ids, s.ring[s.next])
				s.ring[s.next] = id
				s.next = (s.next + 1) % len(s.ring)
			}
		}
		s.ids[id] = replay{account: account, until: until}
		s.mu.Unlock()
	}
}

// Spent is a lower bound of what account has spent on day in currency:
// what this process saw the ledger record or refuse that day.
func (m *Memo) Spent(account, day, currency string) money.Micros {
	m.mu.Lock()
	defer m.mu.Unlock()
	if day != m.day {
		return 0
	}
	return m.spent[spendKey{account, currency}]
}

// AddSpent adds price to account's spend on day, for a commitment the
// ledger recorded.
func (m *Memo) AddSpent(account, day, currency string, price money.Micros) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.today(day) {
		m.spent[spendKey{account, currency}] += price
	}
}

// SpentAtLeast raises account's spend on day to at least spent, for what a
// refusal of the ledger proves.
func (m *Memo) SpentAtLeast(account, day, currency string, spent money.Micros) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k := (spendKey{account, currency}); m.today(day) {
		m.spent[k] = max(m.spent[k], spent)
	}
}

// today starts a new day's spend when day (YYYY-MM-DD) is a later one, and
// reports whether day is the one kept (an earlier day is forgotten); the
// caller holds m.mu.
func (m *Memo) today(day string) bool {
	if day > m.day {
		m.day = day
		clear(m.spent)
	}
	return day == m.day
}
