package main

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

// fetchResult is what fetch saw.
type fetchResult struct {
	URL          string      `json:"url"`
	Status       int         `json:"status"`
	Bytes        int64       `json:"bytes"`
	ContentType  string      `json:"content_type,omitempty"`
	Location     string      `json:"location,omitempty"`
	Agent        string      `json:"agent"`
	KeyID        string      `json:"keyid"`
	Charged      *chargeJSON `json:"charged"`
	Offer        *offerJSON  `json:"offer,omitempty"`
	CrawlerError string      `json:"crawler_error,omitempty"`
	// Message is the server's reason for a refusal (any status but 2xx
	// and 3xx): its JSON body's message, or its text.
	Message  string            `json:"message,omitempty"`
	MaxPrice string            `json:"max_price"`
	Elapsed  string            `json:"elapsed"`
	Receipt  *deferred.Receipt `json:"-"`
}

type chargeJSON struct {
	Amount     string `json:"amount"`
	Currency   string `json:"currency"`
	Commitment string `json:"commitment,omitempty"`
	OfferID    string `json:"offer_id,omitempty"`
	Scheme     string `json:"scheme,omitempty"`
	// Agreement and AgreementVersion are the agreement that priced the
	// request, from the receipt (none: the site's list price); Charge
	// says how (rate, quota, overage, prepaid), Drawn what a prepaid
	// request took from the balance.
	Agreement        string `json:"agreement,omitempty"`
	AgreementVersion int64  `json:"agreement_version,omitempty"`
	Charge           string `json:"charge,omitempty"`
	Drawn            string `json:"drawn,omitempty"`
}

type offerJSON struct {
	Price    string `json:"price"`
	Currency string `json:"currency"`
	Dialect  string `json:"dialect"`
	Accepted bool   `json:"accepted"`
}

// parseMaxPrice reads "0.05" (in currency) or "USD 0.05".
func parseMaxPrice(s, currency string) (money.Amount, error) {
	if strings.Contains(s, " ") {
		return money.ParseAmount(s)
	}
	if err := money.ValidateCurrency(currency); err != nil {
		return money.Amount{}, err
	}
	v, err := money.Parse(s)
	if err != nil {
		return money.Amount{}, err
	}
	return money.Amount{Currency: currency, Value: v}, nil
}

// fetchOpts are fetch's flags and its URL.
type fetchOpts struct {
	target                                       string
	keyPath, maxPrice, currency, dialect, agent  string
	agentForm, agentType, profile, out, receipts string
	preauth                                      bool
	timeout                                      time.Duration
}

// fetchPlan is what a fetch sends with, once its flags are checked and the
// defaults are read from the key directory.
type fetchPlan struct {
	opts     fetchOpts
	maxPrice money.Amount
	dialect  deferred.Dialect
	logPath  string
	signer   *deferred.Signer
	keyID    string
	agentURL string
}

// cmdFetch is `crawlctl fetch URL`: one signed GET that pays an offer up to
// the max price, redirects shown and not followed, the body saved or
// discarded, a paid attempt written to the receipt log.
func cmdFetch(e *env, args []string) error {
	o, err := e.parseFetch(args)
	if err != nil {
		return err
	}
	p, err := e.planFetch(o)
	if err != nil {
		return err
	}
	body, restore, err := e.fetchOutput(o.out)
	if err != nil {
		return err
	}
	defer restore()
	res, refused, err := e.fetchOnce(p, body)
	if err != nil {
		return err
	}
	if o.out == "-" && e.json {
		return refused // stdout holds the body
	}
	if err := e.emit(res, res.table); err != nil {
		return err
	}
	return refused
}

// parseFetch reads fetch's flags and checks those that need nothing else.
func (e *env) parseFetch(args []string) (fetchOpts, error) {
	var o fetchOpts
	fs := e.flags("fetch")
	fs.StringVar(&o.keyPath, "key", "", "private JWK to sign with")
	fs.StringVar(&o.maxPrice, "max-price", "", "most this page may cost, such as 0.05 (or \"USD 0.05\"); default: your billing profile's default max price (needs --token)")
	fs.StringVar(&o.currency, "currency", "", "currency of --max-price (default: your billing profile's, else USD)")
	fs.StringVar(&o.dialect, "dialect", "deferred", "how to answer offers: deferred, x402 or crawler-price")
	fs.BoolVar(&o.preauth, "preauthorize", false, "send crawler-max-price on the first request, skipping the 402")
	fs.StringVar(&o.agent, "agent", "", "Signature-Agent URL (default: your hosted agent, looked up with --token)")
	fs.StringVar(&o.agentForm, "agent-form", "string", "Signature-Agent form: string (\"https://…\", what Cloudflare verifies) or dictionary (sig1=\"https://…\";type=…)")
	fs.StringVar(&o.agentType, "agent-type", "", "type parameter of the dictionary form: directory, jwks_uri or cimd (default none, read as directory)")
	fs.StringVar(&o.profile, "profile", "reference", "what to sign: reference (@authority, signature-agent, the payment header) or strict (adds @method and @path)")
	fs.StringVar(&o.out, "out", "", "write the body to this file (- for stdout); default: discard")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "whole-request timeout")
	fs.StringVar(&o.receipts, "receipts", "", "receipt log of paid requests for crawlctl reconcile (default PAYCRAWL_RECEIPTS, else ~/.local/state/paycrawl/receipts.jsonl; off keeps none)")
	pos, err := parse(fs, args)
	if err != nil {
		return o, err
	}
	if len(pos) != 1 {
		return o, usagef("usage: crawlctl fetch URL --key key.jwk [--max-price 0.05] (crawlctl fetch -h for help)")
	}
	o.target = pos[0]
	if !strings.HasPrefix(o.target, "http://") && !strings.HasPrefix(o.target, "https://") {
		return o, usagef("fetch: %q is not an http(s) URL", o.target)
	}
	if o.maxPrice == "" && e.token == "" {
		return o, usagef("fetch: give --max-price (what you accept to pay for this page), or --token to use your profile's default max price")
	}
	return o, nil
}

// planFetch checks the rest of the flags, loads the key and reads what
// was not given (the hosted agent URL, the default max price) from the
// key directory.
func (e *env) planFetch(o fetchOpts) (*fetchPlan, error) {
	p := &fetchPlan{opts: o, dialect: deferred.Dialect(o.dialect), agentURL: o.agent}
	var err error
	if o.maxPrice != "" {
		cur := o.currency
		if cur == "" {
			cur = "USD"
		}
		if p.maxPrice, err = parseMaxPrice(o.maxPrice, cur); err != nil {
			return nil, usagef("fetch: --max-price: %v", err)
		}
	}
	if d := p.dialect; d != deferred.DialectDeferred && d != deferred.DialectX402 && d != deferred.DialectCrawlerPrice {
		return nil, usagef("fetch: --dialect %q is not deferred, x402 or crawler-price", o.dialect)
	}
	if p.logPath, err = e.receiptsPath(o.receipts); err != nil {
		return nil, usagef("fetch: %v", err)
	}
	priv, key, err := e.loadKey(o.keyPath)
	if err != nil {
		return nil, err
	}
	p.keyID = key.ID
	if err := e.fetchDefaults(p); err != nil {
		return nil, err
	}
	if p.signer, err = newFetchSigner(priv, p.agentURL, o); err != nil {
		return nil, err
	}
	return p, nil
}

// fetchDefaults reads the hosted agent URL and the profile's default max
// price when the flags do not give them.
func (e *env) fetchDefaults(p *fetchPlan) error {
	if p.agentURL == "" && e.token == "" {
		return usagef("fetch: give --agent, or --token to look up your hosted agent URL")
	}
	if p.agentURL != "" && p.opts.maxPrice != "" {
		return nil
	}
	me, err := e.client().Me(e.ctx)
	if err != nil {
		return err
	}
	if p.agentURL == "" {
		p.agentURL = me.AgentURL
	}
	if p.opts.maxPrice == "" {
		if p.maxPrice, err = profileMaxPrice(me.Billing, p.opts.currency); err != nil {
			return err
		}
	}
	return nil
}

// newFetchSigner is the signer of agentURL with the flags' profile and
// Signature-Agent form.
func newFetchSigner(priv ed25519.PrivateKey, agentURL string, o fetchOpts) (*deferred.Signer, error) {
	signer, err := deferred.NewSigner(priv, agentURL)
	if err != nil {
		return nil, err
	}
	if signer.Profile, err = deferred.ParseProfile(o.profile); err != nil {
		return nil, usagef("fetch: --profile: %v", err)
	}
	switch o.agentForm {
	case "string":
	case "dictionary":
		signer.AgentForm, signer.AgentType = deferred.AgentDictionary, o.agentType
	default:
		return nil, usagef("fetch: --agent-form %q is not string or dictionary", o.agentForm)
	}
	if o.agentType != "" && (o.agentForm != "dictionary" || !deferred.AgentType(o.agentType).Known()) {
		return nil, usagef("fetch: --agent-type %q needs --agent-form dictionary and one of directory, jwks_uri, cimd", o.agentType)
	}
	return signer, nil
}

// fetchOutput is where the body goes (--out): discarded, a file, or
// stdout, in which case the summary goes to stderr unless it is JSON
// (then only the body is printed). restore undoes it all.
func (e *env) fetchOutput(out string) (body io.Writer, restore func(), err error) {
	switch out {
	case "":
		return io.Discard, func() {}, nil
	case "-":
		stdout := e.stdout
		if e.json {
			return stdout, func() {}, nil
		}
		e.stdout = e.stderr
		return stdout, func() { e.stdout = stdout }, nil
	}
	f, err := os.Create(out)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { _ = f.Close() }, nil
}

// fetchOnce sends the request, copies the body to body and logs a paid
// attempt. refused is the refusal (any status but 2xx and 3xx), with the
// server's reason in res.Message; err is a request that failed.
func (e *env) fetchOnce(p *fetchPlan, body io.Writer) (res *fetchResult, refused, err error) {
	target := p.opts.target
	res = &fetchResult{URL: target, Agent: p.agentURL, KeyID: p.keyID, MaxPrice: p.maxPrice.String()}
	var attempt *deferred.Attempt
	tr := &deferred.Transport{
		Signer: p.signer, MaxPrice: p.maxPrice, Dialect: p.dialect, PreAuthorize: p.opts.preauth,
		OnReceipt: func(_ *http.Request, rc *deferred.Receipt) { res.Receipt = rc },
		OnAttempt: func(_ *http.Request, a *deferred.Attempt) { attempt = a },
		OnOffer: func(_ *http.Request, o *deferred.ReceivedOffer, accepted bool) {
			res.Offer = &offerJSON{Price: o.Price.Value.String(), Currency: o.Price.Currency, Dialect: string(o.Dialect), Accepted: accepted}
		},
	}
	client := &http.Client{
		Transport: tr,
		Timeout:   p.opts.timeout,
		// Each hop would be signed and could be charged: show redirects, never follow them.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(e.ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, nil, err
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		e.logAttempt(p.logPath, attempt, false, err)
		return nil, nil, fmt.Errorf("fetch %s: %w", target, err)
	}
	defer resp.Body.Close()
	// A refusal's body is kept (bounded) for its message.
	var refusal *limitedBuffer
	if resp.StatusCode/100 != 2 && resp.StatusCode/100 != 3 {
		refusal = &limitedBuffer{max: 64 << 10}
		body = io.MultiWriter(body, refusal)
	}
	n, err := io.Copy(body, resp.Body)
	e.logAttempt(p.logPath, attempt, err == nil && resp.StatusCode/100 == 2, err)
	if err != nil {
		return nil, nil, fmt.Errorf("fetch %s: reading the body: %w", target, err)
	}
	res.Status, res.Bytes, res.ContentType = resp.StatusCode, n, resp.Header.Get("Content-Type")
	res.Location, res.CrawlerError = resp.Header.Get("Location"), resp.Header.Get(deferred.HeaderCrawlerError)
	res.Elapsed = time.Since(start).Round(time.Millisecond).String()
	if rc := res.Receipt; rc != nil {
		res.Charged = &chargeJSON{Amount: rc.Charged.Value.String(), Currency: rc.Charged.Currency,
			Commitment: rc.CommitmentID, OfferID: rc.OfferID, Scheme: rc.Scheme,
			Agreement: rc.Agreement, AgreementVersion: rc.AgreementVersion, Charge: rc.Charge}
		if rc.Drawn != 0 {
			res.Charged.Drawn = rc.Drawn.String()
		}
	}
	if refusal != nil {
		refused = res.refusal(refusal.b.Bytes())
	}
	return res, refused, nil
}

// refusal sets the message of a refused fetch from its body and returns
// its error.
func (res *fetchResult) refusal(body []byte) error {
	res.Message = refusalMessage(res.Status, body)
	if res.Offer != nil && !res.Offer.Accepted {
		res.Message = fmt.Sprintf("the offer %s %s is above your max price %s: not paid", res.Offer.Currency, res.Offer.Price, res.MaxPrice)
	}
	what := fmt.Sprint(res.Status)
	if res.CrawlerError != "" {
		what += " " + res.CrawlerError
	}
	return &refusalError{class: classOfRefusal(res.Status, res.CrawlerError), msg: fmt.Sprintf("fetch %s: refused (%s): %s", res.URL, what, res.Message)}
}

// table prints the result for people.
func (res *fetchResult) table(w *tabwriter.Writer) {
	fmt.Fprintf(w, "status\t%d %s\n", res.Status, http.StatusText(res.Status))
	fmt.Fprintf(w, "bytes\t%d %s\n", res.Bytes, res.ContentType)
	if res.Location != "" {
		fmt.Fprintf(w, "location\t%s (not followed)\n", res.Location)
	}
	switch {
	case res.Charged != nil:
		fmt.Fprintf(w, "charged\t%s %s", res.Charged.Currency, res.Charged.Amount)
		if res.Charged.Commitment != "" {
			fmt.Fprintf(w, " (commitment %s)", res.Charged.Commitment)
		}
		fmt.Fprintln(w)
		if c := res.Charged; c.Agreement != "" {
			fmt.Fprintf(w, "agreement	%s version %d, charged as %s", c.Agreement, c.AgreementVersion, c.Charge)
			if c.Drawn != "" {
				fmt.Fprintf(w, ", %s %s drawn from your prepaid balance", c.Currency, c.Drawn)
			}
			fmt.Fprintln(w)
		}
	case res.Offer != nil && !res.Offer.Accepted:
		fmt.Fprintf(w, "refused offer\t%s %s, above your max price %s: not paid\n", res.Offer.Currency, res.Offer.Price, res.MaxPrice)
	default:
		fmt.Fprintln(w, "charged\tnothing")
	}
	if res.CrawlerError != "" {
		fmt.Fprintf(w, "crawler-error\t%s\n", res.CrawlerError)
	}
	if res.Message != "" {
		fmt.Fprintf(w, "message\t%s\n", res.Message)
	}
	fmt.Fprintf(w, "signed as\t%s key %s\n", res.Agent, short(res.KeyID, 12))
}

// profileMaxPrice is the billing profile's default max price, in the
// profile's currency; a --currency that differs is a usage error.
func profileMaxPrice(b *registry.BillingJSON, currency string) (money.Amount, error) {
	if b == nil {
		return money.Amount{}, usagef("fetch: no billing profile to read a default max price from: give --max-price, or set billing with crawlctl register --rail")
	}
	if currency != "" && currency != b.Currency {
		return money.Amount{}, usagef("fetch: --currency %s without --max-price, but your profile bills in %s", currency, b.Currency)
	}
	v, err := money.Parse(b.DefaultMaxPrice)
	if err != nil {
		return money.Amount{}, fmt.Errorf("fetch: the key directory sent default max price %q: %w", b.DefaultMaxPrice, err)
	}
	return money.Amount{Currency: b.Currency, Value: v}, nil
}

// limitedBuffer keeps the first max bytes written to it and drops the rest.
type limitedBuffer struct {
	b   bytes.Buffer
	max int
}

// Write implements io.Writer; it never fails, so that it can sit in an
// io.MultiWriter beside the real destination.
func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// logAttempt writes a paid attempt to the receipt log, once its body was
// read in full (delivered) or not; a request without a payment commitment
// (a nil attempt) leaves no line. A log that cannot be written is reported
// on stderr without failing the fetch.
func (e *env) logAttempt(path string, a *deferred.Attempt, delivered bool, readErr error) {
	if a == nil {
		return
	}
	r := receiptFromAttempt(a)
	r.Delivered = delivered
	if readErr != nil && r.Error == "" {
		r.Error = "reading the body: " + readErr.Error()
	}
	if err := appendReceipt(path, r); err != nil {
		fmt.Fprintf(e.stderr, "crawlctl: warning: %v: this request cannot be reconciled later\n", err)
	}
}
