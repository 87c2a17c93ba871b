package httpx

import (
	"bytes"
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
	"unicode"
	"unicode/utf8"
)

// Client calls a JSON API that answers as this package's servers do: it
// builds each request under BaseURL, sends the bearer token, encodes the
// request body and decodes the answer as JSON, and returns an error answer
// as an *APIError. Set it up, then use it from any number of goroutines; it
// is small enough to copy.
type Client struct {
	// BaseURL is the API's base, such as "http://127.0.0.1:8403"; a
	// trailing slash is ignored.
	BaseURL string
	// Token, when not "", is sent as "Authorization: Bearer <Token>".
	Token string
	// HTTP sends the requests; nil means http.DefaultClient.
	HTTP *http.Client
	// Timeout bounds a Call whose context has no deadline of its own; 0
	// means no bound. Do (a stream the caller reads) is never bounded by it.
	Timeout time.Duration
	// MaxResponse caps the answer a Call decodes; 0 means 4 MiB. A longer
	// answer is an error, not a truncated value.
	MaxResponse int64
	// Name begins the client's own errors (not the API's answers), such as
	// "finance client".
	Name string
	// Service names the server in the error of a request that got no
	// answer ("is the <Service> serving on host:port?"); "" adds no hint.
	Service string
}

// APIError is an error answer of a JSON API: its HTTP status and the
// {code, message, request_id} the server sent. Client never leaves Code
// empty: an answer without one gets "http_<status>".
type APIError struct {
	Status    int
	Code      string
	Message   string
	RequestID string
}

// Error says what the server said, then its code and request id.
func (e *APIError) Error() string {
	if e.Code == "" {
		return e.Message
	}
	s := e.Message + " (" + e.Code
	if e.RequestID != "" {
		s += ", request " + e.RequestID
	}
	return s + ")"
}

// IsAPICode reports whether err is, or wraps, an *APIError with code.
func IsAPICode(err error, code string) bool {
	var e *APIError
	return errors.As(err, &e) && e.Code == code
}

const (
	// defaultMaxResponse is MaxResponse's zero value.
	defaultMaxResponse = 4 << 20
	// maxErrorBody caps the error answer read for its code and message.
	maxErrorBody = 1 << 20
	// maxErrorText caps the text of an error answer that is not JSON.
	maxErrorText = 256
)

// Call sends a request to path (already escaped; it may carry a query, to
// which q is added), with in encoded as JSON unless nil, and decodes a 2xx
// answer into out unless out is nil.
func (c *Client) Call(ctx context.Context, method, path string, q url.Values, in, out any) error {
	if _, ok := ctx.Deadline(); !ok && c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	resp, err := c.Do(ctx, method, path, q, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	limit := c.MaxResponse
	if limit <= 0 {
		limit = defaultMaxResponse
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return c.errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if int64(len(raw)) > limit {
		return c.errorf("%s %s: the answer is over %d bytes", method, path, limit)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return c.errorf("%s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// Do sends a request as Call does and returns a 2xx response, whose body
// the caller reads and closes; any other answer is returned as an
// *APIError, its body read and closed.
func (c *Client) Do(ctx context.Context, method, path string, q url.Values, in any) (*http.Response, error) {
	req, err := c.request(ctx, method, path, q, in)
	if err != nil {
		return nil, err
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		hint := ""
		if c.Service != "" {
			hint = fmt.Sprintf(" (is the %s serving on %s?)", c.Service, req.URL.Host)
		}
		return nil, c.errorf("%s %s: %w%s", method, path, err, hint)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return nil, errorFromAnswer(method, path, resp.StatusCode, resp.Header, body)
}

// request builds the request Do sends.
func (c *Client) request(ctx context.Context, method, path string, q url.Values, in any) (*http.Request, error) {
	// path is already escaped (url.PathEscape of ids): join strings, so
	// that nothing is escaped twice.
	target := strings.TrimRight(c.BaseURL, "/") + path
	if len(q) > 0 {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		target += sep + q.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, c.errorf("%s %s: encoding the request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, c.errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}

func (c *Client) errorf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	if c.Name == "" {
		return err
	}
	return fmt.Errorf("%s: %w", c.Name, err)
}

// errorFromAnswer is the *APIError of a non-2xx answer to method path with
// its header and (capped) body: the body's {code, message, request_id}
// when it is such JSON, else code "http_<status>" and a message naming the
// request, the status and the start of the body, made printable. A missing
// request id is taken from the X-Request-Id header.
func errorFromAnswer(method, path string, status int, h http.Header, body []byte) *APIError {
	e := &APIError{Status: status, RequestID: h.Get("X-Request-Id")}
	var eb ErrorBody
	if json.Unmarshal(body, &eb) == nil && (eb.Code != "" || eb.Message != "") {
		e.Code, e.Message = eb.Code, eb.Message
		if eb.RequestID != "" {
			e.RequestID = eb.RequestID
		}
	} else {
		e.Message = fmt.Sprintf("%s %s: HTTP %d", method, path, status)
		if text := printable(body, maxErrorText); text != "" {
			e.Message += ": " + text
		}
	}
	if e.Code == "" {
		e.Code = "http_" + strconv.Itoa(status)
	}
	return e
}

// printable returns b as trimmed valid UTF-8 of at most max bytes (then
// "…"), control characters replaced by spaces, so that an error page of a
// proxy can neither flood nor steer a terminal.
func printable(b []byte, max int) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
