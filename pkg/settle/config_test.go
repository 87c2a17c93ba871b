package settle

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		errHas string
	}{
		{"defaults", func(*Config) {}, ""},
		{"no review window", func(c *Config) { c.ReviewWindow = 0 }, ""},
		{"one attempt, no schedule", func(c *Config) { c.MaxAttempts, c.RetrySchedule = 1, nil }, ""},
		{"negative grace", func(c *Config) { c.Grace = -time.Second }, "grace"},
		{"negative review window", func(c *Config) { c.ReviewWindow = -time.Second }, "review window"},
		{"no attempts", func(c *Config) { c.MaxAttempts = 0 }, "max attempts"},
		{"retries without a schedule", func(c *Config) { c.RetrySchedule = nil }, "retry schedule: required"},
		{"zero wait", func(c *Config) { c.RetrySchedule = []time.Duration{time.Hour, 0} }, "retry schedule[1]"},
		{"short lock", func(c *Config) { c.LockTTL = time.Millisecond }, "lock ttl"},
		{"no lookback", func(c *Config) { c.Lookback = 0 }, "lookback"},
		{"no workers", func(c *Config) { c.Workers = 0 }, "workers"},
		{"no actor", func(c *Config) { c.Actor = "" }, "actor"},
		{"no lock wait", func(c *Config) { c.LockWait = 0 }, ""},
		{"negative lock wait", func(c *Config) { c.LockWait = -time.Second }, "lock wait"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.change(&c)
			err := c.Validate()
			if tt.errHas == "" && err != nil || tt.errHas != "" && (err == nil || !strings.Contains(err.Error(), tt.errHas)) {
				t.Fatalf("Validate = %v, want %q", err, tt.errHas)
			}
		})
	}
	if err := (Config{}).Validate(); err == nil || strings.Count(err.Error(), "\n") < 4 {
		t.Errorf("the zero Config validates, or reports few problems: %v", err)
	}
}

func TestRetryWait(t *testing.T) {
	c := DefaultConfig()
	for n, want := range map[int64]time.Duration{1: time.Hour, 2: 6 * time.Hour, 3: 24 * time.Hour, 4: 24 * time.Hour, 10: 24 * time.Hour} {
		if got := c.retryWait(n); got != want {
			t.Errorf("retryWait(%d) = %s, want %s", n, got, want)
		}
	}
}

// TestEachStopsOnAFatalError: ordinary errors are collected while the rest
// go on; a fatal one (an injected crash) cancels what is left.
func TestEachStopsOnAFatalError(t *testing.T) {
	items := make([]int, 100)
	for i := range items {
		items[i] = i
	}
	var ran atomic.Int32
	errs := each(context.Background(), 4, items, func(_ context.Context, i int) error {
		ran.Add(1)
		if i%10 == 0 {
			return errors.New("ordinary")
		}
		return nil
	})
	if ran.Load() != 100 || len(errs) != 10 {
		t.Fatalf("ran %d, %d errors", ran.Load(), len(errs))
	}
	ran.Store(0)
	errs = each(context.Background(), 1, items, func(_ context.Context, i int) error {
		ran.Add(1)
		if i == 3 {
			return ErrInjected
		}
		return nil
	})
	if ran.Load() != 4 || len(errs) != 1 || !errors.Is(errs[0], ErrInjected) {
		t.Fatalf("ran %d, errors %v", ran.Load(), errs)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	if _, err := New(Options{Config: DefaultConfig()}); err == nil || !strings.Contains(err.Error(), "ledger") || !strings.Contains(err.Error(), "payers") {
		t.Fatalf("New without a ledger or payers: %v", err)
	}
}
