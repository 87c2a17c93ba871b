package earnings

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// PayoutStatus is a payout's status.
type PayoutStatus string

// The payout statuses. Paid, carried and canceled are final.
const (
	// PayoutPending: created, its amount taken out of the balance; not
	// sent yet.
	PayoutPending PayoutStatus = "pending"
	// PayoutHeld: finance stopped it; released it goes back to pending.
	PayoutHeld PayoutStatus = "held"
	// PayoutSending: a transfer attempt is in flight; a resumed run finds
	// what it did (the same idempotency key, the same signed transaction).
	PayoutSending PayoutStatus = "sending"
	// PayoutPaid: the transfer is done (final).
	PayoutPaid PayoutStatus = "paid"
	// PayoutFailed: the transfer did not happen; retried by later runs.
	PayoutFailed PayoutStatus = "failed"
	// PayoutCarried: the balance was below the minimum payout (or none);
	// it stays for the next period (final, amount 0).
	PayoutCarried PayoutStatus = "carried"
	// PayoutCanceled: finance canceled it; its amount went back to the
	// balance (final).
	PayoutCanceled PayoutStatus = "canceled"
)

// Final reports whether s is final.
func (s PayoutStatus) Final() bool {
	return s == PayoutPaid || s == PayoutCarried || s == PayoutCanceled
}

// Payout is one transfer of a publisher's balance.
type Payout struct {
	// ID is deterministic: PayoutID(Period, Publisher, Currency), so a
	// publisher is paid once per period and currency.
	ID, Publisher, Period, Currency string
	// Amount is what the payout took from the balance and sends.
	Amount, Minimum money.Micros
	// Rail ("stripe", "evm") and Destination (a connected account, a
	// wallet) as the publisher's payout method said when it was created.
	Rail, Destination string
	Status            PayoutStatus
	// Attempt numbers the transfer attempts (1, 2, … ; 0 before the first).
	Attempt int64
	// Reference is the rail's id: a Stripe transfer id, a transaction hash.
	Reference string
	// RawTx and Nonce are the write-ahead record of the attempt's chain
	// transaction.
	RawTx            string
	Nonce            int64
	Error, Reason    string
	Created, Updated time.Time
	// History is filled by Book.Payout.
	History []PayoutEvent
}

// PayoutEvent is an entry of a payout's history.
type PayoutEvent struct {
	Kind, From, To, Actor, Reason, Reference string
	Attempt                                  int64
	At                                       time.Time
}

// PayoutID is the id of the payout of (period, publisher, currency):
// "po_<period>_<publisher>_<currency>".
func PayoutID(period, publisher, currency string) string {
	return "po_" + period + "_" + publisher + "_" + currency
}

// ParsePayoutID splits a payout id. Periods and currencies hold no '_'.
func ParsePayoutID(id string) (period, publisher, currency string, err error) {
	rest, ok := strings.CutPrefix(id, "po_")
	i, j := strings.IndexByte(rest, '_'), strings.LastIndexByte(rest, '_')
	if !ok || i <= 0 || j <= i+1 || j == len(rest)-1 || len(id) > 160 {
		return "", "", "", fmt.Errorf("%w: payout id %q", ErrInvalid, clip(id))
	}
	return rest[:i], rest[i+1 : j], rest[j+1:], nil
}

// Errors of payouts.
var (
	// ErrInvalid reports a malformed id or request.
	ErrInvalid = errors.New("earnings: invalid")
	// ErrNotFound reports an unknown payout.
	ErrNotFound = errors.New("earnings: payout not found")
	// ErrStatus reports a change the payout's status (or attempt) does
	// not allow.
	ErrStatus = errors.New("earnings: not allowed in the payout's status")
	// ErrShort reports a payout above the publisher's balance.
	ErrShort = errors.New("earnings: payout above the balance")
)

var (
	//go:embed lua/payout_create.lua
	payoutCreateLua    string
	payoutCreateScript = redis.NewScript(payoutCreateLua)
	//go:embed lua/payout_move.lua
	payoutMoveLua    string
	payoutMoveScript = redis.NewScript(payoutMoveLua)
	//go:embed lua/payout_note.lua
	payoutNoteLua    string
	payoutNoteScript = redis.NewScript(payoutNoteLua)
)

func (b *Book) poKey(pub, id string) string { return b.pubKey(pub, "po:"+id) }

// PayoutSpec is a payout to create.
type PayoutSpec struct {
	Period, Publisher, Currency string
	Amount, Minimum             money.Micros
	Rail, Destination           string
	Reason                      string
}

// CreatePayout creates the payout of spec's period, publisher and currency
// and reserves its amount from the balance, in one atomic step: pending, or
// carried when the amount is 0 or below the minimum. If the payout exists
// it is returned unchanged (created false): one payout per period, however
// often a run is repeated.
func (b *Book) CreatePayout(ctx context.Context, spec PayoutSpec, now time.Time) (*Payout, bool, error) {
	id := PayoutID(spec.Period, spec.Publisher, spec.Currency)
	if _, _, _, err := ParsePayoutID(id); err != nil {
		return nil, false, err
	}
	r, err := payoutCreateScript.Run(ctx, b.rdb, []string{b.poKey(spec.Publisher, id), b.pubKey(spec.Publisher, "pos"),
		b.pubKey(spec.Publisher, "bal"), b.poKey(spec.Publisher, id) + ":h"},
		id, spec.Publisher, spec.Period, spec.Currency, int64(spec.Amount), int64(spec.Minimum), spec.Rail, spec.Destination,
		now.UnixMilli(), clip(spec.Reason)).StringSlice()
	if err != nil {
		return nil, false, fmt.Errorf("earnings: creating payout %s: %w", id, err)
	}
	if r[0] == "short" {
		return nil, false, fmt.Errorf("%w: payout %s of %s, balance %s", ErrShort, id, spec.Amount, r[1])
	}
	p, err := b.Payout(ctx, id)
	return p, r[0] == "ok", err
}

// PayoutMove is one status change of a payout.
type PayoutMove struct {
	To   PayoutStatus
	From []PayoutStatus
	// Attempt, when not 0, must be the payout's current attempt.
	Attempt int64
	// NewAttempt starts the next attempt (a move to sending).
	NewAttempt    bool
	Actor, Reason string
	// Reference and Error are set with the move when not empty.
	Reference, Error string
}

// MovePayout applies m to payout id and returns the attempt it is on. A
// status (or attempt) that does not allow m wraps ErrStatus.
func (b *Book) MovePayout(ctx context.Context, id string, m PayoutMove, now time.Time) (int64, error) {
	_, pub, _, err := ParsePayoutID(id)
	if err != nil {
		return 0, err
	}
	from := ","
	for _, s := range m.From {
		from += string(s) + ","
	}
	attempt, bump := "", "0"
	if m.Attempt != 0 {
		attempt = strconv.FormatInt(m.Attempt, 10)
	}
	if m.NewAttempt {
		bump = "1"
	}
	args := []any{string(m.To), from, now.UnixMilli(), m.Actor, clip(m.Reason), attempt, bump}
	if m.Reference != "" {
		args = append(args, "reference", m.Reference)
	}
	if m.Error != "" || m.To == PayoutPaid {
		args = append(args, "error", clip(m.Error))
	}
	if m.Reason != "" {
		args = append(args, "reason", clip(m.Reason))
	}
	r, err := payoutMoveScript.Run(ctx, b.rdb, []string{b.poKey(pub, id), b.pubKey(pub, "bal"), b.poKey(pub, id) + ":h"}, args...).StringSlice()
	if err != nil {
		return 0, fmt.Errorf("earnings: payout %s → %s: %w", id, m.To, err)
	}
	switch r[0] {
	case "ok":
		n, _ := strconv.ParseInt(r[1], 10, 64)
		return n, nil
	case "missing":
		return 0, fmt.Errorf("%w: %s", ErrNotFound, id)
	case "attempt":
		return 0, fmt.Errorf("%w: payout %s is on attempt %s, not %d", ErrStatus, id, r[1], m.Attempt)
	}
	return 0, fmt.Errorf("%w: payout %s is %s; it cannot become %s", ErrStatus, id, r[1], m.To)
}

// NotePayout records on a sending payout's attempt its transaction (the
// write-ahead record, before broadcast: rawTx and nonce) or its rail
// reference. Another transaction for the same attempt wraps ErrStatus.
func (b *Book) NotePayout(ctx context.Context, id string, attempt int64, rawTx string, nonce int64, reference string, now time.Time) error {
	_, pub, _, err := ParsePayoutID(id)
	if err != nil {
		return err
	}
	r, err := payoutNoteScript.Run(ctx, b.rdb, []string{b.poKey(pub, id), b.poKey(pub, id) + ":h"},
		attempt, rawTx, nonce, reference, now.UnixMilli()).Text()
	if err != nil {
		return fmt.Errorf("earnings: note on payout %s: %w", id, err)
	}
	switch r {
	case "ok":
		return nil
	case "missing":
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return fmt.Errorf("%w: payout %s: %s", ErrStatus, id, r)
}

// Payout reads a payout with its history.
func (b *Book) Payout(ctx context.Context, id string) (*Payout, error) {
	_, pub, _, err := ParsePayoutID(id)
	if err != nil {
		return nil, err
	}
	h, err := b.rdb.HGetAll(ctx, b.poKey(pub, id)).Result()
	if err != nil {
		return nil, fmt.Errorf("earnings: %w", err)
	}
	if len(h) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	p := payoutFromHash(h)
	msgs, err := b.rdb.XRange(ctx, b.poKey(pub, id)+":h", "-", "+").Result()
	if err != nil {
		return nil, fmt.Errorf("earnings: %w", err)
	}
	for _, m := range msgs {
		s := func(k string) string { v, _ := m.Values[k].(string); return v }
		at, _ := strconv.ParseInt(s("at"), 10, 64)
		n, _ := strconv.ParseInt(s("attempt"), 10, 64)
		p.History = append(p.History, PayoutEvent{Kind: s("kind"), From: s("from"), To: s("to"), Actor: s("actor"), Reason: s("reason"),
			Reference: s("reference"), Attempt: n, At: time.UnixMilli(at).UTC()})
	}
	return p, nil
}

// Payouts returns a publisher's payouts, oldest first, without history.
func (b *Book) Payouts(ctx context.Context, publisher string) ([]*Payout, error) {
	ids, err := b.rdb.ZRange(ctx, b.pubKey(publisher, "pos"), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("earnings: %w", err)
	}
	out := make([]*Payout, 0, len(ids))
	for _, id := range ids {
		h, err := b.rdb.HGetAll(ctx, b.poKey(publisher, id)).Result()
		if err != nil {
			return nil, fmt.Errorf("earnings: %w", err)
		}
		if len(h) > 0 {
			out = append(out, payoutFromHash(h))
		}
	}
	return out, nil
}

func payoutFromHash(h map[string]string) *Payout {
	n := func(k string) int64 { v, _ := strconv.ParseInt(h[k], 10, 64); return v }
	return &Payout{ID: h["id"], Publisher: h["publisher"], Period: h["period"], Currency: h["currency"],
		Amount: money.Micros(n("amount")), Minimum: money.Micros(n("minimum")), Rail: h["rail"], Destination: h["destination"],
		Status: PayoutStatus(h["status"]), Attempt: n("attempt"), Reference: h["reference"], RawTx: h["raw_tx"], Nonce: n("nonce"),
		Error: h["error"], Reason: h["reason"], Created: time.UnixMilli(n("created")).UTC(), Updated: time.UnixMilli(n("updated")).UTC()}
}

// clip bounds a reason or error text.
func clip(s string) string {
	const max = 1000
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
