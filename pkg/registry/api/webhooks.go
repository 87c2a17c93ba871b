package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
	"github.com/paycrawl/paycrawl/pkg/webhook"
)

func (s *Server) needWebhooks() error {
	if s.webhooks == nil {
		return httpx.Errorf(http.StatusNotImplemented, "webhooks_unavailable", "webhooks are not configured on this key directory")
	}
	return nil
}

func webhookError(err error) error {
	switch {
	case errors.Is(err, webhook.ErrInvalid):
		return httpx.Errorf(http.StatusBadRequest, "invalid_webhook", "%s", strings.TrimPrefix(err.Error(), "webhook: "))
	case errors.Is(err, webhook.ErrNotFound):
		return httpx.Errorf(http.StatusNotFound, "not_found", "no such webhook endpoint")
	}
	return err
}

// addWebhook registers an endpoint for the operator's own events: its
// invoices paid or failed, its daily cap at 80 % and 100 %. The secret is
// in this answer only.
func (s *Server) addWebhook(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	if err := s.needWebhooks(); err != nil {
		return err
	}
	var req keydir.WebhookRequest
	if err := httpx.DecodeJSON(w, r, s.maxBody, &req); err != nil {
		return err
	}
	ep, err := s.webhooks.AddEndpoint(r.Context(), op.ID, strings.TrimSpace(req.URL), req.Events, webhook.OperatorEvents)
	if err != nil {
		return webhookError(err)
	}
	httpx.WriteJSON(w, http.StatusCreated, ep)
	return nil
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	if err := s.needWebhooks(); err != nil {
		return err
	}
	eps, err := s.webhooks.Endpoints(r.Context(), op.ID)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, keydir.WebhooksResponse{Events: webhook.OperatorEvents, Endpoints: eps})
	return nil
}

func (s *Server) removeWebhook(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	if err := s.needWebhooks(); err != nil {
		return err
	}
	if err := s.webhooks.RemoveEndpoint(r.Context(), op.ID, r.PathValue("id")); err != nil {
		return webhookError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) webhookDeliveries(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	if err := s.needWebhooks(); err != nil {
		return err
	}
	log, err := s.webhooks.Log(r.Context(), op.ID, r.PathValue("id"), 0)
	if err != nil {
		return webhookError(err)
	}
	httpx.WriteJSON(w, http.StatusOK, keydir.DeliveriesResponse{Endpoint: r.PathValue("id"), Deliveries: log})
	return nil
}
