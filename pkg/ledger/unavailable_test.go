package ledger

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/internal/testredis"
)

// TestMain silences go-redis's own logger: the crash and outage tests make it
// print every failed dial.
func TestMain(m *testing.M) {
	redis.SetLogger(quietLogger{})
	os.Exit(m.Run())
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...interface{}) {}

// TestRedisDown: with Redis dead (killed, a cluster seed that is gone) or hung
// (accepts connections, never answers), every operation fails quickly with
// ErrUnavailable and nothing panics.
func TestRedisDown(t *testing.T) {
	killed := testredis.Start(t, testredis.Options{})
	killed.Kill()
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hung.Close() })
	go func() {
		var conns []net.Conn // held open, never answered
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()

	backends := []struct {
		name string
		cfg  ClientConfig
	}{
		{"killed server", ClientConfig{Addrs: []string{killed.Addr()}}},
		{"killed cluster seed", ClientConfig{Addrs: []string{killed.Addr()}, Cluster: true}},
		{"hung server", ClientConfig{Addrs: []string{hung.Addr().String()}}},
	}
	day := Day(time.Now())
	inv := InvoiceID("acme", day, "USD")
	ops := []struct {
		name string
		run  func(ctx context.Context, l *Ledger) error
	}{
		{"Ping", func(ctx context.Context, l *Ledger) error { return l.Ping(ctx) }},
		{"Append", func(ctx context.Context, l *Ledger) error {
			_, err := l.Append(ctx, sampleCommitment("acme", 1, 100, time.Now()), Limits{})
			return err
		}},
		{"Seen", func(ctx context.Context, l *Ledger) error {
			_, err := l.Seen(ctx, "acme", []string{"nonce-1"})
			return err
		}},
		{"Spent", func(ctx context.Context, l *Ledger) error {
			_, err := l.Spent(ctx, "acme", day, "USD")
			return err
		}},
		{"Commitments", func(ctx context.Context, l *Ledger) error {
			return l.Commitments(ctx, "acme", day, func(*Commitment) error { return nil })
		}},
		{"CreateInvoice", func(ctx context.Context, l *Ledger) error {
			_, _, err := l.CreateInvoice(ctx, "acme", day, "USD", "settler")
			return err
		}},
		{"Transition", func(ctx context.Context, l *Ledger) error {
			return l.Transition(ctx, inv, Transition{To: StatusApproved, Token: 1, Actor: "settler"})
		}},
		{"AcquireLock", func(ctx context.Context, l *Ledger) error {
			_, _, err := l.AcquireLock(ctx, "settle", time.Minute)
			return err
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			rdb, err := NewClient(b.cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = rdb.Close() })
			l, err := New(rdb, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, op := range ops {
				t.Run(op.name, func(t *testing.T) {
					t.Parallel()
					start := time.Now()
					err := op.run(context.Background(), l)
					if elapsed := time.Since(start); elapsed > 3*time.Second {
						t.Errorf("took %s, want < 3s", elapsed)
					}
					if !errors.Is(err, ErrUnavailable) {
						t.Errorf("error = %v, want ErrUnavailable", err)
					}
					t.Log(err)
				})
			}
		})
	}
}
