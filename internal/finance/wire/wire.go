// Package wire holds the JSON shapes of the finance API (served by
// internal/finance, spoken by internal/finance/client). Amounts are decimal
// strings of the invoice's currency ("12.34", "0.000123"), never numbers;
// line numbers start at 1.
package wire

import "time"

// Invoice is one invoice. List responses leave History and Attempts empty.
type Invoice struct {
	ID      string `json:"id"`
	Account string `json:"account"`
	// OperatorName and OperatorContact say who the account is, from the
	// operator registry; empty when the registry does not know it.
	OperatorName    string `json:"operator_name,omitempty"`
	OperatorContact string `json:"operator_contact,omitempty"`
	Day             string `json:"day"`
	Currency        string `json:"currency"`
	Status          string `json:"status"`
	// Requests is the number of paid requests (commitments) on the lines.
	Requests int64 `json:"requests"`
	// Amount is the lines' sum; Credits what finance took off it;
	// CarriedIn the carry-over consumed. Total = Amount - Credits + CarriedIn.
	Amount    string `json:"amount"`
	Credits   string `json:"credits"`
	CarriedIn string `json:"carried_in"`
	Total     string `json:"total"`
	// Charged is what the rail collected, CarriedOut what moved to the
	// carry-over balance.
	Charged    string `json:"charged"`
	CarriedOut string `json:"carried_out"`
	// Rail, PaymentIntent, TxHash and Block reconcile the charge with
	// Stripe and the chain.
	Rail          string `json:"rail,omitempty"`
	PaymentIntent string `json:"payment_intent,omitempty"`
	TxHash        string `json:"tx_hash,omitempty"`
	Block         int64  `json:"block,omitempty"`
	Error         string `json:"error,omitempty"`
	// Check is the settler's check of the day against its commitments:
	// "ok", "mismatch" or "" (not yet).
	Check   string     `json:"check,omitempty"`
	Checked *time.Time `json:"checked,omitempty"`
	Created time.Time  `json:"created"`
	Updated time.Time  `json:"updated"`
	// From is the first day a weekly or monthly invoice covers (Day is
	// its last); Covered the days whose commitments it bills.
	From     string    `json:"from,omitempty"`
	Covered  []string  `json:"covered,omitempty"`
	Lines    []Line    `json:"lines"`
	History  []Event   `json:"history,omitempty"`
	Attempts []Attempt `json:"attempts,omitempty"`
	// Refunded is what was refunded of Charged, RefundPending what is
	// being refunded, Refundable what may still be (for a prepaid top-up,
	// its credit not yet drawn: a refund gives back no more); RefundState is ""
	// (nothing refunded), "partially_refunded" or "refunded".
	Refunded      string   `json:"refunded"`
	RefundPending string   `json:"refund_pending"`
	Refundable    string   `json:"refundable"`
	RefundState   string   `json:"refund_state,omitempty"`
	Refunds       []Refund `json:"refunds,omitempty"`
	// Actions lists the finance actions the invoice's status allows:
	// hold, release, void, approve, credit, refund.
	Actions []string `json:"actions"`
}

// Refund is one refund of a paid invoice.
type Refund struct {
	// Seq numbers the invoice's refunds from 1.
	Seq    int64  `json:"seq"`
	Amount string `json:"amount"`
	// Status is pending, done or failed.
	Status string `json:"status"`
	// Reference is a Stripe refund id or a transaction hash.
	Reference string    `json:"reference,omitempty"`
	Error     string    `json:"error,omitempty"`
	Actor     string    `json:"actor"`
	Reason    string    `json:"reason,omitempty"`
	At        time.Time `json:"at"`
}

// Line is one publisher site's usage on an invoice.
type Line struct {
	// N numbers the line from 1 (the n of /lines/{n}/credit).
	N         int    `json:"n"`
	Publisher string `json:"publisher"`
	Site      string `json:"site"`
	Requests  int64  `json:"requests"`
	Amount    string `json:"amount"`
	Credit    string `json:"credit"`
	// Net is Amount - Credit.
	Net string `json:"net"`
	// Kind says how the line was charged: list, rate, quota (inside a
	// subscription's quota, 0), overage, prepaid (drawn from a prepaid
	// balance, 0), fee (a subscription fee; Site is the period it pays
	// for), topup; "" on invoices from before agreements.
	Kind string `json:"kind,omitempty"`
	// AgreementID and AgreementVersion are the agreement behind the line.
	AgreementID      string `json:"agreement_id,omitempty"`
	AgreementVersion int64  `json:"agreement_version,omitempty"`
}

// Event is one entry of an invoice's history.
type Event struct {
	ID     string    `json:"id"`
	Kind   string    `json:"kind"` // create, transition, credit, check, refund
	From   string    `json:"from,omitempty"`
	To     string    `json:"to,omitempty"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason,omitempty"`
	// Line (from 1) and Credit are set for a credit: the line and its new
	// credit.
	Line   int    `json:"line,omitempty"`
	Credit string `json:"credit,omitempty"`
	// Refund (its sequence), Amount, RefundStatus and Reference are set
	// for a refund.
	Refund       int64  `json:"refund,omitempty"`
	Amount       string `json:"amount,omitempty"`
	RefundStatus string `json:"refund_status,omitempty"`
	Reference    string `json:"reference,omitempty"`
}

// Attempt is one charge attempt or note on a rail.
type Attempt struct {
	ID        string    `json:"id"`
	At        time.Time `json:"at"`
	Number    int64     `json:"number"`
	Rail      string    `json:"rail"`
	Reference string    `json:"reference,omitempty"`
	Amount    string    `json:"amount"`
	Outcome   string    `json:"outcome,omitempty"`
	Error     string    `json:"error,omitempty"`
}

// InvoiceList answers GET /v1/invoices: the invoices of a day (Day) or of
// a range (From to To, inclusive; Day is then empty) that match the
// filters, newest day first.
type InvoiceList struct {
	Day     string `json:"day,omitempty"`
	From    string `json:"from"`
	To      string `json:"to"`
	Status  string `json:"status,omitempty"`
	Account string `json:"account,omitempty"`
	Rail    string `json:"rail,omitempty"`
	Q       string `json:"q,omitempty"`
	// Totals is what the listed invoices billed by currency, void ones
	// apart in Voided.
	Totals   map[string]string `json:"totals"`
	Voided   map[string]string `json:"voided"`
	Invoices []Invoice         `json:"invoices"`
}

// Queue answers GET /v1/queue: the invoices of a range of days that need a
// person (held, failed, pending, drafts in review), the most urgent first.
type Queue struct {
	From  string      `json:"from"`
	To    string      `json:"to"`
	Items []QueueItem `json:"items"`
}

// QueueItem is one invoice in the queue and why it is there.
type QueueItem struct {
	Reason  string  `json:"reason"`
	Invoice Invoice `json:"invoice"`
}

// Chart answers GET /v1/chart: billed (void invoices excluded) and
// charged by day over a range, one series per currency.
type Chart struct {
	From   string        `json:"from"`
	To     string        `json:"to"`
	Series []ChartSeries `json:"series"`
}

// ChartSeries is one currency's days, oldest first, every day of the
// range present.
type ChartSeries struct {
	Currency string     `json:"currency"`
	Days     []ChartDay `json:"days"`
}

// ChartDay is one day of a series.
type ChartDay struct {
	Day     string `json:"day"`
	Billed  string `json:"billed"`
	Charged string `json:"charged"`
}

// ActionRequest is the body of hold, release, void and approve. Reason is
// required to hold and void.
type ActionRequest struct {
	Reason string `json:"reason"`
}

// CreditRequest is the body of POST /v1/invoices/{id}/lines/{n}/credit.
// Amount is the line's new credit (absolute, "0" removes it).
type CreditRequest struct {
	Amount string `json:"amount"`
	Reason string `json:"reason"`
}

// RefundRequest is the body of POST /v1/invoices/{id}/refund. Amount is
// what to refund ("" or absent: all that is left); Reason is required.
type RefundRequest struct {
	Amount string `json:"amount,omitempty"`
	Reason string `json:"reason"`
}

// TopUpRequest is the body of POST /v1/topups: buy prepaid credit for a
// crawler now. ID is the top-up's id, chosen by the caller (1 to 32
// lower-case letters and digits): the same id again charges nothing twice.
// Amount is optional (absent: the agreement's own top-up amount); Reason
// is recorded with the finance token's name.
type TopUpRequest struct {
	ID        string `json:"id"`
	Account   string `json:"account"`
	Agreement string `json:"agreement"`
	Amount    string `json:"amount,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// TopUpResult answers POST /v1/topups. Created is false when the id was
// used already (nothing was charged again); Balance is the agreement's
// prepaid balance afterwards; Invoice is the top-up's invoice (paid and
// credited, failed, or still charging or pending).
type TopUpResult struct {
	Created bool    `json:"created"`
	Message string  `json:"message"`
	Balance string  `json:"balance"`
	Invoice Invoice `json:"invoice"`
}

// ActionResult answers a finance action.
type ActionResult struct {
	Action string `json:"action"`
	// Changed is false when the action had already taken effect.
	Changed bool   `json:"changed"`
	Message string `json:"message"`
	// Warning says what is not known yet (a refund whose outcome the rail
	// has not given: it stays pending and the settler resumes it).
	Warning string  `json:"warning,omitempty"`
	Invoice Invoice `json:"invoice"`
}

// Summary answers GET /v1/days/{day}/summary. Amount maps go from
// currency to a decimal string.
type Summary struct {
	Day      string `json:"day"`
	Invoices int    `json:"invoices"`
	Requests int64  `json:"requests"`
	// Totals are the invoices' totals by currency, void invoices apart
	// in Voided; Credits, CarriedIn, Charged and CarriedOut their parts
	// (of the invoices that are not void).
	Totals     map[string]string `json:"totals"`
	Voided     map[string]string `json:"voided"`
	Credits    map[string]string `json:"credits"`
	CarriedIn  map[string]string `json:"carried_in"`
	Charged    map[string]string `json:"charged"`
	CarriedOut map[string]string `json:"carried_out"`
	ByStatus   []Bucket          `json:"by_status"`
	ByRail     []Bucket          `json:"by_rail"`
}

// Bucket is the invoices of one status or rail in one currency.
type Bucket struct {
	// Key is the status, or the rail ("none" before a charge attempt).
	Key      string `json:"key"`
	Currency string `json:"currency"`
	Invoices int    `json:"invoices"`
	Total    string `json:"total"`
	Charged  string `json:"charged"`
}

// Audit stream records: GET /v1/invoices/{id}/audit answers NDJSON, one
// record a line, each with its Type: "failure" for every commitment that
// fails a check, "progress" now and then, and last "summary" (or "error"
// if the audit could not finish).
const (
	AuditTypeFailure  = "failure"
	AuditTypeProgress = "progress"
	AuditTypeSummary  = "summary"
	AuditTypeError    = "error"
)

// AuditFailure is a commitment that failed the audit, and why.
type AuditFailure struct {
	Type       string    `json:"type"`
	Commitment string    `json:"commitment"`
	Received   time.Time `json:"received"`
	Publisher  string    `json:"publisher"`
	Site       string    `json:"site"`
	Path       string    `json:"path"`
	Price      string    `json:"price"`
	KeyID      string    `json:"key_id"`
	Reason     string    `json:"reason"`
}

// AuditProgress says how many commitments were checked so far.
type AuditProgress struct {
	Type    string `json:"type"`
	Checked int64  `json:"checked"`
}

// AuditSummary ends an audit.
type AuditSummary struct {
	Type    string `json:"type"`
	Invoice string `json:"invoice"`
	// Commitments counts the crawler-day's commitments in the invoice's
	// currency: Verified passed every check, Failed did not.
	// OtherCurrency counts those of the day in other currencies (other
	// invoices).
	Commitments   int64 `json:"commitments"`
	Verified      int64 `json:"verified"`
	Failed        int64 `json:"failed"`
	OtherCurrency int64 `json:"other_currency"`
	// SumsOK reports that the commitments add up to every line, and the
	// lines to the total.
	SumsOK bool        `json:"sums_ok"`
	Lines  []AuditLine `json:"lines"`
	// Problems says what does not add up, one sentence each.
	Problems []string `json:"problems,omitempty"`
	// OK is Failed == 0 && SumsOK.
	OK bool `json:"ok"`
}

// AuditLine compares an invoice line with its commitments.
type AuditLine struct {
	N                 int    `json:"n"`
	Publisher         string `json:"publisher"`
	Site              string `json:"site"`
	Requests          int64  `json:"requests"`
	Amount            string `json:"amount"`
	CommittedRequests int64  `json:"committed_requests"`
	CommittedAmount   string `json:"committed_amount"`
	OK                bool   `json:"ok"`
	// Kind, AgreementID and AgreementVersion are the line's (see Line).
	Kind             string `json:"kind,omitempty"`
	AgreementID      string `json:"agreement_id,omitempty"`
	AgreementVersion int64  `json:"agreement_version,omitempty"`
}

// AuditError ends an audit that could not finish.
type AuditError struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
}
