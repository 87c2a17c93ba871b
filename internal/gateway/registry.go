package gateway

import (
	"context"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

// RegistryAccounts adapts the key directory's resolver to Accounts.
func RegistryAccounts(r *registry.Resolver) Accounts { return registryAccounts{r} }

type registryAccounts struct{ *registry.Resolver }

// Billing returns the daily cap and default max price of an operator.
func (a registryAccounts) Billing(ctx context.Context, operator string) (Billing, error) {
	acct, err := a.Account(ctx, operator)
	if err != nil {
		return Billing{}, err
	}
	return Billing{DailyCap: acct.Billing.DailyCap, DefaultMaxPrice: acct.Billing.DefaultMaxPrice}, nil
}

var _ deferred.KeyResolver = registryAccounts{}
