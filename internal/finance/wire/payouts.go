package wire

import "time"

// Payout is a publisher's payout. Lists leave History empty.
type Payout struct {
	ID        string `json:"id"`
	Publisher string `json:"publisher"`
	Period    string `json:"period"`
	Currency  string `json:"currency"`
	// Amount is what the payout took from the balance and sends; Minimum
	// the publisher's minimum payout when it was created.
	Amount  string `json:"amount"`
	Minimum string `json:"minimum"`
	// Rail ("stripe", "evm") and Destination (a connected account, a
	// wallet); Reference the rail's id (a transfer id, a transaction hash).
	Rail        string `json:"rail"`
	Destination string `json:"destination"`
	// Status is pending, held, sending, paid, failed, carried or canceled.
	Status    string        `json:"status"`
	Attempt   int64         `json:"attempt"`
	Reference string        `json:"reference,omitempty"`
	Error     string        `json:"error,omitempty"`
	Reason    string        `json:"reason,omitempty"`
	Created   time.Time     `json:"created"`
	Updated   time.Time     `json:"updated"`
	History   []PayoutEvent `json:"history,omitempty"`
	// Actions lists the finance actions the status allows: hold, release,
	// cancel.
	Actions []string `json:"actions"`
}

// PayoutEvent is an entry of a payout's history: who did what, when, why.
type PayoutEvent struct {
	Kind      string    `json:"kind"` // create, transition, note
	From      string    `json:"from,omitempty"`
	To        string    `json:"to,omitempty"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	Reason    string    `json:"reason,omitempty"`
	Reference string    `json:"reference,omitempty"`
	Attempt   int64     `json:"attempt,omitempty"`
}

// PayoutList answers GET /v1/payouts, newest first.
type PayoutList struct {
	Payouts []Payout `json:"payouts"`
}

// PayoutActionResult answers POST /v1/payouts/{id}/hold|release|cancel
// (the body is an ActionRequest; its reason is required).
type PayoutActionResult struct {
	Action string `json:"action"`
	// Changed is false when the payout already was where the action
	// leads.
	Changed bool   `json:"changed"`
	Message string `json:"message"`
	Payout  Payout `json:"payout"`
}
