package keys

import (
	"context"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/paywall"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

// Accounts adapts a resolver to the paywall's Accounts: the keys of a
// crawler and the billing terms of its operator, as the registry holds them.
func Accounts(r *Resolver) paywall.Accounts { return accounts{r} }

type accounts struct{ *Resolver }

// Billing returns the daily cap and default max price of an operator. An
// evm profile whose wallet has no stored proof of ownership (one set before
// proofs were required) is refused as billing_missing: the settler would
// refuse to charge it, so no page may be served on it.
func (a accounts) Billing(ctx context.Context, operator string) (paywall.Billing, error) {
	acct, err := a.Account(ctx, operator)
	if err != nil {
		return paywall.Billing{}, err
	}
	if b := acct.Billing; b.Rail == registry.RailEVM && b.WalletProof == nil {
		return paywall.Billing{}, deferred.Errorf(deferred.CodeBillingMissing,
			"the wallet of your billing profile has no proof that it is yours: prove it again (crawlctl register --rail evm --wallet-key FILE); nothing was charged")
	}
	return paywall.Billing{DailyCap: acct.Billing.DailyCap, DefaultMaxPrice: acct.Billing.DefaultMaxPrice}, nil
}

var _ deferred.KeyResolver = accounts{}
