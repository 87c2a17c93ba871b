package finance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/paycrawl/paycrawl/internal/finance/wire"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/webhook"
)

// Operator event types, as pkg/webhook names them.
const (
	EventUsageCap80  = webhook.EventUsageCap80
	EventUsageCap100 = webhook.EventUsageCap100
	EventKeyExpiring = webhook.EventKeyExpiring
)

// KeyLister is what the Notifier reads of the registry to warn of keys
// about to expire (*registry.Store); Operators that implement it get
// key.expiring events.
type KeyLister interface {
	Keys(ctx context.Context, opID string) ([]registry.KeyRecord, error)
}

var _ KeyLister = (*registry.Store)(nil)

// keyWarning is how long before a rotated key stops that key.expiring is
// sent.
const keyWarning = 24 * time.Hour

// keyEvent is the data of a key.expiring event.
type keyEvent struct {
	Account    string    `json:"account"`
	KeyID      string    `json:"keyid"`
	ValidUntil time.Time `json:"valid_until"`
}

// OperatorEvents are the event types operator endpoints receive.
var OperatorEvents = webhook.OperatorEvents

// NotifyLedger is what the Notifier reads (*ledger.Ledger).
type NotifyLedger interface {
	Invoices(ctx context.Context, day string) ([]*ledger.Invoice, error)
	Accounts(ctx context.Context, day string) ([]string, error)
	Spent(ctx context.Context, account, day, currency string) (money.Micros, error)
}

var _ NotifyLedger = (*ledger.Ledger)(nil)

// Notifier turns what happened to invoices and daily spend into webhook
// events. It reads state rather than being told, so it needs no hook in
// the settler and misses nothing across restarts: each pass looks at the
// invoices of the last Days days and today's spend, and emits an event
// whose id says what happened (an invoice paid, held at a given time, a
// cap crossed on a day), which the store delivers once per id.
//
// To finance (owner WebhookOwner): invoice.drafted, invoice.held,
// invoice.paid, invoice.failed, invoice.voided, invoice.refunded (one per
// refund done). To the crawler's operator (owner: its operator id):
// invoice.paid, invoice.failed, invoice.refunded, and
// usage.cap_80 / usage.cap_100 when today's spend reaches 80 % and 100 %
// of its daily cap, and key.expiring a day before a rotated key that
// signed today stops being accepted.
type Notifier struct {
	Ledger    NotifyLedger
	Operators Operators
	Webhooks  *webhook.Store
	// Days is how many days back invoices are looked at; default 3.
	Days int
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger; default discards.
	Logger *slog.Logger

	// seen remembers the events this process already emitted, so that a
	// pass asks Redis only about new ones; the store's own deduplication
	// stays the guarantee (across processes and restarts).
	mu   sync.Mutex
	seen map[string]bool
}

// maxSeen bounds the events a Notifier remembers before it starts over.
const maxSeen = 100_000

// invoiceEvent is the data of an invoice event; Refund is set for
// invoice.refunded.
type invoiceEvent struct {
	Invoice any `json:"invoice"`
	Refund  any `json:"refund,omitempty"`
}

// capEvent is the data of a usage.cap_* event.
type capEvent struct {
	Account  string `json:"account"`
	Day      string `json:"day"`
	Currency string `json:"currency"`
	DailyCap string `json:"daily_cap"`
	Spent    string `json:"spent"`
	Percent  int64  `json:"percent"`
}

func (n *Notifier) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

// RunOnce makes one pass and returns the deliveries it queued.
func (n *Notifier) RunOnce(ctx context.Context) (int, error) {
	if n.Ledger == nil || n.Webhooks == nil {
		return 0, errors.New("finance: a notifier needs a ledger and a webhook store")
	}
	days := n.Days
	if days <= 0 {
		days = 3
	}
	today := ledger.Day(n.now())
	queued := 0
	emit := func(owner, id, typ string, data any) error {
		key := owner + "\x00" + id
		n.mu.Lock()
		done := n.seen[key]
		n.mu.Unlock()
		if done {
			return nil
		}
		b, err := json.Marshal(data)
		if err != nil {
			return err
		}
		k, err := n.Webhooks.Emit(ctx, owner, webhook.Event{ID: id, Type: typ, Created: n.now(), Data: b})
		queued += k
		if err == nil {
			n.mu.Lock()
			if n.seen == nil || len(n.seen) >= maxSeen {
				n.seen = map[string]bool{}
			}
			n.seen[key] = true
			n.mu.Unlock()
		}
		return err
	}
	for i := days - 1; i >= 0; i-- {
		invs, err := n.Ledger.Invoices(ctx, shiftDay(today, -i))
		if err != nil {
			return queued, err
		}
		for _, inv := range invs {
			if err := n.invoice(inv, emit); err != nil {
				return queued, err
			}
		}
	}
	if err := n.caps(ctx, today, emit); err != nil {
		return queued, err
	}
	return queued, nil
}

// invoice emits the events of one invoice's state.
func (n *Notifier) invoice(inv *ledger.Invoice, emit func(owner, id, typ string, data any) error) error {
	data := invoiceEvent{Invoice: toWire(inv)}
	at := strconv.FormatInt(inv.Updated.UnixMilli(), 10)
	if err := emit(WebhookOwner, "evt_"+inv.ID+"_drafted", EventInvoiceDrafted, data); err != nil {
		return err
	}
	for i, r := range inv.Refunds {
		if r.Status != ledger.RefundDone {
			continue
		}
		rd := invoiceEvent{Invoice: data.Invoice, Refund: data.Invoice.(wire.Invoice).Refunds[i]}
		id := "evt_" + inv.ID + "_refunded_" + strconv.FormatInt(r.Seq, 10)
		for _, owner := range []string{WebhookOwner, inv.Account} {
			if err := emit(owner, id, EventInvoiceRefunded, rd); err != nil {
				return err
			}
		}
	}
	var typ, id string
	switch inv.Status {
	case ledger.StatusHeld:
		typ, id = EventInvoiceHeld, "evt_"+inv.ID+"_held_"+at
	case ledger.StatusPaid:
		typ, id = EventInvoicePaid, "evt_"+inv.ID+"_paid"
	case ledger.StatusFailed:
		typ, id = EventInvoiceFailed, "evt_"+inv.ID+"_failed_"+at
	case ledger.StatusVoid:
		typ, id = EventInvoiceVoided, "evt_"+inv.ID+"_voided"
	default:
		return nil
	}
	if err := emit(WebhookOwner, id, typ, data); err != nil {
		return err
	}
	if typ == EventInvoicePaid || typ == EventInvoiceFailed {
		return emit(inv.Account, id, typ, data)
	}
	return nil
}

// caps emits usage.cap_80 and usage.cap_100 for today's spend.
func (n *Notifier) caps(ctx context.Context, today string, emit func(owner, id, typ string, data any) error) error {
	if n.Operators == nil {
		return nil
	}
	accounts, err := n.Ledger.Accounts(ctx, today)
	if err != nil {
		return err
	}
	keys, _ := n.Operators.(KeyLister)
	now := n.now()
	for _, a := range accounts {
		if keys != nil {
			ks, err := keys.Keys(ctx, a)
			if err != nil && !errors.Is(err, registry.ErrNotFound) {
				return err
			}
			for _, k := range ks {
				if k.Status == registry.KeyRotated && k.ValidUntil.After(now) && k.ValidUntil.Sub(now) <= keyWarning {
					if err := emit(a, "evt_key.expiring_"+k.ID, EventKeyExpiring, keyEvent{Account: a, KeyID: k.ID, ValidUntil: k.ValidUntil.UTC()}); err != nil {
						return err
					}
				}
			}
		}
		op, err := n.Operators.Operator(ctx, a)
		if errors.Is(err, registry.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		b := op.Billing
		if b == nil || b.DailyCap <= 0 {
			continue
		}
		spent, err := n.Ledger.Spent(ctx, a, today, b.Currency)
		if err != nil {
			return err
		}
		pct := int64(spent) * 100 / int64(b.DailyCap)
		data := capEvent{Account: a, Day: today, Currency: b.Currency, DailyCap: b.DailyCap.String(), Spent: spent.String(), Percent: pct}
		for _, step := range []struct {
			pct int64
			typ string
		}{{80, EventUsageCap80}, {100, EventUsageCap100}} {
			if pct >= step.pct {
				if err := emit(a, fmt.Sprintf("evt_%s_%s_%s", step.typ, a, today), step.typ, data); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Run makes a pass every interval until ctx ends; a failed pass is logged
// and the next one tries again.
func (n *Notifier) Run(ctx context.Context, every time.Duration) error {
	log := n.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := n.RunOnce(ctx); err != nil && ctx.Err() == nil {
			log.Warn("finance: notifier pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
