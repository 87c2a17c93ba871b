package api

import (
	"net/http"
	"time"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

func (s *Server) registerKey(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	var p registry.Proof
	if err := httpx.DecodeJSON(w, r, s.maxBody, &p); err != nil {
		return err
	}
	k, err := s.store.RegisterKey(r.Context(), op.ID, p)
	if err != nil {
		return err
	}
	s.m.registrations.WithLabelValues("register").Inc()
	httpx.Logger(r.Context()).Info("key registered", "operator", op.ID, "keyid", k.ID)
	httpx.WriteJSON(w, http.StatusCreated, keyJSON(*k))
	return nil
}

func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	var req keydir.RotateRequest
	if err := httpx.DecodeJSON(w, r, s.maxBody, &req); err != nil {
		return err
	}
	overlap := registry.DefaultOverlap
	if req.Overlap != "" {
		d, err := time.ParseDuration(req.Overlap)
		if err != nil {
			return httpx.Errorf(http.StatusBadRequest, "invalid_request", "overlap %q is not a duration such as \"24h\"", req.Overlap)
		}
		overlap = d
	}
	k, rotated, err := s.store.RotateKey(r.Context(), op.ID, req.Proof, overlap)
	if err != nil {
		return err
	}
	s.m.registrations.WithLabelValues("rotate").Inc()
	httpx.Logger(r.Context()).Info("key rotated", "operator", op.ID, "keyid", k.ID, "rotated", rotated, "overlap", overlap)
	if rotated == nil {
		rotated = []string{}
	}
	httpx.WriteJSON(w, http.StatusCreated, keydir.RotateResponse{Key: keyJSON(*k), Rotated: rotated, ValidUntil: rfc3339(k.Created.Add(overlap))})
	return nil
}

// addDirectoryProof stores a directory proof for one of the caller's keys.
func (s *Server) addDirectoryProof(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	var p registry.DirectoryProof
	if err := httpx.DecodeJSON(w, r, s.maxBody, &p); err != nil {
		return err
	}
	k, err := s.store.SetDirectoryProof(r.Context(), op.ID, r.PathValue("keyid"), p)
	if err != nil {
		return err
	}
	httpx.Logger(r.Context()).Info("directory proof stored", "operator", op.ID, "keyid", k.ID, "expires", p.Expires)
	httpx.WriteJSON(w, http.StatusOK, keyJSON(*k))
	return nil
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	keys, err := s.store.Keys(r.Context(), op.ID)
	if err != nil {
		return err
	}
	resp := keydir.KeysResponse{Keys: make([]keydir.KeyJSON, 0, len(keys))}
	for _, k := range keys {
		resp.Keys = append(resp.Keys, keyJSON(k))
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	k, err := s.store.RevokeKey(r.Context(), op.ID, r.PathValue("keyid"))
	if err != nil {
		return err
	}
	s.m.revocations.Inc()
	httpx.Logger(r.Context()).Info("key revoked", "operator", op.ID, "keyid", k.ID)
	httpx.WriteJSON(w, http.StatusOK, keyJSON(*k))
	return nil
}
