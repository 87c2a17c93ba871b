package gateway

import (
	"context"

	"github.com/paycrawl/paycrawl/internal/gateway/keys"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

// RegistryAccounts adapts the key directory's resolver to Accounts.
func RegistryAccounts(r *keys.Resolver) Accounts { return registryAccounts{r} }

type registryAccounts struct{ *keys.Resolver }

// Billing returns the daily cap and default max price of an operator. An
// evm profile whose wallet has no stored proof of ownership (one set before
// proofs were required) is refused as billing_missing: the settler would
// refuse to charge it, so the gateway must not serve pages on it.
func (a registryAccounts) Billing(ctx context.Context, operator string) (Billing, error) {
	acct, err := a.Account(ctx, operator)
	if err != nil {
		return Billing{}, err
	}
	if b := acct.Billing; b.Rail == registry.RailEVM && b.WalletProof == nil {
		return Billing{}, deferred.Errorf(deferred.CodeBillingMissing,
			"the wallet of your billing profile has no proof that it is yours: prove it again (crawlctl register --rail evm --wallet-key FILE); nothing was charged")
	}
	return Billing{DailyCap: acct.Billing.DailyCap, DefaultMaxPrice: acct.Billing.DefaultMaxPrice}, nil
}

var _ deferred.KeyResolver = registryAccounts{}
