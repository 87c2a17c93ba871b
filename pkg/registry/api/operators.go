package api

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

func (s *Server) signUp(w http.ResponseWriter, r *http.Request) error {
	var req keydir.SignUpRequest
	if err := httpx.DecodeJSON(w, r, s.maxBody, &req); err != nil {
		return err
	}
	if err := s.store.CheckSignupRate(r.Context(), clientIP(r)); err != nil {
		w.Header().Set("Retry-After", "60")
		return err
	}
	op, token, err := s.store.SignUp(r.Context(), req.Name, req.Contact)
	if err != nil {
		return err
	}
	s.m.signups.Inc()
	httpx.WriteJSON(w, http.StatusCreated, keydir.SignUpResponse{
		Operator: s.operatorJSON(op),
		Token:    token,
		Warning:  "store this token now: it is shown only once and cannot be recovered",
	})
	return nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	httpx.WriteJSON(w, http.StatusOK, s.operatorJSON(op))
	return nil
}

func (s *Server) setBilling(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	var req registry.BillingJSON
	if err := httpx.DecodeJSON(w, r, s.maxBody, &req); err != nil {
		return err
	}
	b, err := req.Parse()
	if err != nil {
		return err
	}
	if b.Rail == registry.RailEVM && (s.evm.SettlerAddress == "" || s.evm.TokenAddress == "") {
		return fmt.Errorf("%w: the evm rail is not configured on this key directory", registry.ErrRailNotConfigured)
	}
	saved, err := s.store.SetBilling(r.Context(), op.ID, b)
	if err != nil {
		return err
	}
	resp := keydir.BillingResponse{Billing: saved.JSON()}
	if saved.Rail == registry.RailEVM {
		resp.EVM = &keydir.EVMInstructions{
			SettlerAddress: s.evm.SettlerAddress, TokenAddress: s.evm.TokenAddress, ChainID: s.evm.ChainID,
			Note: "approve an ERC-20 allowance of at least your daily cap on the token contract to the settler address, from " +
				saved.Wallet + "; the allowance is checked when the day is settled",
		}
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
	return nil
}

// walletClaim answers the message an operator's wallet signs to pay for it.
func (s *Server) walletClaim(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	if s.evm.SettlerAddress == "" || s.evm.TokenAddress == "" {
		return fmt.Errorf("%w: the evm rail is not configured on this key directory", registry.ErrRailNotConfigured)
	}
	c, err := s.store.WalletClaim(r.Context(), op.ID, r.URL.Query().Get("wallet"))
	if err != nil {
		return err
	}
	p := registry.WalletProof{WalletClaim: c}.JSON()
	httpx.WriteJSON(w, http.StatusOK, keydir.WalletClaimResponse{Message: string(c.Message()), Proof: p,
		ExpiresAt: registry.FormatIssuedAt(c.IssuedAt.Add(registry.WalletProofMaxAge))})
	return nil
}

func (s *Server) usage(w http.ResponseWriter, r *http.Request, op *registry.Operator) error {
	day := r.URL.Query().Get("day")
	if day == "" {
		day = s.store.Now().UTC().Format(time.DateOnly)
	}
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		return httpx.Errorf(http.StatusBadRequest, "invalid_request", "day %q is not YYYY-MM-DD", day)
	}
	if s.usageReader == nil {
		return httpx.Errorf(http.StatusNotImplemented, "not_implemented", "this key directory has no ledger configured")
	}
	agg, err := s.usageReader.Aggregate(r.Context(), op.ID, day)
	if err != nil {
		return httpx.Errorf(http.StatusServiceUnavailable, "ledger_unavailable", "reading the ledger: %v", err)
	}
	out := keydir.UsageResponse{Day: day, Operator: op.ID, Closed: agg.Closed,
		Totals: []keydir.UsageTotal{}, Sites: []keydir.UsageSite{}, Invoices: []keydir.UsageInvoice{}}
	currencies := make([]string, 0, len(agg.Currencies))
	for cur := range agg.Currencies {
		currencies = append(currencies, cur)
	}
	sort.Strings(currencies)
	for _, cur := range currencies {
		t := agg.Currencies[cur]
		out.Totals = append(out.Totals, keydir.UsageTotal{Currency: cur, Requests: t.Count, Amount: t.Amount.String()})
		inv, err := s.usageReader.Invoice(r.Context(), ledger.InvoiceID(op.ID, day, cur))
		if errors.Is(err, ledger.ErrNotFound) {
			continue
		}
		if err != nil {
			return httpx.Errorf(http.StatusServiceUnavailable, "ledger_unavailable", "reading the ledger: %v", err)
		}
		ref := inv.PaymentIntent
		if ref == "" {
			ref = inv.TxHash
		}
		out.Invoices = append(out.Invoices, keydir.UsageInvoice{ID: inv.ID, Currency: inv.Currency, Status: string(inv.Status),
			Total: inv.Total.String(), CarriedIn: inv.CarriedIn.String(), Charged: inv.Charged.String(),
			CarriedOut: inv.CarriedOut.String(), Rail: inv.Rail, Reference: ref})
	}
	for _, st := range agg.Sites {
		out.Sites = append(out.Sites, keydir.UsageSite{Publisher: st.Publisher, Site: st.Site, Currency: st.Currency,
			Requests: st.Count, Amount: st.Amount.String()})
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) listOperators(w http.ResponseWriter, r *http.Request) error {
	offset, limit, err := pageParams(r, 100)
	if err != nil {
		return err
	}
	ops, total, err := s.store.ListOperators(r.Context(), offset, limit)
	if err != nil {
		return err
	}
	resp := keydir.OperatorsResponse{Operators: make([]keydir.OperatorJSON, 0, len(ops)), Total: total}
	for i := range ops {
		resp.Operators = append(resp.Operators, s.operatorJSON(&ops[i]))
	}
	if next := offset + limit; int64(next) < total {
		resp.NextOffset = &next
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) suspend(w http.ResponseWriter, r *http.Request) error {
	return s.setStatus(w, r, registry.StatusSuspended)
}

func (s *Server) reinstate(w http.ResponseWriter, r *http.Request) error {
	return s.setStatus(w, r, registry.StatusActive)
}

func (s *Server) setStatus(w http.ResponseWriter, r *http.Request, status registry.OperatorStatus) error {
	op, err := s.store.SetStatus(r.Context(), r.PathValue("id"), status)
	if err != nil {
		return err
	}
	s.m.statusChanges.WithLabelValues(string(status)).Inc()
	httpx.Logger(r.Context()).Info("operator status changed", "operator", op.ID, "status", status)
	httpx.WriteJSON(w, http.StatusOK, s.operatorJSON(op))
	return nil
}
