package finance

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// Bounds of an audit's memory.
const (
	// auditBatch is how many commitments are checked at once (their
	// signatures in parallel) before the next are read.
	auditBatch = 256
	// auditKeys bounds the cache of parsed public keys (a crawler has few).
	auditKeys = 1024
	// auditUnlisted bounds the publisher sites tracked that are not on the
	// invoice; more are summed as one.
	auditUnlisted = 64
)

// Auditor re-verifies invoices against their commitments, offline: every
// signature with the public key archived at first use (or, for a day read
// from the cold tier, the key its archive segment carries), every signed price,
// and every sum. Its memory is bounded whatever the day's size: it reads the
// crawler-day's stream in batches through Ledger.Commitments.
type Auditor struct {
	// Ledger is required.
	Ledger Ledger
	// Workers bounds the signatures verified at once; 0 means one per CPU.
	Workers int
	// Agreements, if set, are the crawlers' agreements: the audit then
	// re-derives every charge from the agreement its commitment names and
	// every subscription fee line from the subscription (settle.ChargeCheck,
	// settle.FeeLines). Without it, a commitment that names an agreement or
	// an invoice with fee lines is reported as not re-derived.
	Agreements AgreementSource
}

// AgreementSource lists every version of a crawler's agreements that was
// ever accepted (settle.Arrangements has this method; the registry's reads
// only those, never the offers the crawler was made).
type AgreementSource interface {
	Agreements(ctx context.Context, account string) ([]agreement.Agreement, error)
}

// AuditFailure is a commitment that failed the audit.
type AuditFailure struct {
	Commitment *ledger.Commitment
	// Reasons says why, one sentence each.
	Reasons []string
}

// Reason joins the reasons.
func (f AuditFailure) Reason() string { return strings.Join(f.Reasons, "; ") }

// AuditLine compares one invoice line with its commitments.
type AuditLine struct {
	Publisher, Site string
	// Requests and Amount are the invoice line's; Committed and
	// CommittedAmount what the commitments add up to.
	Requests, Committed     int64
	Amount, CommittedAmount money.Micros
	// Listed is false for a publisher site that is not on the invoice.
	Listed bool
	// Kind, AgreementID and AgreementVersion are the line's (see
	// ledger.Line): how it was charged and under which agreement.
	Kind             string
	AgreementID      string
	AgreementVersion int64
	// Fee marks a line that bills no commitments (a subscription fee, a
	// top-up); Derived that the agreement implies it exactly.
	Fee, Derived bool
}

// OK reports whether the commitments add up to the line (for a fee line:
// whether its agreement implies it).
func (l AuditLine) OK() bool {
	if l.Fee {
		return l.Derived
	}
	return l.Listed && l.Requests == l.Committed && l.Amount == l.CommittedAmount
}

// AuditReport is the outcome of an audit.
type AuditReport struct {
	Invoice string
	// Commitments counts the crawler-day's commitments in the invoice's
	// currency: Verified passed every check, Failed did not. OtherCurrency
	// counts the day's commitments in other currencies (other invoices).
	Commitments, Verified, Failed, OtherCurrency int64
	// Lines are the invoice's lines, then any publisher site of the
	// commitments that is not on the invoice.
	Lines []AuditLine
	// Problems says what does not add up, one sentence each.
	Problems []string
}

// SumsOK reports whether the commitments add up to every line and the
// lines to the total.
func (r *AuditReport) SumsOK() bool { return len(r.Problems) == 0 }

// OK reports whether every commitment verified and every sum holds.
func (r *AuditReport) OK() bool { return r.Failed == 0 && r.SumsOK() }

// AuditHooks receive an audit as it goes; nil hooks are skipped, and an
// error from one stops the audit.
type AuditHooks struct {
	// Failure is called for each commitment that fails, in append order.
	Failure func(AuditFailure) error
	// Progress is called after each batch with the commitments checked so
	// far.
	Progress func(checked int64) error
}

// Audit checks inv (read with its lines) against the commitments of its
// crawler-day in its currency:
//
//   - each signature verifies with the archived public key of its key id
//     (deferred.Evidence.Verify), whose thumbprint is that key id;
//   - a price the crawler signed (crawler-exact-price, crawler-max-price,
//     a priced Payment header) agrees with the recorded price;
//   - each commitment's publisher site is on the invoice;
//   - per line, the commitments' count and amount equal the line's, and the
//     lines less credits plus the carried-in amount equal the total.
//
// An error means the audit could not finish (the ledger is unavailable, a
// hook failed); failed checks are in the report, not errors.
func (a *Auditor) Audit(ctx context.Context, inv *ledger.Invoice, h AuditHooks) (*AuditReport, error) {
	workers := a.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	au := &audit{
		a: a, inv: inv, hooks: h, workers: workers, lines: lineIndex(inv),
		rep:      &AuditReport{Invoice: inv.ID},
		sums:     make([]AuditLine, len(inv.Lines)),
		unlisted: map[siteKey]*AuditLine{},
		keys:     map[string]keyEntry{},
	}
	for i, l := range inv.Lines {
		au.sums[i] = AuditLine{Publisher: l.Publisher, Site: l.Site, Requests: l.Count, Amount: l.Amount, Listed: true,
			Kind: l.Kind, AgreementID: l.AgreementID, AgreementVersion: l.AgreementVersion, Fee: !usageLine(l)}
	}
	if err := au.agreements(ctx); err != nil {
		return nil, err
	}
	for _, day := range invoiceDays(inv) {
		err := a.Ledger.Commitments(ctx, inv.Account, day, func(c *ledger.Commitment) error {
			if c.Currency != inv.Currency {
				au.rep.OtherCurrency++
				return nil
			}
			au.batch = append(au.batch, c)
			if len(au.batch) == auditBatch {
				return au.flush(ctx)
			}
			return nil
		})
		if err == nil {
			err = au.flush(ctx)
		}
		if err != nil {
			return nil, err
		}
	}
	au.finish()
	return au.rep, nil
}

// audit is one run of Audit.
type audit struct {
	a        *Auditor
	inv      *ledger.Invoice
	hooks    AuditHooks
	workers  int
	rep      *AuditReport
	lines    map[siteKey]int
	sums     []AuditLine
	unlisted map[siteKey]*AuditLine
	keys     map[string]keyEntry
	// charges re-derives each commitment's charge from its agreement; nil
	// without Auditor.Agreements.
	charges *settle.ChargeCheck
	agrs    []agreement.Agreement
	// batch holds the commitments read and not yet checked; pubs and
	// reasons are its per-commitment scratch, reused.
	batch   []*ledger.Commitment
	pubs    []ed25519.PublicKey
	sigs    []string
	reasons [][]string
}

// keyEntry is an archived public key, or why there is none to use.
type keyEntry struct {
	pub     ed25519.PublicKey
	problem string
}

// flush checks the batch: sums, keys and prices in order, signatures in
// parallel, then reports in append order.
func (au *audit) flush(ctx context.Context) error {
	n := len(au.batch)
	if n == 0 {
		return nil
	}
	au.pubs = resize(au.pubs, n)
	au.sigs = resize(au.sigs, n)
	au.reasons = resize(au.reasons, n)
	for i, c := range au.batch {
		au.pubs[i], au.sigs[i], au.reasons[i] = nil, "", au.reasons[i][:0]
		au.count(c, i)
		if p := signedPriceProblem(c); p != "" {
			au.reasons[i] = append(au.reasons[i], p)
		}
		if p := au.charge(c); p != "" {
			au.reasons[i] = append(au.reasons[i], p)
		}
		if c.Signature == "" || c.SignatureInput == "" {
			au.sigs[i] = "no signature recorded"
			continue
		}
		k, err := au.key(ctx, c)
		if err != nil {
			return err
		}
		if k.problem != "" {
			au.sigs[i] = k.problem
			continue
		}
		au.pubs[i] = k.pub
	}
	au.verify()
	for i, c := range au.batch {
		au.rep.Commitments++
		reasons := au.reasons[i]
		if au.sigs[i] != "" {
			reasons = append([]string{au.sigs[i]}, reasons...)
		}
		if len(reasons) == 0 {
			au.rep.Verified++
			continue
		}
		au.rep.Failed++
		if au.hooks.Failure != nil {
			if err := au.hooks.Failure(AuditFailure{Commitment: c, Reasons: append([]string(nil), reasons...)}); err != nil {
				return err
			}
		}
	}
	clear(au.batch)
	au.batch = au.batch[:0]
	if au.hooks.Progress != nil {
		return au.hooks.Progress(au.rep.Commitments)
	}
	return ctx.Err()
}

// count adds c to its line's sums, or notes that its site is not on the
// invoice.
func (au *audit) count(c *ledger.Commitment, i int) {
	k := commitmentKey(c)
	if li, ok := au.lines[k]; ok {
		au.sums[li].Committed++
		au.sums[li].CommittedAmount += c.Price
		return
	}
	au.reasons[i] = append(au.reasons[i], fmt.Sprintf("publisher %s site %s%s is not on any line of the invoice", c.Publisher, c.Site, k.describe()))
	u, ok := au.unlisted[k]
	if !ok {
		if len(au.unlisted) >= auditUnlisted {
			k = siteKey{publisher: "(other publishers)", site: "(other sites)"}
		}
		if u, ok = au.unlisted[k]; !ok {
			u = &AuditLine{Publisher: k.publisher, Site: k.site, Kind: k.kind, AgreementID: k.agreement, AgreementVersion: k.version}
			au.unlisted[k] = u
		}
	}
	u.Committed++
	u.CommittedAmount += c.Price
}

// verify checks the batch's signatures on the workers; a commitment
// without a usable key (pubs[i] nil) keeps the reason already noted.
func (au *audit) verify() {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < au.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(au.batch) {
					return
				}
				if au.pubs[i] != nil {
					au.sigs[i] = signatureProblem(au.batch[i], au.pubs[i])
				}
			}
		}()
	}
	wg.Wait()
}

// signatureProblem verifies c's signature with pub and says what is wrong,
// or "". The stored record is hostile input as far as the audit knows: a
// panic in the verifier is a failed check, not a crash.
func signatureProblem(c *ledger.Commitment, pub ed25519.PublicKey) (problem string) {
	defer func() {
		if p := recover(); p != nil {
			problem = fmt.Sprintf("signature could not be checked with key %s: %v", c.KeyID, p)
		}
	}()
	ev := deferred.Evidence{Label: c.Label, Method: c.Method, Scheme: c.Scheme, Authority: c.Authority,
		RequestURI: c.Path, SignatureInput: c.SignatureInput, Signature: c.Signature, Headers: c.Covered}
	if err := ev.Verify(pub); err != nil {
		return fmt.Sprintf("signature does not verify with key %s: %s", c.KeyID, clipReason(err.Error()))
	}
	return ""
}

// signedPriceProblem compares the recorded price with a price the crawler
// signed, if it signed one in the commitment's currency.
func signedPriceProblem(c *ledger.Commitment) string {
	if len(c.Covered) == 0 {
		return ""
	}
	h := make(http.Header, len(c.Covered))
	for k, v := range c.Covered {
		h.Set(k, v)
	}
	in, err := deferred.ParseIntent(h)
	if err != nil || in == nil || !in.HasPrice || in.Price.Currency != c.Currency {
		return ""
	}
	switch {
	case in.Exact && c.Price != in.Price.Value:
		return fmt.Sprintf("price %s but the signed %s is %s", c.Price, in.Header, in.Price)
	case !in.Exact && c.Price > in.Price.Value:
		return fmt.Sprintf("price %s above the signed %s %s", c.Price, in.Header, in.Price)
	}
	return ""
}

// key returns the public key of c's key id, cached: the one c carries if
// it was read from the cold tier (archive.Tiered), else the one the ledger
// archived at first use. Either must have the key id as its thumbprint.
func (au *audit) key(ctx context.Context, c *ledger.Commitment) (keyEntry, error) {
	kid := c.KeyID
	cacheKey := kid
	if c.PublicKey != "" {
		cacheKey = "archive\x00" + kid
	}
	if e, ok := au.keys[cacheKey]; ok {
		return e, nil
	}
	var e keyEntry
	jwk, err := c.PublicKey, error(nil)
	if jwk == "" {
		jwk, err = au.a.Ledger.PublicKey(ctx, au.inv.Account, kid)
	}
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		e.problem = "no archived public key for " + clipReason(kid)
	case err != nil:
		return e, err
	default:
		k, err := deferred.ParseKey([]byte(jwk))
		switch {
		case err != nil:
			e.problem = fmt.Sprintf("the archived public key for %s is unreadable: %s", clipReason(kid), clipReason(err.Error()))
		case k.ID != kid:
			e.problem = fmt.Sprintf("the archived public key for %s has thumbprint %s", clipReason(kid), k.ID)
		default:
			e.pub = k.Public
		}
	}
	if len(au.keys) >= auditKeys {
		clear(au.keys)
	}
	au.keys[cacheKey] = e
	return e, nil
}

// finish compares the sums and fills the report's lines and problems.
func (au *audit) finish() {
	inv, rep := au.inv, au.rep
	cur := inv.Currency
	var net money.Micros
	au.fees()
	for i, l := range au.sums {
		rep.Lines = append(rep.Lines, l)
		net += inv.Lines[i].Amount - inv.Lines[i].Credit
		if l.Fee || l.OK() {
			continue
		}
		diff := l.CommittedAmount - l.Amount
		how := "exceed the line by"
		if diff < 0 {
			how, diff = "fall short of it by", -diff
		}
		rep.Problems = append(rep.Problems, fmt.Sprintf(
			"line %d (%s %s): the invoice bills %d requests for %s %s; its commitments add up to %d requests for %s %s (they %s %s %s)",
			i+1, l.Publisher, l.Site, l.Requests, cur, l.Amount, l.Committed, cur, l.CommittedAmount, how, cur, diff))
	}
	for _, u := range sortedUnlisted(au.unlisted) {
		rep.Lines = append(rep.Lines, u)
		rep.Problems = append(rep.Problems, fmt.Sprintf("%s %s: %d commitments for %s %s are not on any line of the invoice",
			u.Publisher, u.Site, u.Committed, cur, u.CommittedAmount))
	}
	if want := net + inv.CarriedIn; want != inv.Total {
		rep.Problems = append(rep.Problems, fmt.Sprintf(
			"the total %s %s does not equal the lines less credits plus the carried-in amount (%s %s)", cur, inv.Total, cur, want))
	}
	if rep.Commitments == 0 && len(lineIndex(inv)) > 0 {
		rep.Problems = append(rep.Problems, "no commitments of the invoice's day were found: "+
			"the day's stream was trimmed after its retention period, or lost")
	}
}

// sortedUnlisted returns the unlisted sites in a stable order.
func sortedUnlisted(m map[siteKey]*AuditLine) []AuditLine {
	out := make([]AuditLine, 0, len(m))
	for _, u := range m {
		out = append(out, *u)
	}
	sortLines(out)
	return out
}

// clipReason bounds text from the ledger or a verifier in a reason.
func clipReason(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// resize returns s with length n, reusing its array when it is big enough.
func resize[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}
