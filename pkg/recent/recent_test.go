package recent

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
)

func TestReplayed(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	m := New(0, func() time.Time { return now })
	m.Recorded("op_a", []string{"n:1", "s:1"}, now.Add(time.Minute))
	for _, c := range []struct {
		name    string
		account string
		ids     []string
		at      time.Time
		want    bool
	}{
		{"same nonce", "op_a", []string{"n:1", "s:2"}, now, true},
		{"same signature", "op_a", []string{"s:1"}, now, true},
		{"fresh ids", "op_a", []string{"n:2", "s:2"}, now, false},
		{"another account", "op_b", []string{"n:1", "s:1"}, now, false},
		{"expired", "op_a", []string{"n:1", "s:1"}, now.Add(time.Minute), false},
		{"no ids", "op_a", nil, now, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			at := c.at
			m.now = func() time.Time { return at }
			if got := m.Replayed(c.account, c.ids); got != c.want {
				t.Fatalf("Replayed = %v, want %v", got, c.want)
			}
		})
	}
}

func TestReplayedForgetsTheOldestBeyondCapacity(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	m := New(shards*4, func() time.Time { return now })
	for i := range shards * 40 {
		m.Recorded("op_a", []string{fmt.Sprint("s:", i)}, now.Add(time.Hour))
	}
	kept := 0
	for i := range shards * 40 {
		if m.Replayed("op_a", []string{fmt.Sprint("s:", i)}) {
			kept++
		}
	}
	if kept == 0 || kept > shards*4 {
		t.Fatalf("%d ids kept, want 1..%d", kept, shards*4)
	}
	if !m.Replayed("op_a", []string{fmt.Sprint("s:", shards*40-1)}) {
		t.Fatal("the newest id was forgotten")
	}
}

func TestSpent(t *testing.T) {
	m := New(0, nil)
	m.AddSpent("op_a", "2026-12-01", "USD", 10)
	m.AddSpent("op_a", "2026-12-01", "USD", 5)
	m.SpentAtLeast("op_a", "2026-12-01", "USD", 12) // lower than known: no change
	m.SpentAtLeast("op_b", "2026-12-01", "USD", 40)
	m.AddSpent("op_a", "2026-12-01", "EUR", 7)
	for _, c := range []struct {
		account, day, currency string
		want                   money.Micros
	}{
		{"op_a", "2026-12-01", "USD", 15},
		{"op_a", "2026-12-01", "EUR", 7},
		{"op_b", "2026-12-01", "USD", 40},
		{"op_c", "2026-12-01", "USD", 0},
		{"op_a", "2026-11-30", "USD", 0},
	} {
		if got := m.Spent(c.account, c.day, c.currency); got != c.want {
			t.Errorf("Spent(%s, %s, %s) = %d, want %d", c.account, c.day, c.currency, got, c.want)
		}
	}
	// A new day starts from nothing; a late append of the day before is
	// not counted in it.
	m.AddSpent("op_a", "2026-12-02", "USD", 3)
	m.AddSpent("op_a", "2026-12-01", "USD", 100)
	if got := m.Spent("op_a", "2026-12-02", "USD"); got != 3 {
		t.Fatalf("new day: %d, want 3", got)
	}
	if got := m.Spent("op_a", "2026-12-01", "USD"); got != 0 {
		t.Fatalf("the day before, once forgotten: %d, want 0", got)
	}
}

func TestConcurrentUse(t *testing.T) {
	m := New(1024, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				id := fmt.Sprint("s:", g, ":", i)
				m.Recorded("op", []string{id}, time.Now().Add(time.Minute))
				m.Replayed("op", []string{id})
				m.AddSpent("op", "2026-12-01", "USD", 1)
			}
		}()
	}
	wg.Wait()
	if got := m.Spent("op", "2026-12-01", "USD"); got != 8*500 {
		t.Fatalf("spent %d, want %d", got, 8*500)
	}
}
