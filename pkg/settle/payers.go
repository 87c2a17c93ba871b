package settle

import (
	"context"
	"errors"
	"fmt"

	"github.com/paycrawl/paycrawl/pkg/registry"
)

// Operators is what RegistryPayers needs of the registry (*registry.Store).
type Operators interface {
	Operator(ctx context.Context, id string) (*registry.Operator, error)
}

var _ Operators = (*registry.Store)(nil)

// RegistryPayers finds payers in the operator registry: an account is an
// operator id, and its billing profile says how it pays. Suspended operators
// are found too: they still owe what they used.
type RegistryPayers struct {
	// Store is the registry, usually a *registry.Store.
	Store Operators
}

var _ Payers = RegistryPayers{}

// Payer returns the payer of account from its operator's billing profile.
// An unknown operator, or one without a billing profile, wraps ErrNoPayer.
func (p RegistryPayers) Payer(ctx context.Context, account string) (Payer, error) {
	op, err := p.Store.Operator(ctx, account)
	if errors.Is(err, registry.ErrNotFound) {
		return Payer{}, fmt.Errorf("%w: operator %s is not registered", ErrNoPayer, account)
	}
	if err != nil {
		return Payer{}, err
	}
	if op.Billing == nil {
		return Payer{}, fmt.Errorf("%w: operator %s has not set one", ErrNoPayer, account)
	}
	b := op.Billing
	return Payer{Account: account, Rail: string(b.Rail), StripeCustomerID: b.StripeCustomerID,
		Wallet: b.Wallet, Currency: b.Currency}, nil
}
