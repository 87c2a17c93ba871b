package main

import (
	"bytes"
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

func cmdFetch(e *env, args []string) error {
	fs := e.flags("fetch")
	keyPath := fs.String("key", "", "private JWK to sign with")
	maxPriceS := fs.String("max-price", "", "most this page may cost, such as 0.05 (or \"USD 0.05\"); default: your billing profile's default max price (needs --token)")
	currency := fs.String("currency", "", "currency of --max-price (default: your billing profile's, else USD)")
	dialect := fs.String("dialect", "deferred", "how to answer offers: deferred, x402 or crawler-price")
	preauth := fs.Bool("preauthorize", false, "send crawler-max-price on the first request, skipping the 402")
	agent := fs.String("agent", "", "Signature-Agent URL (default: your hosted agent, looked up with --token)")
	agentForm := fs.String("agent-form", "string", "Signature-Agent form: string (\"https://…\", what Cloudflare verifies) or dictionary (sig1=\"https://…\";type=…)")
	agentType := fs.String("agent-type", "", "type parameter of the dictionary form: directory, jwks_uri or cimd (default none, read as directory)")
	profile := fs.String("profile", "reference", "what to sign: reference (@authority, signature-agent, the payment header) or strict (adds @method and @path)")
	out := fs.String("out", "", "write the body to this file (- for stdout); default: discard")
	timeout := fs.Duration("timeout", 60*time.Second, "whole-request timeout")
	receipts := fs.String("receipts", "", "receipt log of paid requests for crawlctl reconcile (default PAYCRAWL_RECEIPTS, else ~/.local/state/paycrawl/receipts.jsonl; off keeps none)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: crawlctl fetch URL --key key.jwk [--max-price 0.05] (crawlctl fetch -h for help)")
	}
	target := pos[0]
	if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		return usagef("fetch: %q is not an http(s) URL", target)
	}
	if *maxPriceS == "" && e.token == "" {
		return usagef("fetch: give --max-price (what you accept to pay for this page), or --token to use your profile's default max price")
	}
	var maxPrice money.Amount
	if *maxPriceS != "" {
		cur := *currency
		if cur == "" {
			cur = "USD"
		}
		if maxPrice, err = parseMaxPrice(*maxPriceS, cur); err != nil {
			return usagef("fetch: --max-price: %v", err)
		}
	}
	d := deferred.Dialect(*dialect)
	if d != deferred.DialectDeferred && d != deferred.DialectX402 && d != deferred.DialectCrawlerPrice {
		return usagef("fetch: --dialect %q is not deferred, x402 or crawler-price", *dialect)
	}
	logPath, err := e.receiptsPath(*receipts)
	if err != nil {
		return usagef("fetch: %v", err)
	}
	priv, key, err := e.loadKey(*keyPath)
	if err != nil {
		return err
	}
	agentURL := *agent
	if agentURL == "" && e.token == "" {
		return usagef("fetch: give --agent, or --token to look up your hosted agent URL")
	}
	if agentURL == "" || *maxPriceS == "" {
		me, err := e.client().Me(e.ctx)
		if err != nil {
			return err
		}
		if agentURL == "" {
			agentURL = me.AgentURL
		}
		if *maxPriceS == "" {
			if maxPrice, err = profileMaxPrice(me.Billing, *currency); err != nil {
				return err
			}
		}
	}
	signer, err := deferred.NewSigner(priv, agentURL)
	if err != nil {
		return err
	}
	if signer.Profile, err = deferred.ParseProfile(*profile); err != nil {
		return usagef("fetch: --profile: %v", err)
	}
	switch *agentForm {
	case "string":
	case "dictionary":
		signer.AgentForm, signer.AgentType = deferred.AgentDictionary, *agentType
	default:
		return usagef("fetch: --agent-form %q is not string or dictionary", *agentForm)
	}
	if *agentType != "" && (*agentForm != "dictionary" || !deferred.AgentType(*agentType).Known()) {
		return usagef("fetch: --agent-type %q needs --agent-form dictionary and one of directory, jwks_uri, cimd", *agentType)
	}
	res := &fetchResult{URL: target, Agent: agentURL, KeyID: key.ID, MaxPrice: maxPrice.String()}
	var attempt *deferred.Attempt
	tr := &deferred.Transport{
		Signer: signer, MaxPrice: maxPrice, Dialect: d, PreAuthorize: *preauth,
		OnReceipt: func(_ *http.Request, rc *deferred.Receipt) { res.Receipt = rc },
		OnAttempt: func(_ *http.Request, a *deferred.Attempt) { attempt = a },
		OnOffer: func(_ *http.Request, o *deferred.ReceivedOffer, accepted bool) {
			res.Offer = &offerJSON{Price: o.Price.Value.String(), Currency: o.Price.Currency, Dialect: string(o.Dialect), Accepted: accepted}
		},
	}
	client := &http.Client{
		Transport: tr,
		Timeout:   *timeout,
		// Each hop would be signed and could be charged: show redirects, never follow them.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(e.ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		e.logAttempt(logPath, attempt, false, err)
		return fmt.Errorf("fetch %s: %w", target, err)
	}
	defer resp.Body.Close()
	var body io.Writer = io.Discard
	if *out == "-" {
		body = e.stdout
		if !e.json {
			defer func(w io.Writer) { e.stdout = w }(e.stdout)
			e.stdout = e.stderr // the summary goes to stderr when the body takes stdout
		}
	} else if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		body = f
	}
	// A refusal's body is kept (bounded) for its message.
	var refusal *limitedBuffer
	if resp.StatusCode/100 != 2 && resp.StatusCode/100 != 3 {
		refusal = &limitedBuffer{max: 64 << 10}
		body = io.MultiWriter(body, refusal)
	}
	n, err := io.Copy(body, resp.Body)
	e.logAttempt(logPath, attempt, err == nil && resp.StatusCode/100 == 2, err)
	if err != nil {
		return fmt.Errorf("fetch %s: reading the body: %w", target, err)
	}
	res.Status, res.Bytes, res.ContentType = resp.StatusCode, n, resp.Header.Get("Content-Type")
	res.Location, res.CrawlerError = resp.Header.Get("Location"), resp.Header.Get(deferred.HeaderCrawlerError)
	res.Elapsed = time.Since(start).Round(time.Millisecond).String()
	var refused error
	if refusal != nil {
		res.Message = refusalMessage(resp.StatusCode, refusal.b.Bytes())
		if res.Offer != nil && !res.Offer.Accepted {
			res.Message = fmt.Sprintf("the offer %s %s is above your max price %s: not paid", res.Offer.Currency, res.Offer.Price, res.MaxPrice)
		}
		what := fmt.Sprint(resp.StatusCode)
		if res.CrawlerError != "" {
			what += " " + res.CrawlerError
		}
		refused = &refusalError{class: classOfRefusal(resp.StatusCode, res.CrawlerError), msg: fmt.Sprintf("fetch %s: refused (%s): %s", target, what, res.Message)}
	}
	if rc := res.Receipt; rc != nil {
		res.Charged = &chargeJSON{Amount: rc.Charged.Value.String(), Currency: rc.Charged.Currency,
			Commitment: rc.CommitmentID, OfferID: rc.OfferID, Scheme: rc.Scheme}
	}
	if *out == "-" && e.json {
		return refused // stdout holds the body
	}
	if err := e.emit(res, func(w *tabwriter.Writer) {
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
	}); err != nil {
		return err
	}
	return refused
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
