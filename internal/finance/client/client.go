// Package client is a typed client of the finance API that the settler
// serves (internal/finance): what `settler invoices …` uses.
package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/internal/finance/wire"
	"github.com/paycrawl/paycrawl/internal/httpx"
)

// DefaultURL is the settler's default finance address.
const DefaultURL = "http://127.0.0.1:8404"

// callTimeout bounds a call that is not a stream, when the caller's context
// has no deadline of its own.
const callTimeout = 30 * time.Second

// maxAnswer caps an answer that is decoded (a day's invoice list is the
// largest).
const maxAnswer = 64 << 20

// Client calls the finance API with a bearer token. It is safe for
// concurrent use.
type Client struct {
	api httpx.Client
	// HTTP sends the requests; New sets one without an overall timeout
	// (exports and audits stream for as long as they need; calls that are
	// not streams get callTimeout through their context).
	HTTP *http.Client
}

// Error is an error the API answered: its status and {code, message,
// request_id}.
type Error = httpx.APIError

// New returns a client of the API at baseURL (http or https, e.g.
// DefaultURL) with a bearer token.
func New(baseURL, token string) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("finance client: URL %q: want http(s)://host:port", baseURL)
	}
	if token == "" {
		return nil, errors.New("finance client: a token is required")
	}
	api := httpx.Client{BaseURL: u.String(), Token: token, Timeout: callTimeout, MaxResponse: maxAnswer,
		Name: "finance client", Service: "settler"}
	return &Client{api: api, HTTP: &http.Client{}}, nil
}

// Invoices lists a day's invoices ("" day: the latest day with
// invoices), optionally of one status.
func (c *Client) Invoices(ctx context.Context, day, status string) (*wire.InvoiceList, error) {
	q := url.Values{}
	if day != "" {
		q.Set("day", day)
	}
	if status != "" {
		q.Set("status", status)
	}
	var out wire.InvoiceList
	return &out, c.call(ctx, http.MethodGet, "/v1/invoices", q, nil, &out)
}

// Queue lists what needs a person (failed, held, pending, drafts in
// review) from day from to day to ("" for the last 31 days up to today),
// the most urgent first.
func (c *Client) Queue(ctx context.Context, from, to string) (*wire.Queue, error) {
	q := url.Values{}
	if from != "" {
		q.Set("from", from)
	}
	if to != "" {
		q.Set("to", to)
	}
	var out wire.Queue
	return &out, c.call(ctx, http.MethodGet, "/v1/queue", q, nil, &out)
}

// Invoice reads one invoice with its lines, history and attempts.
func (c *Client) Invoice(ctx context.Context, id string) (*wire.Invoice, error) {
	var out wire.Invoice
	return &out, c.call(ctx, http.MethodGet, "/v1/invoices/"+url.PathEscape(id), nil, nil, &out)
}

// Hold holds an invoice; a reason is required.
func (c *Client) Hold(ctx context.Context, id, reason string) (*wire.ActionResult, error) {
	return c.action(ctx, id, "hold", reason)
}

// Release returns a held invoice to draft.
func (c *Client) Release(ctx context.Context, id, reason string) (*wire.ActionResult, error) {
	return c.action(ctx, id, "release", reason)
}

// Void voids an invoice; a reason is required.
func (c *Client) Void(ctx context.Context, id, reason string) (*wire.ActionResult, error) {
	return c.action(ctx, id, "void", reason)
}

// Approve approves a checked draft before its review window ends.
func (c *Client) Approve(ctx context.Context, id, reason string) (*wire.ActionResult, error) {
	return c.action(ctx, id, "approve", reason)
}

// Payouts lists publishers' payouts, newest first, optionally of one
// status ("" for all) and one publisher ("" for all).
func (c *Client) Payouts(ctx context.Context, status, publisher string) (*wire.PayoutList, error) {
	q := url.Values{}
	if status != "" {
		q.Set("status", status)
	}
	if publisher != "" {
		q.Set("publisher", publisher)
	}
	var out wire.PayoutList
	return &out, c.call(ctx, http.MethodGet, "/v1/payouts", q, nil, &out)
}

// Payout reads one payout with its history.
func (c *Client) Payout(ctx context.Context, id string) (*wire.Payout, error) {
	var out wire.Payout
	return &out, c.call(ctx, http.MethodGet, "/v1/payouts/"+url.PathEscape(id), nil, nil, &out)
}

// PayoutAction holds, releases or cancels a payout (action "hold",
// "release", "cancel"); a reason is required.
func (c *Client) PayoutAction(ctx context.Context, id, action, reason string) (*wire.PayoutActionResult, error) {
	var out wire.PayoutActionResult
	err := c.call(ctx, http.MethodPost, "/v1/payouts/"+url.PathEscape(id)+"/"+url.PathEscape(action), nil, wire.ActionRequest{Reason: reason}, &out)
	return &out, err
}

func (c *Client) action(ctx context.Context, id, action, reason string) (*wire.ActionResult, error) {
	var out wire.ActionResult
	err := c.call(ctx, http.MethodPost, "/v1/invoices/"+url.PathEscape(id)+"/"+action, nil, wire.ActionRequest{Reason: reason}, &out)
	return &out, err
}

// Credit sets the credit of line n (from 1) to amount, a decimal string
// ("0.25"; "0" removes it); a reason is required.
func (c *Client) Credit(ctx context.Context, id string, n int, amount, reason string) (*wire.ActionResult, error) {
	var out wire.ActionResult
	path := "/v1/invoices/" + url.PathEscape(id) + "/lines/" + strconv.Itoa(n) + "/credit"
	err := c.call(ctx, http.MethodPost, path, nil, wire.CreditRequest{Amount: amount, Reason: reason}, &out)
	return &out, err
}

// Refund refunds amount of paid invoice id ("" for all that is left),
// with a reason.
func (c *Client) Refund(ctx context.Context, id, amount, reason string) (*wire.ActionResult, error) {
	var out wire.ActionResult
	err := c.call(ctx, http.MethodPost, "/v1/invoices/"+url.PathEscape(id)+"/refund", nil,
		wire.RefundRequest{Amount: amount, Reason: reason}, &out)
	return &out, err
}

// TopUp buys prepaid credit for a crawler now (POST /v1/topups): charged
// on its rail, credited once paid; the same req.ID again charges nothing
// twice.
func (c *Client) TopUp(ctx context.Context, req wire.TopUpRequest) (*wire.TopUpResult, error) {
	var out wire.TopUpResult
	err := c.call(ctx, http.MethodPost, "/v1/topups", nil, req, &out)
	return &out, err
}

// Summary reads a day's summary.
func (c *Client) Summary(ctx context.Context, day string) (*wire.Summary, error) {
	var out wire.Summary
	return &out, c.call(ctx, http.MethodGet, "/v1/days/"+url.PathEscape(day)+"/summary", nil, nil, &out)
}

// ExportDay copies the CSV of a day's invoices (optionally of one status)
// to w.
func (c *Client) ExportDay(ctx context.Context, day, status string, w io.Writer) error {
	q := url.Values{}
	if status != "" {
		q.Set("status", status)
	}
	return c.download(ctx, "/v1/days/"+url.PathEscape(day)+"/invoices.csv", q, w)
}

// ExportCommitments copies the CSV of an invoice's commitments to w, as it
// streams.
func (c *Client) ExportCommitments(ctx context.Context, id string, w io.Writer) error {
	return c.download(ctx, "/v1/invoices/"+url.PathEscape(id)+"/commitments.csv", nil, w)
}

func (c *Client) download(ctx context.Context, path string, q url.Values, w io.Writer) error {
	resp, err := c.do(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	return err
}

// AuditHooks receive an audit's records as they stream; nil ones are
// skipped.
type AuditHooks struct {
	Failure  func(wire.AuditFailure)
	Progress func(wire.AuditProgress)
}

// Audit runs the audit of an invoice and returns its summary, calling the
// hooks for each failed commitment and progress record as they arrive.
func (c *Client) Audit(ctx context.Context, id string, h AuditHooks) (*wire.AuditSummary, error) {
	resp, err := c.do(ctx, http.MethodGet, "/v1/invoices/"+url.PathEscape(id)+"/audit", nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(line, &head); err != nil {
			return nil, fmt.Errorf("finance client: audit stream: %w", err)
		}
		switch head.Type {
		case wire.AuditTypeFailure:
			var f wire.AuditFailure
			if err := json.Unmarshal(line, &f); err != nil {
				return nil, fmt.Errorf("finance client: audit failure record: %w", err)
			}
			if h.Failure != nil {
				h.Failure(f)
			}
		case wire.AuditTypeProgress:
			var p wire.AuditProgress
			if err := json.Unmarshal(line, &p); err == nil && h.Progress != nil {
				h.Progress(p)
			}
		case wire.AuditTypeSummary:
			var s wire.AuditSummary
			if err := json.Unmarshal(line, &s); err != nil {
				return nil, fmt.Errorf("finance client: audit summary: %w", err)
			}
			return &s, nil
		case wire.AuditTypeError:
			var e wire.AuditError
			_ = json.Unmarshal(line, &e)
			return nil, &Error{Status: resp.StatusCode, Code: e.Code, Message: "the audit stopped: " + e.Message,
				RequestID: resp.Header.Get("X-Request-Id")}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("finance client: audit stream: %w", err)
	}
	return nil, errors.New("finance client: the audit stream ended before its summary")
}

// call sends a JSON request (body nil for none) and decodes the answer.
func (c *Client) call(ctx context.Context, method, path string, q url.Values, body, out any) error {
	return c.jsonClient().Call(ctx, method, path, q, body, out)
}

// do sends a request and returns a 2xx response, or the API's error.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body any) (*http.Response, error) {
	return c.jsonClient().Do(ctx, method, path, q, body)
}

// jsonClient is the JSON client that sends through c.HTTP (which a caller may
// have replaced since New).
func (c *Client) jsonClient() *httpx.Client {
	api := c.api
	api.HTTP = c.HTTP
	return &api
}
