package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

// The agreement routes. Who may do what:
//   - a publisher, with its own token only (not the admin token: an offer is
//     the publisher's own act), offers agreements for itself, lists its own,
//     offers new versions of its own and withdraws its undecided offers;
//   - an operator, with its token, lists the agreements made with it, and
//     accepts (with a signature of one of its registered keys over the
//     version's canonical bytes) or declines the latest version offered;
//   - finance (the finance token) and the admin read every agreement.
//
// An agreement of someone else answers 404 not_found on reads, so that ids
// cannot be probed; acting on one answers 403 forbidden (the store's rule).

// publisherOnly wraps a route of the calling publisher (/v1/publishers/me/…):
// the bearer token must be a publisher's own.
func (s *Server) publisherOnly(h func(w http.ResponseWriter, r *http.Request, publisher string) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		tok, ok := bearer(r)
		if !ok {
			return unauthorized(w, "missing publisher token: send Authorization: Bearer pcp_…")
		}
		if s.isAdmin(tok) {
			return httpx.Errorf(http.StatusForbidden, "forbidden", "agreements are offered by the publisher itself, with its own token, not by the admin")
		}
		p, err := s.authenticatePublisher(w, r, tok)
		if err != nil {
			return err
		}
		return h(w, r, p.ID)
	}
}

// financeOrAdmin wraps a read-everything route: the finance token or the
// admin token.
func (s *Server) financeOrAdmin(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		tok, ok := bearer(r)
		if !ok {
			return unauthorized(w, "missing token: send Authorization: Bearer <finance token>")
		}
		if s.isAdmin(tok) || s.isFinance(tok) {
			return h(w, r)
		}
		return unauthorized(w, "invalid finance token")
	}
}

// pathVersion reads the {version} path value.
func pathVersion(r *http.Request) (int, error) {
	v := r.PathValue("version")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > registry.MaxAgreementVersions || strconv.Itoa(n) != v {
		return 0, httpx.Errorf(http.StatusBadRequest, "invalid_request", "version %q is not a version number", truncate(v, 16))
	}
	return n, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// offerAgreement answers POST /v1/publishers/me/agreements (a new
// agreement) and POST /v1/publishers/me/agreements/{id} (its next version).
func (s *Server) offerAgreement(w http.ResponseWriter, r *http.Request, publisher string) error {
	var a agreement.Agreement
	if err := httpx.DecodeJSON(w, r, s.maxBody, &a); err != nil {
		return err
	}
	id := r.PathValue("id")
	if a.ID != "" && a.ID != id {
		return httpx.Errorf(http.StatusBadRequest, "invalid_request", "the body names agreement %q, the path %q: offer a new version at /v1/publishers/me/agreements/{id}", truncate(a.ID, 32), truncate(id, 32))
	}
	if a.State != "" || a.Acceptance != nil || !a.OfferedAt.IsZero() || !a.DecidedAt.IsZero() || a.ContentSHA256 != "" || a.ContentDropped {
		return httpx.Errorf(http.StatusBadRequest, "invalid_request", "an offer carries no state, offered_at, decided_at, acceptance, content_sha256 or content_dropped: the service sets them")
	}
	a.ID = id
	got, err := s.store.OfferAgreement(r.Context(), publisher, a)
	if err != nil {
		return err
	}
	httpx.Logger(r.Context()).Info("agreement offered", "agreement", got.ID, "version", got.Version, "publisher", publisher, "account", got.Account, "kind", got.Terms.Kind)
	httpx.WriteJSON(w, http.StatusCreated, got)
	return nil
}

// publisherAgreements answers GET /v1/publishers/me/agreements: every
// version of the publisher's agreements ever accepted (its offers are
// /v1/publishers/me/offers').
func (s *Server) publisherAgreements(w http.ResponseWriter, r *http.Request, publisher string) error {
	all, err := s.store.AcceptedAgreementsOfPublisher(r.Context(), publisher)
	if err != nil {
		return err
	}
	writeAgreements(w, all, 0)
	return nil
}

// publisherOffers answers GET
// /v1/publishers/me/offers?account=&state=&offset=&limit=: the latest
// versions of the publisher's agreements (with one account, when given)
// in state (offered: pending, the default; declined; withdrawn), paged by
// agreement id; total counts them all.
func (s *Server) publisherOffers(w http.ResponseWriter, r *http.Request, publisher string) error {
	q, err := offerQuery(r)
	if err != nil {
		return err
	}
	q.Publisher = publisher
	if acct := r.URL.Query().Get("account"); acct != "" {
		if !registry.ValidOperatorID(acct) {
			return httpx.Errorf(http.StatusBadRequest, "invalid_request", "account %q is not an operator id", truncate(acct, 32))
		}
		q.Account = acct
	}
	return s.writeOffers(w, r, q)
}

// offerQuery reads ?state=&offset=&limit= of an offers list.
func offerQuery(r *http.Request) (registry.OfferQuery, error) {
	offset, limit, err := pageParams(r, 100)
	if err != nil {
		return registry.OfferQuery{}, err
	}
	q := registry.OfferQuery{Offset: offset, Limit: limit}
	switch st := agreement.State(r.URL.Query().Get("state")); st {
	case "", agreement.StateOffered, agreement.StateDeclined, agreement.StateWithdrawn:
		q.State = st
	default:
		return q, httpx.Errorf(http.StatusBadRequest, "invalid_request", "state %q is not offered, declined or withdrawn (accepted versions are listed by the agreements route)", truncate(string(st), 32))
	}
	return q, nil
}

func (s *Server) writeOffers(w http.ResponseWriter, r *http.Request, q registry.OfferQuery) error {
	list, total, err := s.store.Offers(r.Context(), q)
	if err != nil {
		return err
	}
	writeAgreements(w, list, int64(total))
	return nil
}

func (s *Server) publisherAgreement(w http.ResponseWriter, r *http.Request, publisher string) error {
	return s.writeAgreement(w, r, func(v *agreement.Agreement) bool { return v.Publisher == publisher })
}

func (s *Server) withdrawAgreement(w http.ResponseWriter, r *http.Request, publisher string) error {
	n, err := pathVersion(r)
	if err != nil {
		return err
	}
	got, err := s.store.WithdrawAgreement(r.Context(), publisher, r.PathValue("id"), n)
	if err != nil {
		return err
	}
	httpx.Logger(r.Context()).Info("agreement withdrawn", "agreement", got.ID, "version", got.Version, "publisher", publisher)
	httpx.WriteJSON(w, http.StatusOK, got)
	return nil
}

// operatorAgreements answers GET /v1/agreements: every version the
// operator ever accepted (its offers are /v1/offers').
func (s *Server) operatorAgreements(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	all, err := s.store.AcceptedAgreements(r.Context(), op.ID)
	if err != nil {
		return err
	}
	writeAgreements(w, all, 0)
	return nil
}

// operatorOffers answers GET /v1/offers?state=&offset=&limit=: the latest
// versions of the agreements offered to the operator in state (offered:
// pending, the default; declined; withdrawn), paged by agreement id.
func (s *Server) operatorOffers(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	q, err := offerQuery(r)
	if err != nil {
		return err
	}
	q.Account = op.ID
	return s.writeOffers(w, r, q)
}

func (s *Server) operatorAgreement(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	return s.writeAgreement(w, r, func(v *agreement.Agreement) bool { return v.Account == op.ID })
}

func (s *Server) acceptAgreement(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	n, err := pathVersion(r)
	if err != nil {
		return err
	}
	var req agreement.AcceptanceJSON
	if err := httpx.DecodeJSON(w, r, s.maxBody, &req); err != nil {
		return err
	}
	acc, err := req.Parse()
	if err != nil {
		return err
	}
	got, err := s.store.AcceptAgreement(r.Context(), op.ID, r.PathValue("id"), n, acc)
	if err != nil {
		return err
	}
	httpx.Logger(r.Context()).Info("agreement accepted", "agreement", got.ID, "version", got.Version, "account", op.ID, "publisher", got.Publisher, "key", acc.KeyID)
	httpx.WriteJSON(w, http.StatusOK, got)
	return nil
}

// acceptanceMessage answers GET
// /v1/agreements/{id}/versions/{n}/acceptance-message?key_id=K: the exact
// bytes key K signs (Ed25519) to accept the version now, for clients that do
// not build them from the agreement themselves; it checks nothing about K.
func (s *Server) acceptanceMessage(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	n, err := pathVersion(r)
	if err != nil {
		return err
	}
	keyID := r.URL.Query().Get("key_id")
	if !registry.ValidKeyID(keyID) {
		return httpx.Errorf(http.StatusBadRequest, "invalid_request", "key_id %q is not a key thumbprint", truncate(keyID, 64))
	}
	id := r.PathValue("id")
	v, err := s.store.AgreementVersion(r.Context(), id, n)
	if err != nil {
		return err
	}
	if v.Account != op.ID {
		return httpx.Errorf(http.StatusNotFound, "not_found", "not found: agreement %s", truncate(id, 32))
	}
	now := s.store.Now().UTC().Truncate(time.Second)
	httpx.WriteJSON(w, http.StatusOK, keydir.AcceptanceMessageResponse{
		Message:    string(agreement.AcceptanceMessage(v, keyID, now)),
		Acceptance: agreement.Acceptance{KeyID: keyID, SignedAt: now}.JSON(),
		ExpiresAt:  now.Add(agreement.AcceptanceWindow).Format(time.RFC3339),
	})
	return nil
}

func (s *Server) declineAgreement(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	n, err := pathVersion(r)
	if err != nil {
		return err
	}
	got, err := s.store.DeclineAgreement(r.Context(), op.ID, r.PathValue("id"), n)
	if err != nil {
		return err
	}
	httpx.Logger(r.Context()).Info("agreement declined", "agreement", got.ID, "version", got.Version, "account", op.ID)
	httpx.WriteJSON(w, http.StatusOK, got)
	return nil
}

func (s *Server) setSettlementPeriod(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	var req keydir.SettlementPeriodRequest
	if err := httpx.DecodeJSON(w, r, s.maxBody, &req); err != nil {
		return err
	}
	p, err := s.store.SetSettlementPeriod(r.Context(), op.ID, agreement.SettlementPeriod(req.SettlementPeriod))
	if err != nil {
		return err
	}
	httpx.Logger(r.Context()).Info("settlement period set", "operator", op.ID, "settlement_period", p)
	httpx.WriteJSON(w, http.StatusOK, keydir.SettlementPeriodRequest{SettlementPeriod: string(p)})
	return nil
}

func (s *Server) allAgreements(w http.ResponseWriter, r *http.Request) error {
	offset, limit, err := pageParams(r, 100)
	if err != nil {
		return err
	}
	all, total, err := s.store.ListAgreements(r.Context(), offset, limit)
	if err != nil {
		return err
	}
	writeAgreements(w, all, total)
	return nil
}

func (s *Server) anyAgreement(w http.ResponseWriter, r *http.Request) error {
	return s.writeAgreement(w, r, func(*agreement.Agreement) bool { return true })
}

// writeAgreement answers every version of agreement {id} when mine says
// the caller may see it, and 404 otherwise (as for an unknown id).
func (s *Server) writeAgreement(w http.ResponseWriter, r *http.Request, mine func(*agreement.Agreement) bool) error {
	id := r.PathValue("id")
	versions, err := s.store.Agreement(r.Context(), id)
	if err != nil {
		return err
	}
	if !mine(&versions[0]) {
		return httpx.Errorf(http.StatusNotFound, "not_found", "not found: agreement %s", truncate(id, 32))
	}
	httpx.WriteJSON(w, http.StatusOK, keydir.AgreementResponse{ID: id, Versions: versions})
	return nil
}

func writeAgreements(w http.ResponseWriter, all []agreement.Agreement, total int64) {
	if all == nil {
		all = []agreement.Agreement{}
	}
	httpx.WriteJSON(w, http.StatusOK, keydir.AgreementsResponse{Agreements: all, Total: total})
}

// pageParams reads ?offset=&limit= (limit 1 to 1000, default def).
func pageParams(r *http.Request, def int) (offset, limit int, err error) {
	q := r.URL.Query()
	limit = def
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 || offset > registry.MaxListOffset {
			return 0, 0, httpx.Errorf(http.StatusBadRequest, "invalid_request", "offset %q is not an integer in [0, %d]", truncate(v, 16), registry.MaxListOffset)
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			return 0, 0, httpx.Errorf(http.StatusBadRequest, "invalid_request", "limit %q is not an integer in [1, 1000]", truncate(v, 16))
		}
	}
	return offset, limit, nil
}
