package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

// isAdmin reports whether tok is the admin token (compared as SHA-256
// digests in constant time).
func (s *Server) isAdmin(tok string) bool {
	d := sha256.Sum256([]byte(tok))
	return s.adminDigest != nil && subtle.ConstantTimeCompare(d[:], s.adminDigest) == 1
}

// isFinance reports whether tok is the finance token (compared as SHA-256
// digests in constant time).
func (s *Server) isFinance(tok string) bool {
	d := sha256.Sum256([]byte(tok))
	return s.financeDigest != nil && subtle.ConstantTimeCompare(d[:], s.financeDigest) == 1
}

// publisherRoute wraps a route on one publisher account, /v1/publishers/{id}:
// the admin token reaches any id; a publisher's own token ("pcp_…") reaches
// its own record only, by its id or "me". Any other token is refused.
func (s *Server) publisherRoute(h func(w http.ResponseWriter, r *http.Request, id string, who registry.Editor) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		tok, ok := bearer(r)
		if !ok {
			return unauthorized(w, "missing token: send Authorization: Bearer pcp_… (the publisher's) or the admin token")
		}
		id := r.PathValue("id")
		if s.isAdmin(tok) {
			if id == "me" {
				return httpx.Errorf(http.StatusBadRequest, "invalid_request", "the admin token has no publisher of its own: name the publisher id")
			}
			return h(w, r, id, registry.EditorAdmin)
		}
		p, err := s.authenticatePublisher(w, r, tok)
		if err != nil {
			return err
		}
		if id != "me" && id != p.ID {
			return httpx.Errorf(http.StatusForbidden, "forbidden", "a publisher token reaches its own account (%s) only", p.ID)
		}
		return h(w, r, p.ID, registry.EditorPublisher)
	}
}

// authenticatePublisher returns the publisher whose token tok is; an
// operator's token is told 403, anything else 401.
func (s *Server) authenticatePublisher(w http.ResponseWriter, r *http.Request, tok string) (*registry.Publisher, error) {
	p, err := s.store.AuthenticatePublisher(r.Context(), tok)
	if errors.Is(err, registry.ErrUnauthorized) {
		if _, operr := s.store.Authenticate(r.Context(), tok); operr == nil {
			return nil, httpx.Errorf(http.StatusForbidden, "forbidden", "publisher routes are not open to operator tokens")
		}
		return nil, unauthorized(w, "invalid publisher token")
	}
	return p, err
}

func parseMinimum(s string) (money.Micros, error) {
	m, err := money.Parse(s)
	if err != nil {
		return 0, fmt.Errorf("%w: minimum_payout: %v (write it as a decimal string such as \"10.00\")", registry.ErrInvalid, err)
	}
	return m, nil
}

func (s *Server) createPublisher(w http.ResponseWriter, r *http.Request) error {
	var req keydir.PublisherCreateRequest
	if err := httpx.DecodeJSON(w, r, s.maxBody, &req); err != nil {
		return err
	}
	spec := registry.PublisherSpec{ID: req.ID, Name: req.Name, Contact: req.Contact, FeeBPS: req.FeeBPS, Hosts: req.Hosts}
	if req.MinimumPayout != "" {
		m, err := parseMinimum(req.MinimumPayout)
		if err != nil {
			return err
		}
		spec.MinimumPayout = m
	}
	if req.Payout != nil {
		p, err := req.Payout.Parse()
		if err != nil {
			return err
		}
		spec.Payout = &p
	}
	p, token, err := s.store.CreatePublisher(r.Context(), spec)
	if err != nil {
		return err
	}
	httpx.Logger(r.Context()).Info("publisher created", "publisher", p.ID, "fee_bps", p.FeeBPS, "hosts", p.Hosts)
	httpx.WriteJSON(w, http.StatusCreated, keydir.PublisherCreateResponse{Publisher: p.JSON(), Token: token,
		Warning: "store this token now: it is shown only once and cannot be recovered"})
	return nil
}

func (s *Server) listPublishers(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.store.ListPublishers(r.Context())
	if err != nil {
		return err
	}
	out := keydir.PublishersResponse{Publishers: make([]registry.PublisherJSON, 0, len(ps))}
	for _, p := range ps {
		out.Publishers = append(out.Publishers, p.JSON())
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) rotatePublisherToken(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	token, err := s.store.RotatePublisherToken(r.Context(), id)
	if err != nil {
		return err
	}
	httpx.Logger(r.Context()).Info("publisher token rotated", "publisher", id)
	httpx.WriteJSON(w, http.StatusOK, keydir.PublisherTokenResponse{Publisher: id, Token: token,
		Warning: "store this token now: it is shown only once; the previous token no longer works"})
	return nil
}

func (s *Server) getPublisher(w http.ResponseWriter, r *http.Request, id string, _ registry.Editor) error {
	p, err := s.store.Publisher(r.Context(), id)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, p.JSON())
	return nil
}

func (s *Server) patchPublisher(w http.ResponseWriter, r *http.Request, id string, who registry.Editor) error {
	var req keydir.PublisherPatchRequest
	if err := httpx.DecodeJSON(w, r, s.maxBody, &req); err != nil {
		return err
	}
	c := registry.PublisherChange{Name: req.Name, Contact: req.Contact, FeeBPS: req.FeeBPS, Hosts: req.Hosts}
	if req.MinimumPayout != nil {
		m, err := parseMinimum(*req.MinimumPayout)
		if err != nil {
			return err
		}
		c.MinimumPayout = &m
	}
	if req.Payout != nil {
		p, err := req.Payout.Parse()
		if err != nil {
			return err
		}
		c.Payout = &p
	}
	p, err := s.store.UpdatePublisher(r.Context(), id, who, c)
	if err != nil {
		return err
	}
	httpx.Logger(r.Context()).Info("publisher updated", "publisher", p.ID, "by_admin", who == registry.EditorAdmin, "hosts_set", req.Hosts != nil)
	httpx.WriteJSON(w, http.StatusOK, p.JSON())
	return nil
}

// payoutWalletClaim answers the message a publisher's wallet signs to
// receive its payouts.
func (s *Server) payoutWalletClaim(w http.ResponseWriter, r *http.Request, id string, _ registry.Editor) error {
	c, err := s.store.PayoutWalletClaim(r.Context(), id, r.URL.Query().Get("wallet"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, keydir.WalletClaimResponse{Message: string(c.Message()), Proof: registry.WalletProof{WalletClaim: c}.JSON(),
		ExpiresAt: registry.FormatIssuedAt(c.IssuedAt.Add(registry.WalletProofMaxAge))})
	return nil
}
