package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// Invoice is the bill of one crawler for one day in one currency, and the
// record of its settlement.
type Invoice struct {
	// ID is deterministic: InvoiceID(Account, Day, Currency).
	ID                     string
	Account, Day, Currency string
	Status                 Status
	// Token is the highest fencing token the invoice has seen.
	Token            int64
	Created, Updated time.Time
	// From is the first day the invoice covers when it covers a settlement
	// period longer than its Day (a weekly or monthly invoice is dated its
	// period's last day); "" for an invoice of Day alone.
	From string
	// Covered lists the days whose commitments the invoice bills when it
	// was made by CreateLinesInvoice (nil: Day's, for an invoice made by
	// CreateInvoice).
	Covered []string
	// Lines are the day's usage by publisher and site, sorted; an invoice
	// made by CreateLinesInvoice has lines by agreement and kind too.
	Lines []Line
	// CarriedIn is the carry-over balance consumed when the invoice was
	// created. Total = sum(line amount - line credit) + CarriedIn.
	CarriedIn, Total money.Micros
	// Charged is what the rail collected; CarriedOut what moved to the
	// carry-over balance. For a paid or carried invoice Charged+CarriedOut
	// equals Total.
	Charged, CarriedOut money.Micros
	// Rail, PaymentIntent, TxHash, Block and Error are the settlement
	// record, set by transitions.
	Rail, PaymentIntent, TxHash string
	Block                       int64
	Error                       string
	// RawTx and Nonce are the latest write-ahead record of a chain
	// transaction (see Record); WriteAhead is the charge attempt number it
	// belongs to, 0 if there is none.
	RawTx      string
	Nonce      int64
	WriteAhead int64
	// Check is the result of the settler's check of the day's aggregate
	// against its stream ("ok" or "mismatch", "" before it), Checked when it
	// was recorded (see RecordCheck).
	Check   string
	Checked time.Time
	// Refunded is the total of done refunds, RefundPending of pending ones;
	// together they never exceed Charged. Refunds are the invoice's
	// refunds by sequence (see BeginRefund).
	Refunded, RefundPending money.Micros
	Refunds                 []Refund
	// History and Attempts are filled by Ledger.Invoice only.
	History  []Event
	Attempts []Attempt
}

// Line is one publisher site's usage on an invoice.
type Line struct {
	Publisher, Site string
	Count           int64
	Amount          money.Micros
	// Credit is what finance took off the line (0 <= Credit <= Amount).
	Credit money.Micros
	// Kind says how the line was charged: "" (usage at the site's list
	// price, every line of an invoice made by CreateInvoice) or one of the
	// Line* kinds.
	Kind string
	// AgreementID and AgreementVersion are the agreement behind the line,
	// "" and 0 when none.
	AgreementID      string
	AgreementVersion int64
}

// Line kinds (Line.Kind). Usage lines take the kind of their commitments'
// charge; a fee line is an agreement's subscription fee (Count 0), a top-up
// line the amount a prepaid top-up buys.
const (
	LineList    = "list"
	LineRate    = "rate"
	LineQuota   = "quota"
	LineOverage = "overage"
	LinePrepaid = "prepaid"
	LineFee     = "fee"
	LineTopUp   = "topup"
)

// Event is one entry of an invoice's history.
type Event struct {
	// ID is the history stream id (time-ordered).
	ID string
	// Kind is "create", "transition", "credit", "check" or "refund".
	Kind     string
	From, To Status
	At       time.Time
	Actor    string
	Reason   string
	Token    int64
	// Line and Credit are set for a credit: the line index and its new credit.
	Line   int
	Credit money.Micros
	// Refund, Amount, RefundStatus and Reference are set for a refund: its
	// sequence, amount, new status and the rail's id.
	Refund       int64
	Amount       money.Micros
	RefundStatus RefundStatus
	Reference    string
}

// Attempt is one charge attempt on a rail, recorded with a transition.
type Attempt struct {
	// ID is the attempts stream id, set when read back.
	ID string
	// At defaults to the ledger's clock.
	At   time.Time
	Rail string
	// Number is the charge attempt this entry belongs to (1 for the first
	// move to charging, 2 for the retry after a failure…); 0 if unnumbered.
	Number int64
	// Reference is the rail's id: a payment intent id or a transaction hash.
	Reference string
	Amount    money.Micros
	// Outcome is the rail's word for the result (succeeded, processing,
	// requires_action, failed, broadcast…).
	Outcome string
	Error   string
}

// InvoiceID returns the deterministic id of the invoice of (account, day,
// currency): "inv_<day>_<account>_<currency>".
func InvoiceID(account, day, currency string) string {
	return "inv_" + day + "_" + account + "_" + currency
}

// TopUpInvoiceID returns the id of a prepaid top-up's invoice, made on day
// and told apart from the day's own invoice and other top-ups by tag (1 to
// 32 lower-case letters and digits, minted by the settler):
// "inv_<day>+<tag>_<account>_<currency>".
func TopUpInvoiceID(account, day, tag, currency string) string {
	return "inv_" + day + "+" + tag + "_" + account + "_" + currency
}

// ParseInvoiceID splits an invoice id made by InvoiceID or TopUpInvoiceID.
// For a top-up, day is its slot "<day>+<tag>", which names its keys; its
// Invoice.Day is the plain day.
func ParseInvoiceID(id string) (account, day, currency string, err error) {
	rest, ok := strings.CutPrefix(id, "inv_")
	if !ok || len(rest) < len(dayLayout)+2 {
		return "", "", "", fmt.Errorf("%w: invoice id %q", ErrInvalid, clip(id))
	}
	plain, slot := rest[:len(dayLayout)], rest[:len(dayLayout)]
	rest = rest[len(dayLayout):]
	if tag, ok := strings.CutPrefix(rest, "+"); ok {
		end := strings.IndexByte(tag, '_')
		if end < 1 || !validTag(tag[:end]) {
			return "", "", "", fmt.Errorf("%w: invoice id %q", ErrInvalid, clip(id))
		}
		slot, rest = plain+"+"+tag[:end], tag[end:]
	}
	if rest == "" || rest[0] != '_' {
		return "", "", "", fmt.Errorf("%w: invoice id %q", ErrInvalid, clip(id))
	}
	rest = rest[1:]
	i := strings.LastIndexByte(rest, '_')
	if i < 0 {
		return "", "", "", fmt.Errorf("%w: invoice id %q", ErrInvalid, clip(id))
	}
	account, currency = rest[:i], rest[i+1:]
	if err := validateKey(account, plain, currency); err != nil {
		return "", "", "", fmt.Errorf("invoice id %q: %w", clip(id), err)
	}
	return account, slot, currency, nil
}

// validTag checks a top-up's tag: 1 to 32 lower-case letters and digits.
func validTag(tag string) bool {
	if tag == "" || len(tag) > 32 {
		return false
	}
	for i := 0; i < len(tag); i++ {
		if c := tag[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// CreateInvoice creates the draft invoice of (account, day, currency) from the
// crawler-day's aggregate, one line per publisher site, and atomically consumes
// the crawler's carry-over balance in that currency into it (CarriedIn). It
// closes the day in any case (see CloseDay). It is idempotent: if the
// invoice exists it is returned unchanged with created=false. A day without
// usage in that currency gives ErrNotFound.
func (l *Ledger) CreateInvoice(ctx context.Context, account, day, currency, actor string) (inv *Invoice, created bool, err error) {
	if err := validateKey(account, day, currency); err != nil {
		return nil, false, err
	}
	if err := validText("actor", actor, maxShort, true); err != nil {
		return nil, false, err
	}
	id := InvoiceID(account, day, currency)
	if err := l.index(ctx, l.dayInvoicesKey(day), id); err != nil {
		return nil, false, err
	}
	keys := []string{
		l.aggKey(account, day), l.invKey(account, day, currency), l.histKey(account, day, currency),
		l.carryKey(account, currency), l.carryLogKey(account, currency),
	}
	r, err := reply(l.runDurable(ctx, createInvoiceScript, keys, id, account, day, currency, l.now().UnixMilli(), actor))
	if err != nil {
		return nil, false, fmt.Errorf("ledger: create invoice %s: %w", id, err)
	}
	switch r[0] {
	case "created", "exists":
	case "empty":
		return nil, false, fmt.Errorf("%w: no %s usage for %s on %s", ErrNotFound, currency, account, day)
	case "range":
		return nil, false, fmt.Errorf("%w: invoice %s total exceeds %d micro-units", ErrInvalid, id, int64(MaxAmount))
	default:
		return nil, false, fmt.Errorf("ledger: create invoice: unexpected script reply %q", r)
	}
	inv, err = l.Invoice(ctx, id)
	return inv, r[0] == "created", err
}

// Invoice reads one invoice with its lines, history and charge attempts.
func (l *Ledger) Invoice(ctx context.Context, id string) (*Invoice, error) {
	account, day, cur, err := ParseInvoiceID(id)
	if err != nil {
		return nil, err
	}
	pipe := l.rdb.Pipeline()
	hcmd := pipe.HGetAll(ctx, l.invKey(account, day, cur))
	histCmd := pipe.XRange(ctx, l.histKey(account, day, cur), "-", "+")
	attCmd := pipe.XRange(ctx, l.attemptKey(account, day, cur), "-", "+")
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("ledger: invoice %s: %w", id, wrap(err))
	}
	inv, err := parseInvoice(id, hcmd.Val())
	if err != nil {
		return nil, err
	}
	for _, m := range histCmd.Val() {
		inv.History = append(inv.History, parseEvent(m))
	}
	for _, m := range attCmd.Val() {
		inv.Attempts = append(inv.Attempts, parseAttempt(m))
	}
	return inv, nil
}

// Invoices lists the invoices of day, all accounts, sorted by id, with their
// lines but without history and attempts.
func (l *Ledger) Invoices(ctx context.Context, day string) ([]*Invoice, error) {
	if err := validateDay(day); err != nil {
		return nil, err
	}
	ids, err := l.rdb.SMembers(ctx, l.dayInvoicesKey(day)).Result()
	if err != nil {
		return nil, fmt.Errorf("ledger: invoices of %s: %w", day, wrap(err))
	}
	sort.Strings(ids)
	pipe := l.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, 0, len(ids))
	kept := ids[:0]
	for _, id := range ids {
		account, slot, cur, err := ParseInvoiceID(id)
		if err != nil {
			l.log.Warn("ledger: bad id in invoice index", "day", day, "id", id, "err", err)
			continue
		}
		kept = append(kept, id)
		cmds = append(cmds, pipe.HGetAll(ctx, l.invKey(account, slot, cur)))
	}
	if len(cmds) == 0 {
		return nil, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("ledger: invoices of %s: %w", day, wrap(err))
	}
	out := make([]*Invoice, 0, len(cmds))
	for i, cmd := range cmds {
		if len(cmd.Val()) == 0 {
			continue // indexed before its creation script ran (or failed): harmless
		}
		inv, err := parseInvoice(kept[i], cmd.Val())
		if err != nil {
			return nil, err
		}
		out = append(out, inv)
	}
	return out, nil
}

// CreditLine sets the credit of line (0-based) of a draft or held invoice to
// amount and recomputes the total. The credit is absolute, not added to the
// previous one, so a resent call is harmless; 0 removes it. A credit above
// the line's amount (a negative line) is refused with ErrInvalid; any other
// status gives a *TransitionError. The credit is recorded in the history.
func (l *Ledger) CreditLine(ctx context.Context, id string, line int, amount money.Micros, actor, reason string) error {
	account, day, cur, err := ParseInvoiceID(id)
	if err != nil {
		return err
	}
	if line < 0 {
		return fmt.Errorf("%w: line %d", ErrInvalid, line)
	}
	if err := validateAmount("credit", amount); err != nil {
		return err
	}
	if err := validText("actor", actor, maxShort, true); err != nil {
		return err
	}
	if err := validText("reason", reason, maxURL, false); err != nil {
		return err
	}
	keys := []string{l.invKey(account, day, cur), l.histKey(account, day, cur)}
	r, err := reply(l.runDurable(ctx, creditScript, keys, line, int64(amount), newTxID(), l.now().UnixMilli(), actor, reason))
	if err != nil {
		return fmt.Errorf("ledger: credit %s line %d: %w", id, line, err)
	}
	switch r[0] {
	case "ok":
		return nil
	case "notfound":
		return fmt.Errorf("%w: invoice %s", ErrNotFound, id)
	case "transition":
		return &TransitionError{Invoice: id, Current: Status(r[1]), Action: "credit a line"}
	case "noline":
		return fmt.Errorf("%w: invoice %s has %s lines, no line %d", ErrInvalid, id, r[1], line)
	case "toomuch":
		return fmt.Errorf("%w: credit %s above line %d amount %s", ErrInvalid, amount, line, micros(r[1]))
	}
	return fmt.Errorf("ledger: credit: unexpected script reply %q", r)
}

// newTxID returns a random id for one call of a state-changing script; the
// script treats a second run with the same id (a resend) as done.
func newTxID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// parseInvoice reads an invoice hash.
func parseInvoice(id string, h map[string]string) (*Invoice, error) {
	if len(h) == 0 {
		return nil, fmt.Errorf("%w: invoice %s", ErrNotFound, id)
	}
	p := fieldParser{h: h}
	inv := &Invoice{
		ID:            id,
		Account:       h["account"],
		Day:           h["day"],
		Currency:      h["currency"],
		Status:        Status(h["status"]),
		Token:         p.int("token"),
		Created:       p.ms("created"),
		Updated:       p.ms("updated"),
		CarriedIn:     money.Micros(p.int("carried_in")),
		Total:         money.Micros(p.int("total")),
		Charged:       money.Micros(p.int("charged")),
		CarriedOut:    money.Micros(p.int("carried_out")),
		Rail:          h["rail"],
		PaymentIntent: h["payment_intent"],
		TxHash:        h["tx_hash"],
		Block:         p.int("block"),
		Error:         h["error"],
		RawTx:         h["raw_tx"],
		Nonce:         p.int("nonce"),
		WriteAhead:    p.int("wa_attempt"),
		Check:         h["check"],
		Checked:       p.ms("checked"),
		From:          h["from"],
		Refunded:      money.Micros(p.int("refunded")),
		RefundPending: money.Micros(p.int("refund_pending")),
	}
	if c := h["covered"]; c != "" {
		inv.Covered = strings.Split(c, ",")
	}
	inv.Refunds = parseRefunds(&p)
	n := p.int("lines")
	for i := int64(0); i < n; i++ {
		pre := "l" + strconv.FormatInt(i, 10) + "."
		inv.Lines = append(inv.Lines, Line{
			Publisher: h[pre+"publisher"],
			Site:      h[pre+"site"],
			Count:     p.int(pre + "count"),
			Amount:    money.Micros(p.int(pre + "amount")),
			Credit:    money.Micros(p.int(pre + "credit")),
			Kind:      h[pre+"kind"],

			AgreementID:      h[pre+"agr"],
			AgreementVersion: p.int(pre + "agrv"),
		})
	}
	if p.err != nil {
		return nil, fmt.Errorf("ledger: invoice %s: %w", id, p.err)
	}
	return inv, nil
}

// fieldParser reads integer fields of a hash, keeping the first error.
type fieldParser struct {
	h   map[string]string
	err error
}

func (p *fieldParser) int(f string) int64 {
	s, ok := p.h[f]
	if !ok || s == "" {
		return 0
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("field %s = %q: %w", f, clip(s), err)
	}
	return v
}

func (p *fieldParser) ms(f string) time.Time {
	v := p.int(f)
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// str reads a string value of a stream entry.
func str(m redis.XMessage, f string) string {
	s, _ := m.Values[f].(string)
	return s
}

// num reads an integer value of a stream entry; the ledger wrote it, so a
// malformed one reads as 0 rather than failing a listing.
func num(m redis.XMessage, f string) int64 {
	v, _ := strconv.ParseInt(str(m, f), 10, 64)
	return v
}

func parseEvent(m redis.XMessage) Event {
	e := Event{
		ID:     m.ID,
		Kind:   str(m, "kind"),
		From:   Status(str(m, "from")),
		To:     Status(str(m, "to")),
		At:     time.UnixMilli(num(m, "at")).UTC(),
		Actor:  str(m, "actor"),
		Reason: str(m, "reason"),
		Token:  num(m, "token"),
		Line:   -1,
	}
	if e.Kind == "credit" {
		e.Line = int(num(m, "line"))
		e.Credit = money.Micros(num(m, "credit"))
	}
	if e.Kind == "refund" {
		e.Refund = num(m, "refund")
		e.Amount = money.Micros(num(m, "amount"))
		e.RefundStatus = RefundStatus(str(m, "refund_status"))
		e.Reference = str(m, "ref")
	}
	return e
}

func parseAttempt(m redis.XMessage) Attempt {
	return Attempt{
		ID:        m.ID,
		At:        time.UnixMilli(num(m, "at")).UTC(),
		Number:    num(m, "n"),
		Rail:      str(m, "rail"),
		Reference: str(m, "ref"),
		Amount:    money.Micros(num(m, "amount")),
		Outcome:   str(m, "outcome"),
		Error:     str(m, "error"),
	}
}
