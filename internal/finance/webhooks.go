package finance

import (
	"errors"
	"net/http"
	"strings"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/webhook"
)

// WebhookOwner owns the finance team's webhook endpoints in the store.
const WebhookOwner = "finance"

// Finance event types, as pkg/webhook names them.
const (
	EventInvoiceDrafted  = webhook.EventInvoiceDrafted
	EventInvoiceHeld     = webhook.EventInvoiceHeld
	EventInvoicePaid     = webhook.EventInvoicePaid
	EventInvoiceFailed   = webhook.EventInvoiceFailed
	EventInvoiceVoided   = webhook.EventInvoiceVoided
	EventInvoiceRefunded = webhook.EventInvoiceRefunded
)

// FinanceEvents are the event types finance endpoints receive.
var FinanceEvents = webhook.FinanceEvents

// webhookRequest is the body of POST /v1/webhooks.
type webhookRequest struct {
	URL string `json:"url"`
	// Events are the types to receive; empty means all of FinanceEvents.
	Events []string `json:"events"`
}

// webhookList answers GET /v1/webhooks.
type webhookList struct {
	Events    []string           `json:"events"`
	Endpoints []webhook.Endpoint `json:"endpoints"`
}

// webhookLog answers GET /v1/webhooks/{id}/deliveries.
type webhookLog struct {
	Endpoint   string            `json:"endpoint"`
	Deliveries []webhook.Attempt `json:"deliveries"`
}

// webhookRoutes registers the webhook endpoints' API.
func (s *Server) webhookRoutes(mux *http.ServeMux) {
	mux.Handle("GET /v1/webhooks", s.api(false, s.listWebhooks))
	mux.Handle("POST /v1/webhooks", s.api(true, s.addWebhook))
	mux.Handle("DELETE /v1/webhooks/{id}", s.api(true, s.removeWebhook))
	mux.Handle("GET /v1/webhooks/{id}/deliveries", s.api(false, s.webhookDeliveries))
}

func (s *Server) needWebhooks() error {
	if s.webhooks == nil {
		return httpx.Errorf(http.StatusNotFound, codeNotFound, "webhooks are not configured on this settler")
	}
	return nil
}

// webhookError maps the store's errors to coded answers.
func webhookError(err error) error {
	switch {
	case errors.Is(err, webhook.ErrInvalid):
		return badRequest("%s", strings.TrimPrefix(err.Error(), "webhook: "))
	case errors.Is(err, webhook.ErrNotFound):
		return httpx.Errorf(http.StatusNotFound, codeNotFound, "no such webhook endpoint")
	}
	return err
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, _ principal) error {
	if err := s.needWebhooks(); err != nil {
		return err
	}
	eps, err := s.webhooks.Endpoints(r.Context(), WebhookOwner)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, webhookList{Events: FinanceEvents, Endpoints: eps})
	return nil
}

func (s *Server) addWebhook(w http.ResponseWriter, r *http.Request, p principal) error {
	if err := s.needWebhooks(); err != nil {
		return err
	}
	var req webhookRequest
	if err := httpx.DecodeJSON(w, r, maxBody, &req); err != nil {
		return err
	}
	ep, err := s.webhooks.AddEndpoint(r.Context(), WebhookOwner, strings.TrimSpace(req.URL), req.Events, FinanceEvents)
	if err != nil {
		return webhookError(err)
	}
	s.log.Info("finance: webhook endpoint added", "endpoint", ep.ID, "url", ep.URL, "actor", p.Name)
	httpx.WriteJSON(w, http.StatusCreated, ep)
	return nil
}

func (s *Server) removeWebhook(w http.ResponseWriter, r *http.Request, p principal) error {
	if err := s.needWebhooks(); err != nil {
		return err
	}
	if err := s.webhooks.RemoveEndpoint(r.Context(), WebhookOwner, r.PathValue("id")); err != nil {
		return webhookError(err)
	}
	s.log.Info("finance: webhook endpoint removed", "endpoint", r.PathValue("id"), "actor", p.Name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) webhookDeliveries(w http.ResponseWriter, r *http.Request, _ principal) error {
	if err := s.needWebhooks(); err != nil {
		return err
	}
	id := r.PathValue("id")
	log, err := s.webhooks.Log(r.Context(), WebhookOwner, id, 0)
	if err != nil {
		return webhookError(err)
	}
	httpx.WriteJSON(w, http.StatusOK, webhookLog{Endpoint: id, Deliveries: log})
	return nil
}
