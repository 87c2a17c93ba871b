package keydir

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/paycrawl/paycrawl/pkg/agreement"
)

// AgreementsResponse lists agreement versions (each in agreement's JSON
// form), by id then version; Total, on the finance list, counts agreement
// ids, and on an offers list the offers of the query, every page.
type AgreementsResponse struct {
	Agreements []agreement.Agreement `json:"agreements"`
	Total      int64                 `json:"total,omitempty"`
}

// AgreementResponse is every version of one agreement, oldest first.
type AgreementResponse struct {
	ID       string                `json:"id"`
	Versions []agreement.Agreement `json:"versions"`
}

// SettlementPeriodRequest is the body of PUT
// /v1/operators/me/settlement-period, and its answer.
type SettlementPeriodRequest struct {
	SettlementPeriod string `json:"settlement_period"`
}

// AcceptanceMessageResponse answers GET
// /v1/agreements/{id}/versions/{n}/acceptance-message: Message is the exact
// text (agreement.AcceptanceMessage) key_id signs with Ed25519; send
// Acceptance back with the signature (base64) within AcceptanceWindow, by
// ExpiresAt.
type AcceptanceMessageResponse struct {
	Message    string                   `json:"message"`
	Acceptance agreement.AcceptanceJSON `json:"acceptance"`
	ExpiresAt  string                   `json:"expires_at"`
}

func versionPath(prefix, id string, version int) string {
	return prefix + url.PathEscape(id) + "/versions/" + strconv.Itoa(version)
}

// OfferAgreement offers an agreement (publisher token): version 1 of a new
// agreement when a.ID is empty, else the next version of agreement a.ID.
// The server sets the id, version, publisher and state fields.
func (c *Client) OfferAgreement(ctx context.Context, a agreement.Agreement) (*agreement.Agreement, error) {
	path := "/v1/publishers/me/agreements"
	if a.ID != "" {
		path += "/" + url.PathEscape(a.ID)
	}
	var out agreement.Agreement
	return &out, c.do(ctx, http.MethodPost, path, a, &out)
}

// PublisherAgreements lists every version of the caller's agreements ever
// accepted (publisher token); PublisherOffers lists its offers.
func (c *Client) PublisherAgreements(ctx context.Context) (*AgreementsResponse, error) {
	var out AgreementsResponse
	return &out, c.do(ctx, http.MethodGet, "/v1/publishers/me/agreements", nil, &out)
}

// OffersQuery pages an offers list: State is offered (pending, the
// default), declined or withdrawn; Limit 0 is the server's default (100);
// Account, on the publisher's list only, narrows it to one account.
type OffersQuery struct {
	State         agreement.State
	Account       string
	Offset, Limit int
}

func (q OffersQuery) encode() string {
	v := url.Values{}
	if q.State != "" {
		v.Set("state", string(q.State))
	}
	if q.Account != "" {
		v.Set("account", q.Account)
	}
	if q.Offset != 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// PublisherOffers lists the caller's offers (publisher token): the latest
// version of each of its agreements in q.State, one page; Total counts
// them all.
func (c *Client) PublisherOffers(ctx context.Context, q OffersQuery) (*AgreementsResponse, error) {
	var out AgreementsResponse
	return &out, c.do(ctx, http.MethodGet, "/v1/publishers/me/offers"+q.encode(), nil, &out)
}

// PublisherAgreement returns every version of one of the caller's
// agreements (publisher token).
func (c *Client) PublisherAgreement(ctx context.Context, id string) (*AgreementResponse, error) {
	var out AgreementResponse
	return &out, c.do(ctx, http.MethodGet, "/v1/publishers/me/agreements/"+url.PathEscape(id), nil, &out)
}

// WithdrawAgreement withdraws an offer not yet decided (publisher token).
func (c *Client) WithdrawAgreement(ctx context.Context, id string, version int) (*agreement.Agreement, error) {
	var out agreement.Agreement
	return &out, c.do(ctx, http.MethodPost, versionPath("/v1/publishers/me/agreements/", id, version)+"/withdraw", nil, &out)
}

// Agreements lists every version the caller ever accepted (operator
// token); Offers lists the offers made to it.
func (c *Client) Agreements(ctx context.Context) (*AgreementsResponse, error) {
	var out AgreementsResponse
	return &out, c.do(ctx, http.MethodGet, "/v1/agreements", nil, &out)
}

// Offers lists the offers made to the caller (operator token): the latest
// version of each agreement in q.State (q.Account is ignored), one page;
// Total counts them all.
func (c *Client) Offers(ctx context.Context, q OffersQuery) (*AgreementsResponse, error) {
	q.Account = ""
	var out AgreementsResponse
	return &out, c.do(ctx, http.MethodGet, "/v1/offers"+q.encode(), nil, &out)
}

// Agreement returns every version of one of the caller's agreements
// (operator token).
func (c *Client) Agreement(ctx context.Context, id string) (*AgreementResponse, error) {
	var out AgreementResponse
	return &out, c.do(ctx, http.MethodGet, "/v1/agreements/"+url.PathEscape(id), nil, &out)
}

// AcceptAgreement accepts a version with an acceptance signed by one of
// the caller's keys (agreement.SignAcceptance) over that version as the
// server sent it (operator token).
func (c *Client) AcceptAgreement(ctx context.Context, id string, version int, acc agreement.Acceptance) (*agreement.Agreement, error) {
	var out agreement.Agreement
	return &out, c.do(ctx, http.MethodPost, versionPath("/v1/agreements/", id, version)+"/accept", acc.JSON(), &out)
}

// AcceptanceMessage returns the text key keyID signs now to accept a
// version (operator token); Go clients can build it themselves with
// agreement.AcceptanceMessage.
func (c *Client) AcceptanceMessage(ctx context.Context, id string, version int, keyID string) (*AcceptanceMessageResponse, error) {
	var out AcceptanceMessageResponse
	return &out, c.do(ctx, http.MethodGet, versionPath("/v1/agreements/", id, version)+"/acceptance-message?key_id="+url.QueryEscape(keyID), nil, &out)
}

// DeclineAgreement declines a version (operator token).
func (c *Client) DeclineAgreement(ctx context.Context, id string, version int) (*agreement.Agreement, error) {
	var out agreement.Agreement
	return &out, c.do(ctx, http.MethodPost, versionPath("/v1/agreements/", id, version)+"/decline", nil, &out)
}

// SetSettlementPeriod sets how often the caller is invoiced: daily, weekly
// or monthly (operator token).
func (c *Client) SetSettlementPeriod(ctx context.Context, p agreement.SettlementPeriod) (*SettlementPeriodRequest, error) {
	var out SettlementPeriodRequest
	return &out, c.do(ctx, http.MethodPut, "/v1/operators/me/settlement-period", SettlementPeriodRequest{SettlementPeriod: string(p)}, &out)
}

// AllAgreements lists every agreement, from offset, at most limit of them
// (finance or admin token).
func (c *Client) AllAgreements(ctx context.Context, offset, limit int) (*AgreementsResponse, error) {
	var out AgreementsResponse
	q := url.Values{"offset": {strconv.Itoa(offset)}, "limit": {strconv.Itoa(limit)}}
	return &out, c.do(ctx, http.MethodGet, "/v1/finance/agreements?"+q.Encode(), nil, &out)
}

// AnyAgreement returns every version of any agreement (finance or admin
// token).
func (c *Client) AnyAgreement(ctx context.Context, id string) (*AgreementResponse, error) {
	var out AgreementResponse
	return &out, c.do(ctx, http.MethodGet, "/v1/finance/agreements/"+url.PathEscape(id), nil, &out)
}
