package ledger

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// trimCases are the suite's cases of Trim.
var trimCases = []suiteCase{
	{"TrimOnlySettledDays", testTrimOnlySettledDays},
	{"TrimWaitsForThePeriodInvoice", testTrimWaitsForThePeriodInvoice},
}

// testTrimWaitsForThePeriodInvoice: a day that a weekly invoice (dated a
// later day) covers has no invoice of its own; Trim and TrimArchived wait
// for the weekly invoice to be final, then delete its stream.
func testTrimWaitsForThePeriodInvoice(t *testing.T, e *env) {
	day0 := e.today()
	e.mustAppend(e.commitment("weekly", 100))
	e.mustAppend(e.commitment("weekly", 200))
	e.clock.Advance(24 * time.Hour)
	day1 := e.today()
	e.mustAppend(e.commitment("weekly", 50))
	inv, _, err := e.l.CreateLinesInvoice(e.ctx, LinesInvoice{Account: "weekly", Day: day1, From: day0, Currency: "USD",
		Covered: []string{day0, day1}, Actor: "settler",
		Lines: []Line{{Publisher: "pub-1", Site: "example.com", Count: 3, Amount: 350, Kind: LineList}}})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(DefaultRetentionDays * 24 * time.Hour)
	rep, err := e.l.Trim(e.ctx, day0)
	if err != nil {
		t.Fatal(err)
	}
	if want := "invoice " + inv.ID + " is draft"; len(rep.Trimmed) != 0 || rep.Kept["weekly"] != want {
		t.Fatalf("Trim of the draft period = %+v, want kept: %s", rep, want)
	}
	if why, err := e.l.TrimArchived(e.ctx, "weekly", day0, 2); err != nil || why != "invoice "+inv.ID+" is draft" {
		t.Fatalf("TrimArchived of the draft period = %q, %v", why, err)
	}
	e.move(inv.ID, Transition{To: StatusApproved})
	e.move(inv.ID, Transition{To: StatusCharging})
	e.move(inv.ID, Transition{To: StatusPaid, Set: Settlement{Charged: 350}})
	if rep, err = e.l.Trim(e.ctx, day0); err != nil || !reflect.DeepEqual(rep.Trimmed, []string{"weekly"}) || len(rep.Kept) != 0 {
		t.Fatalf("Trim of the paid period = %+v, %v", rep, err)
	}
	if why, err := e.l.TrimArchived(e.ctx, "weekly", day1, 1); err != nil || why != "" {
		t.Fatalf("TrimArchived of the paid period's last day = %q, %v", why, err)
	}
	for _, d := range []string{day0, day1} {
		if n, err := e.rdb.XLen(e.ctx, e.l.streamKey("weekly", d)).Result(); err != nil || n != 0 {
			t.Fatalf("stream of %s holds %d after the trim, %v", d, n, err)
		}
	}
	if agg, err := e.l.Aggregate(e.ctx, "weekly", day0); err != nil || agg.Currencies["USD"].Amount != 300 || agg.InvoicedOn["USD"] != day1 {
		t.Fatalf("aggregate after the trim = %+v, %v", agg, err)
	}
}

func testTrimOnlySettledDays(t *testing.T, e *env) {
	day := e.today()
	unpaid := e.invoice("unpaid", 600_000)
	voided := e.invoice("voided", 700_000)
	e.move(voided.ID, Transition{To: StatusVoid})
	e.mustAppend(e.commitment("uninvoiced", 800_000))

	if _, err := e.l.Trim(e.ctx, day); !errors.Is(err, ErrRetention) {
		t.Fatalf("Trim(today) = %v, want ErrRetention", err)
	}
	e.clock.Advance(DefaultRetentionDays * 24 * time.Hour)

	rep, err := e.l.Trim(e.ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	want := &TrimReport{Day: day, Trimmed: []string{"voided"}, Kept: map[string]string{
		"unpaid":     "invoice " + unpaid.ID + " is draft",
		"uninvoiced": "day not closed",
	}}
	if !reflect.DeepEqual(rep, want) {
		t.Fatalf("Trim = %+v, want %+v", rep, want)
	}
	streamLen := func(account string) int64 {
		n, err := e.rdb.XLen(e.ctx, e.l.streamKey(account, day)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if streamLen("voided") != 0 || streamLen("unpaid") != 1 || streamLen("uninvoiced") != 1 {
		t.Fatalf("streams after trim: voided %d, unpaid %d, uninvoiced %d",
			streamLen("voided"), streamLen("unpaid"), streamLen("uninvoiced"))
	}
	// The aggregate and the invoice of a trimmed day stay.
	if agg, err := e.l.Aggregate(e.ctx, "voided", day); err != nil || agg.Currencies["USD"].Amount != 700_000 {
		t.Errorf("aggregate after trim = %+v, %v", agg, err)
	}
	if inv := e.get(voided.ID); inv.Status != StatusVoid {
		t.Errorf("invoice after trim: %+v", inv)
	}

	// Once paid, the day goes.
	e.move(unpaid.ID, Transition{To: StatusApproved})
	e.move(unpaid.ID, Transition{To: StatusCharging})
	e.move(unpaid.ID, Transition{To: StatusPaid, Set: Settlement{Charged: 600_000}})
	rep, err = e.l.Trim(e.ctx, day)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rep.Trimmed, []string{"unpaid", "voided"}) || len(rep.Kept) != 1 {
		t.Errorf("second Trim = %+v", rep)
	}
	if streamLen("unpaid") != 0 {
		t.Errorf("paid day not trimmed")
	}
}
