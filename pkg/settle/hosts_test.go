package settle_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// claims is an in-memory settle.HostClaims (the registry's HostOwners is
// tested on real Redis in pkg/registry, and the settler's use of it in
// cmd/settler's TestInvoicesTopUp).
type claims struct {
	mu     sync.Mutex
	owners map[string]string
}

func (c *claims) set(host, publisher string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.owners[host] = publisher
}

func (c *claims) HostOwners(_ context.Context, hosts []string) (map[string]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]string{}
	for _, h := range hosts {
		out[h] = c.owners[h]
	}
	return out, nil
}

// TestFeeOfUnclaimedHostHeld: the invoice with the fee of a subscription
// whose host its publisher no longer holds is held, lines unchanged, with
// a reason naming the host; one whose host is still the publisher's is
// not; a released invoice is not held again.
func TestFeeOfUnclaimedHostHeld(t *testing.T) {
	e := newEnv(t, rails{})
	arr := newArrangements()
	e.arr = arr
	hosts := &claims{owners: map[string]string{"example.com": "pub-1"}}
	e.hosts = hosts
	moved := sub("agr_moved", 1, "moved", noon(10).Add(-12*time.Hour), time.Time{}, agreement.PeriodMonth, 31_000_000, false)
	moved.Scope = []agreement.Site{{Host: "moved.example"}, {Host: "example.com"}}
	arr.add(moved)
	arr.add(sub("agr_kept", 1, "kept", noon(10).Add(-12*time.Hour), time.Time{}, agreement.PeriodMonth, 31_000_000, false))
	hosts.set("moved.example", "pub-2") // the admin moved it after the acceptance
	s := e.settler(hooks{})
	e.closeDays(s, 10, 10)

	held := e.invoice(ledger.InvoiceID("moved", dec(10), "USD"))
	if held.Status != ledger.StatusHeld || len(held.Lines) != 1 || held.Lines[0].Amount != 22_000_000 || held.Lines[0].Kind != ledger.LineFee {
		t.Fatalf("moved: %s, lines %+v; want held with its fee line unchanged", held.Status, held.Lines)
	}
	last := held.History[len(held.History)-1]
	if !strings.Contains(last.Reason, "moved.example") || !strings.Contains(last.Reason, "agr_moved") || !strings.Contains(last.Reason, "pub-2") {
		t.Errorf("hold reason %q does not name the host, the agreement and its holder", last.Reason)
	}
	if kept := e.invoice(ledger.InvoiceID("kept", dec(10), "USD")); kept.Status != ledger.StatusDraft {
		t.Errorf("kept: %s, want draft", kept.Status)
	}
	// Finance releases it: closing again does not hold it again.
	if _, err := s.Release(e.ctx, held.ID, settle.Review{Actor: "finance-ana", Reason: "the publisher sold the site mid-month; fee agreed"}); err != nil {
		t.Fatal(err)
	}
	e.closeDays(s, 10, 10)
	if again := e.invoice(held.ID); again.Status != ledger.StatusDraft {
		t.Errorf("after a release and a close: %s, want draft", again.Status)
	}
}

// TestFeeOfUnclaimedHostHeldAfterAnotherHold: an invoice finance held and
// released for another reason before its fee's host left its publisher is
// still held for the host at the next close, once; released again, it
// stays a draft.
func TestFeeOfUnclaimedHostHeldAfterAnotherHold(t *testing.T) {
	e := newEnv(t, rails{})
	arr := newArrangements()
	e.arr = arr
	hosts := &claims{owners: map[string]string{"example.com": "pub-1", "moved.example": "pub-1"}}
	e.hosts = hosts
	moved := sub("agr_moved", 1, "moved", noon(10).Add(-12*time.Hour), time.Time{}, agreement.PeriodMonth, 31_000_000, false)
	moved.Scope = []agreement.Site{{Host: "moved.example"}, {Host: "example.com"}}
	arr.add(moved)
	s := e.settler(hooks{})
	e.closeDays(s, 10, 10)
	id := ledger.InvoiceID("moved", dec(10), "USD")
	if inv := e.invoice(id); inv.Status != ledger.StatusDraft {
		t.Fatalf("with its hosts claimed: %s, want draft", inv.Status)
	}
	if _, err := s.Hold(e.ctx, id, settle.Review{Actor: "finance-ana", Reason: "asking the operator about the fee"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Release(e.ctx, id, settle.Review{Actor: "finance-ana", Reason: "the operator agrees"}); err != nil {
		t.Fatal(err)
	}
	hosts.set("moved.example", "pub-2")
	e.closeDays(s, 10, 10)
	held := e.invoice(id)
	if held.Status != ledger.StatusHeld || !strings.Contains(held.History[len(held.History)-1].Reason, "moved.example") {
		t.Fatalf("after the host moved: %s (%q), want held for the host", held.Status, held.History[len(held.History)-1].Reason)
	}
	if _, err := s.Release(e.ctx, id, settle.Review{Actor: "finance-ana", Reason: "fee agreed with both publishers"}); err != nil {
		t.Fatal(err)
	}
	e.closeDays(s, 10, 10)
	if again := e.invoice(id); again.Status != ledger.StatusDraft {
		t.Errorf("after the second release and a close: %s, want draft", again.Status)
	}
}

// TestTopUpOfUnclaimedHost: no prepaid credit is bought for an agreement
// whose host its publisher no longer holds: the run skips it, TopUp and a
// new OrderTopUp refuse it with ErrHostUnclaimed; once the host is back,
// the run buys it.
func TestTopUpOfUnclaimedHost(t *testing.T) {
	e := newEnv(t, rails{stripe: true})
	arr := newArrangements()
	e.arr = arr
	hosts := &claims{owners: map[string]string{}}
	e.hosts = hosts
	p := sub("agr_prep", 1, "prep", month, time.Time{}, agreement.PeriodMonth, 0, false)
	p.Terms = agreement.Terms{Kind: agreement.KindPrepaid, Prepaid: &agreement.Prepaid{Amount: 5_000_000}}
	arr.add(p)
	e.stripePayer("prep", "pm_card_visa")
	s := e.settler(hooks{})
	e.clock.Set(noon(2))
	balance := func() int64 {
		b, err := e.l.PrepaidBalance(e.ctx, "prep", "agr_prep")
		if err != nil {
			t.Fatal(err)
		}
		return int64(b)
	}

	if rep := mustRun(t, s, e.ctx); len(rep.TopUps) != 0 || balance() != 0 {
		t.Fatalf("run with the host unclaimed: top-ups %+v, balance %d", rep.TopUps, balance())
	}
	if _, err := s.TopUp(e.ctx, "prep", "agr_prep", 0); !errors.Is(err, settle.ErrHostUnclaimed) || !strings.Contains(err.Error(), "example.com") {
		t.Fatalf("TopUp: %v, want ErrHostUnclaimed naming example.com", err)
	}
	order := settle.TopUpOrder{ID: "t1", Account: "prep", Agreement: "agr_prep", Review: settle.Review{Actor: "finance-ana"}}
	if _, err := s.OrderTopUp(e.ctx, order); !errors.Is(err, settle.ErrHostUnclaimed) {
		t.Fatalf("OrderTopUp: %v, want ErrHostUnclaimed", err)
	}
	if n := len(e.invoices(dec(2))); n != 0 {
		t.Fatalf("%d invoices made for an unclaimed host", n)
	}
	hosts.set("example.com", "pub-1")
	if rep := mustRun(t, s, e.ctx); len(rep.TopUps) != 1 || balance() != 5_000_000 {
		t.Fatalf("run with the host back: top-ups %+v, balance %d", rep.TopUps, balance())
	}
}
