package settle_test

import (
	"errors"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// TestCloseEarly: CloseEarly invoices a day that has not ended, and the
// ledger then refuses that day's later commitments; Close still refuses.
func TestCloseEarly(t *testing.T) {
	e := newEnv(t, rails{})
	e.use("op_a", 0, "pub", "a.example", "USD", 1000, 2000)
	s := e.settler(hooks{})
	e.clock.Set(e.base.Add(13 * time.Hour))
	if _, err := s.Close(e.ctx, e.day(0)); !errors.Is(err, settle.ErrTooEarly) {
		t.Fatalf("Close during the day: %v", err)
	}
	rep, err := s.CloseEarly(e.ctx, e.day(0))
	if err != nil || rep.Created != 1 {
		t.Fatalf("CloseEarly: %+v, %v", rep, err)
	}
	inv := e.invoice(ledger.InvoiceID("op_a", e.day(0), "USD"))
	if inv.Total != 3000 || inv.Status != ledger.StatusDraft {
		t.Fatalf("invoice %+v", inv)
	}
	at := e.base.Add(14 * time.Hour)
	_, err = e.l.Append(e.ctx, &ledger.Commitment{RequestID: "late", Received: at, Account: "op_a", KeyID: "key-1",
		Publisher: "pub", Site: "a.example", Method: "GET", Path: "/late", Price: 1000, Currency: "USD",
		ReplayIDs: []string{"late-nonce"}, ReplayUntil: at.Add(time.Hour)}, ledger.Limits{})
	if !errors.Is(err, ledger.ErrDayClosed) {
		t.Fatalf("a late commitment of the closed day: %v", err)
	}
}
