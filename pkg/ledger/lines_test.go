package ledger

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// linesCases are the suite's cases of invoices with computed lines.
var linesCases = []suiteCase{
	{"LinesInvoiceCoversDays", testLinesInvoiceCoversDays},
	{"LinesInvoiceRefusesBadInput", testLinesInvoiceRefusesBadInput},
}

func testLinesInvoiceCoversDays(t *testing.T, e *env) {
	day0 := e.today()
	e.mustAppend(e.commitment("acme", 100))
	e.clock.Advance(24 * time.Hour)
	day1 := e.today()
	e.mustAppend(e.commitment("acme", 50))
	lines := []Line{
		{Publisher: "pub-1", Site: "example.com", Count: 2, Amount: 150, Kind: LineOverage, AgreementID: "agr_1", AgreementVersion: 2},
		{Publisher: "pub-1", Site: "example.com", Count: 5, Amount: 0, Kind: LineQuota, AgreementID: "agr_1", AgreementVersion: 2},
		{Publisher: "pub-1", Site: "", Count: 0, Amount: 1000, Kind: LineFee, AgreementID: "agr_1", AgreementVersion: 2},
	}
	li := LinesInvoice{Account: "acme", Day: day1, From: day0, Currency: "USD", Covered: []string{day0, day1},
		Lines: lines, Actor: "settler"}
	inv, created, err := e.l.CreateLinesInvoice(e.ctx, li)
	if err != nil || !created {
		t.Fatalf("CreateLinesInvoice = %v, %v", created, err)
	}
	if inv.ID != InvoiceID("acme", day1, "USD") || inv.From != day0 || !reflect.DeepEqual(inv.Covered, []string{day0, day1}) || inv.Total != 1150 || inv.CarriedIn != 0 ||
		!reflect.DeepEqual(inv.Lines, lines) || inv.Status != StatusDraft {
		t.Fatalf("invoice = %+v", inv)
	}
	// Both days are closed and say which invoice covers them.
	a0, err := e.l.Aggregate(e.ctx, "acme", day0)
	if err != nil || !a0.Closed || a0.InvoicedOn["USD"] != day1 {
		t.Fatalf("day 0 aggregate = %+v, %v", a0, err)
	}
	a1, err := e.l.Aggregate(e.ctx, "acme", day1)
	if err != nil || !a1.Closed || len(a1.InvoicedOn) != 0 || a1.Currencies["USD"].Amount != 50 {
		t.Fatalf("day 1 aggregate = %+v, %v", a1, err)
	}
	if _, err := e.l.Append(e.ctx, e.commitment("acme", 1), Limits{}); !errors.Is(err, ErrDayClosed) {
		t.Fatalf("append after the invoice: %v", err)
	}
	// Idempotent: other lines change nothing.
	li.Lines = lines[:1]
	again, created, err := e.l.CreateLinesInvoice(e.ctx, li)
	if err != nil || created || !reflect.DeepEqual(again.Lines, lines) {
		t.Fatalf("second CreateLinesInvoice = %+v, %v, %v", again, created, err)
	}
	listed, err := e.l.Invoices(e.ctx, day1)
	if err != nil || len(listed) != 1 || listed[0].Lines[2].Kind != LineFee {
		t.Fatalf("Invoices = %+v, %v", listed, err)
	}
}

func testLinesInvoiceRefusesBadInput(t *testing.T, e *env) {
	day := e.today()
	ok := Line{Publisher: "pub-1", Site: "example.com", Count: 1, Amount: 1, Kind: LineList}
	for name, li := range map[string]LinesInvoice{
		"no lines":                  {Account: "acme", Day: day, Currency: "USD", Actor: "s"},
		"from after day":            {Account: "acme", Day: "2026-01-01", From: "2026-01-02", Currency: "USD", Actor: "s", Lines: []Line{ok}},
		"more than a month":         {Account: "acme", Day: "2026-03-01", From: "2026-01-01", Currency: "USD", Actor: "s", Lines: []Line{ok}},
		"covered outside":           {Account: "acme", Day: day, Currency: "USD", Actor: "s", Covered: []string{"2000-01-01"}, Lines: []Line{ok}},
		"negative amount":           {Account: "acme", Day: day, Currency: "USD", Actor: "s", Lines: []Line{{Publisher: "p", Amount: -1, Kind: LineFee}}},
		"version without agreement": {Account: "acme", Day: day, Currency: "USD", Actor: "s", Lines: []Line{{Publisher: "p", Kind: LineFee, AgreementVersion: 1}}},
		"no kind":                   {Account: "acme", Day: day, Currency: "USD", Actor: "s", Lines: []Line{{Publisher: "p"}}},
		"publisher with a bar":      {Account: "acme", Day: day, Currency: "USD", Actor: "s", Lines: []Line{{Publisher: "p|q", Kind: LineFee}}},
	} {
		_, _, err := e.l.CreateLinesInvoice(e.ctx, li)
		want := ErrInvalid
		if name == "no lines" {
			want = ErrNotFound
		}
		if !errors.Is(err, want) {
			t.Errorf("%s: err = %v, want %v", name, err, want)
		}
	}
}
