package keydir

import (
	"context"
	"net/http"
	"net/url"
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
	// HTTPClient sends the requests; nil means http.DefaultClient. Either
	// way a call whose context has no deadline is bounded at 30 s.
	HTTPClient *http.Client
}

// APIError is an error answer of the API: its status and {code, message,
// request_id}; an answer without a code gets "http_<status>".
type APIError = httpx.APIError

// maxResponse caps a response body the client reads.
const maxResponse = 4 << 20

// callTimeout bounds a call whose context has no deadline.
const callTimeout = 30 * time.Second

// do sends in (nil for no body) to path, which may carry a query, and
// decodes the answer into out (nil to drop it).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	api := httpx.Client{BaseURL: c.BaseURL, Token: c.Token, HTTP: c.HTTPClient, Timeout: callTimeout,
		MaxResponse: maxResponse, Name: "key directory client", Service: "key directory"}
	return api.Call(ctx, method, path, nil, in, out)
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
func IsCode(err error, code string) bool { return httpx.IsAPICode(err, code) }
