package keydir

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

// Client is a typed client of the key directory API.
type Client struct {
	// BaseURL is the service's base URL, such as "http://127.0.0.1:8403".
	BaseURL string
	// Token is the operator's API token, sent as a bearer token.
	Token string
	// HTTPClient sends the requests; nil means a client with a 30 s timeout.
	HTTPClient *http.Client
}

// APIError is an error answer of the API.
type APIError struct {
	Status    int
	Code      string
	Message   string
	RequestID string
}

// Error implements error.
func (e *APIError) Error() string {
	s := fmt.Sprintf("%s (%d): %s", e.Code, e.Status, e.Message)
	if e.RequestID != "" {
		s += " [request " + e.RequestID + "]"
	}
	return s
}

// maxResponse caps a response body the client reads.
const maxResponse = 4 << 20

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var eb httpx.ErrorBody
		if json.Unmarshal(raw, &eb) != nil || eb.Code == "" {
			return &APIError{Status: resp.StatusCode, Code: "http_" + fmt.Sprint(resp.StatusCode), Message: strings.TrimSpace(string(raw))}
		}
		return &APIError{Status: resp.StatusCode, Code: eb.Code, Message: eb.Message, RequestID: eb.RequestID}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("api: %s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// SignUp creates an operator. The token in the answer is shown only once.
func (c *Client) SignUp(ctx context.Context, name, contact string) (*SignUpResponse, error) {
	var out SignUpResponse
	return &out, c.do(ctx, http.MethodPost, "/v1/operators", SignUpRequest{Name: name, Contact: contact}, &out)
}

// Me returns the caller's operator.
func (c *Client) Me(ctx context.Context) (*OperatorJSON, error) {
	var out OperatorJSON
	return &out, c.do(ctx, http.MethodGet, "/v1/operators/me", nil, &out)
}

// SetBilling sets the billing profile.
func (c *Client) SetBilling(ctx context.Context, b registry.BillingJSON) (*BillingResponse, error) {
	var out BillingResponse
	return &out, c.do(ctx, http.MethodPut, "/v1/operators/me/billing", b, &out)
}

// WalletClaim returns the message wallet signs to pay for the caller, with
// the key directory's chain id and settler address and the time now. Check
// the fields before signing: registry.WalletClaim.Message rebuilds the
// message from them.
func (c *Client) WalletClaim(ctx context.Context, wallet string) (*WalletClaimResponse, error) {
	var out WalletClaimResponse
	return &out, c.do(ctx, http.MethodGet, "/v1/operators/me/billing/wallet-proof?wallet="+url.QueryEscape(wallet), nil, &out)
}

// RegisterKey registers a key with its proof of possession.
func (c *Client) RegisterKey(ctx context.Context, p registry.Proof) (*KeyJSON, error) {
	var out KeyJSON
	return &out, c.do(ctx, http.MethodPost, "/v1/keys", p, &out)
}

// RotateKey registers a key and rotates the active ones.
func (c *Client) RotateKey(ctx context.Context, req RotateRequest) (*RotateResponse, error) {
	var out RotateResponse
	return &out, c.do(ctx, http.MethodPost, "/v1/keys/rotate", req, &out)
}

// Keys lists the caller's keys.
func (c *Client) Keys(ctx context.Context) ([]KeyJSON, error) {
	var out KeysResponse
	return out.Keys, c.do(ctx, http.MethodGet, "/v1/keys", nil, &out)
}

// AddDirectoryProof stores a directory proof for one of the caller's keys
// (registry.SignDirectoryProof), for a key registered without one or to
// renew it.
func (c *Client) AddDirectoryProof(ctx context.Context, keyID string, p registry.DirectoryProof) (*KeyJSON, error) {
	var out KeyJSON
	return &out, c.do(ctx, http.MethodPost, "/v1/keys/"+url.PathEscape(keyID)+"/directory-proof", p, &out)
}

// RevokeKey revokes a key.
func (c *Client) RevokeKey(ctx context.Context, keyID string) (*KeyJSON, error) {
	var out KeyJSON
	return &out, c.do(ctx, http.MethodDelete, "/v1/keys/"+url.PathEscape(keyID), nil, &out)
}

// RegisterAgent registers an external agent URL.
func (c *Client) RegisterAgent(ctx context.Context, agentURL string) (*AgentJSON, error) {
	var out AgentJSON
	return &out, c.do(ctx, http.MethodPost, "/v1/agents", AgentRequest{URL: agentURL}, &out)
}

// Agents lists the caller's agents.
func (c *Client) Agents(ctx context.Context) ([]AgentJSON, error) {
	var out AgentsResponse
	return out.Agents, c.do(ctx, http.MethodGet, "/v1/agents", nil, &out)
}

// Usage returns the caller's usage and invoices for a day ("" for today).
func (c *Client) Usage(ctx context.Context, day string) (*UsageResponse, error) {
	var out UsageResponse
	path := "/v1/usage"
	if day != "" {
		path += "?day=" + url.QueryEscape(day)
	}
	return &out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// Commitments calls fn with each of the operator's commitments of day
// ("" for today, UTC), in the order recorded, reading them page by page.
// An error from fn stops the reading and is returned.
func (c *Client) Commitments(ctx context.Context, day string, fn func(CommitmentJSON) error) error {
	after := ""
	for {
		q := url.Values{}
		if day != "" {
			q.Set("day", day)
		}
		if after != "" {
			q.Set("after", after)
		}
		q.Set("limit", "1000")
		var page CommitmentsResponse
		if err := c.do(ctx, http.MethodGet, "/v1/usage/commitments?"+q.Encode(), nil, &page); err != nil {
			return err
		}
		for _, cm := range page.Commitments {
			if err := fn(cm); err != nil {
				return err
			}
		}
		if page.Next == "" || page.Next == after {
			return nil
		}
		after = page.Next
	}
}

// IsCode reports whether err is an APIError with the given code.
func IsCode(err error, code string) bool {
	var e *APIError
	return errors.As(err, &e) && e.Code == code
}
