package settle

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

// AgreementStore is what RegistryArrangements needs of the registry
// (*registry.Store).
type AgreementStore interface {
	Operator(ctx context.Context, id string) (*registry.Operator, error)
	AcceptedAgreements(ctx context.Context, account string) ([]agreement.Agreement, error)
	EachAcceptedAgreement(ctx context.Context, fn func([]agreement.Agreement) error) error
}

var _ AgreementStore = (*registry.Store)(nil)

// RegistryArrangements reads agreements and settlement periods from the
// operator registry: an account is an operator id, its settlement period
// is on its billing profile (daily without one), its agreements the
// versions it accepted (the registry's index of them: offers it was made,
// pending or refused, are never read, so they cannot slow a run).
type RegistryArrangements struct {
	// Store is the registry, usually a *registry.Store.
	Store AgreementStore
}

var _ Arrangements = RegistryArrangements{}

// Cadence returns account's settlement period and when it was last set:
// daily for an unknown operator or one without a billing profile (nothing
// to charge it on; a profile cannot be removed once set).
func (r RegistryArrangements) Cadence(ctx context.Context, account string) (agreement.Cadence, time.Time, error) {
	op, err := r.Store.Operator(ctx, account)
	if errors.Is(err, registry.ErrNotFound) {
		return agreement.CadenceDay, time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, err
	}
	if op.Billing == nil || op.Billing.SettlementPeriod == "" {
		return agreement.CadenceDay, time.Time{}, nil
	}
	c, err := agreement.ParseCadence(string(op.Billing.SettlementPeriod))
	return c, op.Billing.SettlementPeriodChanged, err
}

// Agreements returns every version account accepted (accepted,
// superseded, ended): all that can be in force, and all a re-derivation
// needs.
func (r RegistryArrangements) Agreements(ctx context.Context, account string) ([]agreement.Agreement, error) {
	return r.Store.AcceptedAgreements(ctx, account)
}

// Accounts lists the accounts with an accepted agreement of kind in force
// for part of span, reading the registry's index of every accepted version
// a batch at a time (each agreement's versions in one batch).
func (r RegistryArrangements) Accounts(ctx context.Context, span agreement.Span, kind agreement.Kind) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	err := r.Store.EachAcceptedAgreement(ctx, func(batch []agreement.Agreement) error {
		for _, v := range inForce(batch, span) {
			if v.Terms.Kind == kind && !seen[v.Account] {
				seen[v.Account] = true
				out = append(out, v.Account)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("settle: agreements: %w", err)
	}
	sort.Strings(out)
	return out, nil
}
