package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

func (s *Server) registerAgent(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	var req keydir.AgentRequest
	if err := httpx.DecodeJSON(w, r, s.maxBody, &req); err != nil {
		return err
	}
	a, err := s.store.RegisterAgent(r.Context(), op.ID, req.URL)
	if err != nil {
		return err
	}
	httpx.Logger(r.Context()).Info("agent registered", "operator", op.ID, "agent", a.URL)
	httpx.WriteJSON(w, http.StatusCreated, keydir.AgentJSON{URL: a.URL})
	return nil
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	agents, err := s.store.Agents(r.Context(), op.ID)
	if err != nil {
		return err
	}
	resp := keydir.AgentsResponse{Agents: make([]keydir.AgentJSON, 0, len(agents))}
	for _, a := range agents {
		resp.Agents = append(resp.Agents, keydir.AgentJSON{URL: a.URL, Hosted: a.Hosted})
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
	return nil
}

// directory serves an operator's hosted key directory: the keydir.JWKS of its
// usable keys (active, and rotated inside their overlap), with the directory
// media type and a max-age within the revocation guarantee. A suspended
// operator's directory is served empty rather than as an error, so that
// verifiers, which keep their old copy when a refresh fails, drop its keys.
func (s *Server) directory(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	op, err := s.store.Operator(r.Context(), id)
	if err != nil {
		return err
	}
	set := keydir.JWKS{Keys: []json.RawMessage{}}
	if op.Status == registry.StatusActive {
		keys, err := s.store.UsableKeys(r.Context(), op.ID)
		if err != nil {
			return err
		}
		for _, k := range keys {
			set.Keys = append(set.Keys, k.JWK)
		}
	}
	body, err := json.Marshal(set)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", deferred.MediaTypeDirectory)
	h.Set("Cache-Control", "max-age="+strconv.Itoa(int(s.maxAge.Seconds())))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}
