package keydir

import (
	"context"
	"net/http"
	"net/url"

	"github.com/paycrawl/paycrawl/pkg/registry"
)

// PublisherCreateRequest is the body of POST /v1/admin/publishers. ID is
// the publisher id the gateway's sites name (sites[].publisher); "" mints
// one. Amounts are decimal strings.
type PublisherCreateRequest struct {
	ID            string               `json:"id,omitempty"`
	Name          string               `json:"name"`
	Contact       string               `json:"contact"`
	Payout        *registry.PayoutJSON `json:"payout,omitempty"`
	MinimumPayout string               `json:"minimum_payout,omitempty"`
	FeeBPS        int64                `json:"fee_bps"`
	// Hosts are the hosts the publisher may sell agreements for, each
	// held by one publisher only (409 host_taken otherwise).
	Hosts []string `json:"hosts,omitempty"`
}

// PublisherCreateResponse answers a creation. Token is shown this once.
type PublisherCreateResponse struct {
	Publisher registry.PublisherJSON `json:"publisher"`
	Token     string                 `json:"token"`
	Warning   string                 `json:"warning"`
}

// PublisherPatchRequest is the body of PATCH /v1/publishers/{id}: absent
// fields stay as they are. FeeBPS and Hosts are for the admin token only;
// Hosts replaces the publisher's hosts ([] removes them all).
type PublisherPatchRequest struct {
	Name          *string              `json:"name,omitempty"`
	Contact       *string              `json:"contact,omitempty"`
	Payout        *registry.PayoutJSON `json:"payout,omitempty"`
	MinimumPayout *string              `json:"minimum_payout,omitempty"`
	FeeBPS        *int64               `json:"fee_bps,omitempty"`
	Hosts         *[]string            `json:"hosts,omitempty"`
}

// PublishersResponse answers GET /v1/admin/publishers.
type PublishersResponse struct {
	Publishers []registry.PublisherJSON `json:"publishers"`
}

// PublisherTokenResponse answers POST /v1/admin/publishers/{id}/token.
type PublisherTokenResponse struct {
	Publisher string `json:"publisher"`
	Token     string `json:"token"`
	Warning   string `json:"warning"`
}

// CreatePublisher creates a publisher account (admin token).
func (c *Client) CreatePublisher(ctx context.Context, req PublisherCreateRequest) (*PublisherCreateResponse, error) {
	var out PublisherCreateResponse
	return &out, c.do(ctx, http.MethodPost, "/v1/admin/publishers", req, &out)
}

// Publishers lists the publisher accounts (admin token).
func (c *Client) Publishers(ctx context.Context) (*PublishersResponse, error) {
	var out PublishersResponse
	return &out, c.do(ctx, http.MethodGet, "/v1/admin/publishers", nil, &out)
}

// Publisher returns a publisher account: "me" is the caller's (publisher
// token); any id with the admin token.
func (c *Client) Publisher(ctx context.Context, id string) (*registry.PublisherJSON, error) {
	var out registry.PublisherJSON
	return &out, c.do(ctx, http.MethodGet, "/v1/publishers/"+url.PathEscape(id), nil, &out)
}

// UpdatePublisher edits a publisher account.
func (c *Client) UpdatePublisher(ctx context.Context, id string, req PublisherPatchRequest) (*registry.PublisherJSON, error) {
	var out registry.PublisherJSON
	return &out, c.do(ctx, http.MethodPatch, "/v1/publishers/"+url.PathEscape(id), req, &out)
}

// PayoutWalletClaim returns the message wallet signs to receive publisher
// id's payouts.
func (c *Client) PayoutWalletClaim(ctx context.Context, id, wallet string) (*WalletClaimResponse, error) {
	var out WalletClaimResponse
	return &out, c.do(ctx, http.MethodGet, "/v1/publishers/"+url.PathEscape(id)+"/payout/wallet-proof?wallet="+url.QueryEscape(wallet), nil, &out)
}

// RotatePublisherToken gives a publisher a new token (admin token).
func (c *Client) RotatePublisherToken(ctx context.Context, id string) (*PublisherTokenResponse, error) {
	var out PublisherTokenResponse
	return &out, c.do(ctx, http.MethodPost, "/v1/admin/publishers/"+url.PathEscape(id)+"/token", nil, &out)
}
