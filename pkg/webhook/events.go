package webhook

// Event types paycrawl emits. Finance endpoints (registered through the
// settler's finance API) receive the invoice events of every crawler;
// an operator's endpoints (registered through the key directory API)
// receive its own invoices' paid, failed and refunded events and its daily
// cap alerts.
const (
	// EventInvoiceDrafted: a day was closed into this invoice, in review.
	EventInvoiceDrafted = "invoice.drafted"
	// EventInvoiceHeld: finance (or the day's check) held the invoice.
	EventInvoiceHeld = "invoice.held"
	// EventInvoicePaid: the rail collected the invoice.
	EventInvoicePaid = "invoice.paid"
	// EventInvoiceFailed: a charge attempt failed; the settler retries.
	EventInvoiceFailed = "invoice.failed"
	// EventInvoiceVoided: the invoice will never be charged.
	EventInvoiceVoided = "invoice.voided"
	// EventInvoiceRefunded: finance refunded (part of) a paid invoice; one
	// event per refund done.
	EventInvoiceRefunded = "invoice.refunded"
	// EventUsageCap80 and EventUsageCap100: today's spend reached 80 %
	// and 100 % of the operator's daily cap (at 100 % gateways refuse its
	// paid requests until midnight UTC).
	EventUsageCap80  = "usage.cap_80"
	EventUsageCap100 = "usage.cap_100"
	// EventKeyExpiring: a rotated key of the operator stops being accepted
	// within a day (sign with the new key before then).
	EventKeyExpiring = "key.expiring"
)

// FinanceEvents are the types a finance endpoint may receive.
var FinanceEvents = []string{EventInvoiceDrafted, EventInvoiceHeld, EventInvoicePaid, EventInvoiceFailed, EventInvoiceVoided,
	EventInvoiceRefunded}

// OperatorEvents are the types an operator's endpoint may receive.
var OperatorEvents = []string{EventUsageCap80, EventUsageCap100, EventKeyExpiring, EventInvoicePaid, EventInvoiceFailed,
	EventInvoiceRefunded}
