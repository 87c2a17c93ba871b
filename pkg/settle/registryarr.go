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
	AgreementsOfAccount(ctx context.Context, account string) ([]agreement.Agreement, error)
	ListAgreements(ctx context.Context, offset, limit int) ([]agreement.Agreement, int64, error)
}

var _ AgreementStore = (*registry.Store)(nil)

// RegistryArrangements reads agreements and settlement periods from the
// operator registry: an account is an operator id, its settlement period
// is on its billing profile (daily without one), its agreements those the
// registry stores for it.
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

// Agreements returns every version of account's agreements.
func (r RegistryArrangements) Agreements(ctx context.Context, account string) ([]agreement.Agreement, error) {
	return r.Store.AgreementsOfAccount(ctx, account)
}

// listPage is how many agreements Subscribers reads at a time.
const listPage = 1000

// Accounts lists the accounts with an accepted agreement of kind in force
// for part of span, reading the registry's list of every agreement page by
// page (up to registry.MaxListOffset agreements).
func (r RegistryArrangements) Accounts(ctx context.Context, span agreement.Span, kind agreement.Kind) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for offset := 0; offset <= registry.MaxListOffset; offset += listPage {
		page, total, err := r.Store.ListAgreements(ctx, offset, listPage)
		if err != nil {
			return nil, fmt.Errorf("settle: agreements: %w", err)
		}
		for _, v := range inForce(page, span) {
			if v.Terms.Kind == kind && !seen[v.Account] {
				seen[v.Account] = true
				out = append(out, v.Account)
			}
		}
		if int64(offset+listPage) >= total {
			break
		}
	}
	sort.Strings(out)
	return out, nil
}
