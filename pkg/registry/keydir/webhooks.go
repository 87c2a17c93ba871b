package keydir

import (
	"context"
	"net/http"
	"net/url"

	"github.com/paycrawl/paycrawl/pkg/webhook"
)

// WebhookRequest is the body of POST /v1/operators/me/webhooks.
type WebhookRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events,omitempty"`
}

// WebhooksResponse answers GET /v1/operators/me/webhooks: the event types
// an operator's endpoint may receive, and its endpoints (without secrets).
type WebhooksResponse struct {
	Events    []string           `json:"events"`
	Endpoints []webhook.Endpoint `json:"endpoints"`
}

// DeliveriesResponse answers GET /v1/operators/me/webhooks/{id}/deliveries.
type DeliveriesResponse struct {
	Endpoint   string            `json:"endpoint"`
	Deliveries []webhook.Attempt `json:"deliveries"`
}

// AddWebhook registers an endpoint for the caller's events (all of them
// when events is empty). The answer holds its secret, shown only here.
func (c *Client) AddWebhook(ctx context.Context, endpointURL string, events []string) (*webhook.Endpoint, error) {
	var out webhook.Endpoint
	return &out, c.do(ctx, http.MethodPost, "/v1/operators/me/webhooks", WebhookRequest{URL: endpointURL, Events: events}, &out)
}

// Webhooks lists the caller's endpoints.
func (c *Client) Webhooks(ctx context.Context) (*WebhooksResponse, error) {
	var out WebhooksResponse
	return &out, c.do(ctx, http.MethodGet, "/v1/operators/me/webhooks", nil, &out)
}

// RemoveWebhook removes one of the caller's endpoints.
func (c *Client) RemoveWebhook(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/operators/me/webhooks/"+url.PathEscape(id), nil, nil)
}

// WebhookDeliveries is an endpoint's delivery log, newest first.
func (c *Client) WebhookDeliveries(ctx context.Context, id string) (*DeliveriesResponse, error) {
	var out DeliveriesResponse
	return &out, c.do(ctx, http.MethodGet, "/v1/operators/me/webhooks/"+url.PathEscape(id)+"/deliveries", nil, &out)
}
