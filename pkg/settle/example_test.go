package settle_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/settle"
	"github.com/paycrawl/paycrawl/pkg/settle/stripe"
)

// A settler on the ledger and the registry, with the card rail, runs once a
// day: it closes yesterday, approves what passed review and charges it.
func ExampleSettler_RunOnce() {
	rdb, _ := ledger.NewClient(ledger.ClientConfig{Addrs: []string{"127.0.0.1:6380"}})
	l, _ := ledger.New(rdb, ledger.Options{})
	store, _ := registry.NewStore(rdb, registry.Options{AgentBase: "http://127.0.0.1:8403"})
	card, _ := stripe.New(stripe.Config{APIKey: "sk_test_123", BaseURL: "http://127.0.0.1:12111"})
	s, err := settle.New(settle.Options{
		Ledger: l,
		Payers: settle.RegistryPayers{Store: store},
		Rails:  []settle.Rail{card},
		Config: settle.DefaultConfig(),
	})
	if err != nil {
		panic(err)
	}
	rep, err := s.RunOnce(context.Background())
	switch {
	case errors.Is(err, ledger.ErrLocked):
		fmt.Println("another settler is at work")
	case err != nil:
		fmt.Println("settled with errors:", err) // the report says which invoices
	}
	if rep != nil {
		for _, d := range rep.Days {
			if d.Charge != nil {
				fmt.Println(d.Day, d.Charge.Count(ledger.StatusPaid), "paid")
			}
		}
	}
}

// Closing a day by hand, once its grace period is over.
func ExampleSettler_Close() {
	var s *settle.Settler // built with settle.New
	day := ledger.Day(time.Now().AddDate(0, 0, -1))
	rep, err := s.Close(context.Background(), day)
	if errors.Is(err, settle.ErrTooEarly) {
		return
	}
	if err == nil {
		fmt.Printf("%s: %d invoices created, %d held, totals %v\n", rep.Day, rep.Created, rep.Held, rep.Totals)
	}
}
