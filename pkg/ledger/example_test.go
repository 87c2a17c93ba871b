package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// The gateway appends a commitment once the origin answered 2xx.
func ExampleLedger_Append() {
	rdb, err := ledger.NewClient(ledger.ClientConfig{Addrs: []string{"127.0.0.1:6380"}})
	if err != nil {
		panic(err)
	}
	defer rdb.Close()
	l, err := ledger.New(rdb, ledger.Options{})
	if err != nil {
		panic(err)
	}
	now := time.Now()
	id, err := l.Append(context.Background(), &ledger.Commitment{
		RequestID:   "req-1",
		Received:    now,
		Account:     "op_123",
		KeyID:       "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U",
		Publisher:   "pub-1",
		Site:        "example.com",
		Price:       10_000, // 0.01 USD
		Currency:    "USD",
		ReplayIDs:   []string{"n:…", "s:…"},
		ReplayUntil: now.Add(time.Minute),
	}, ledger.Limits{DailyCap: 50 * money.Scale})
	switch {
	case errors.Is(err, ledger.ErrOverCap), errors.Is(err, ledger.ErrReplay):
		fmt.Println("refused:", err) // 4xx to the crawler
	case err != nil:
		fmt.Println("ledger down:", err) // 503, send nothing paid
	default:
		fmt.Println("commitment", id)
	}
}

// The settler closes each crawler-day, invoices it and charges it under a
// lock whose token fences out stale replicas.
func ExampleLedger_Transition() {
	rdb, _ := ledger.NewClient(ledger.ClientConfig{})
	l, _ := ledger.New(rdb, ledger.Options{})
	ctx := context.Background()
	day := ledger.Day(time.Now().AddDate(0, 0, -1))
	token, release, err := l.AcquireLock(ctx, "settle", 10*time.Minute)
	if err != nil {
		return // another settler is at work
	}
	defer release()
	accounts, _ := l.Accounts(ctx, day)
	for _, a := range accounts {
		agg, _ := l.CloseDay(ctx, a, day)
		for cur := range agg.Currencies {
			inv, _, _ := l.CreateInvoice(ctx, a, day, cur, "settler")
			_ = l.Transition(ctx, inv.ID, ledger.Transition{To: ledger.StatusApproved, Token: token, Actor: "settler"})
		}
	}
}
