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
