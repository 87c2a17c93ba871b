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
//
// An evm profile is a payer only with a stored wallet proof that verifies
// for the operator, its wallet and EVM (registry.WalletProof.Verify): the
// registry checked it when the profile was set, and it is checked again here
// so that no wallet is charged on the word of a record alone.
type RegistryPayers struct {
	// Store is the registry, usually a *registry.Store.
	Store Operators
	// EVM is the chain id and the settler's address (the spender of the
	// allowances) of the settler's evm rail. The zero value makes every evm
	// profile unpayable: the settler cannot tell which proofs are its own.
	EVM registry.WalletDomain
}

var _ Payers = RegistryPayers{}

// Payer returns the payer of account from its operator's billing profile.
// An unknown operator, or one without a billing profile, wraps ErrNoPayer;
// an evm profile without a valid wallet proof wraps ErrWalletUnproven.
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
	if b.Rail == registry.RailEVM {
		if err := p.checkWallet(account, b); err != nil {
			return Payer{}, err
		}
	}
	return Payer{Account: account, Rail: string(b.Rail), StripeCustomerID: b.StripeCustomerID,
		Wallet: b.Wallet, Currency: b.Currency}, nil
}

// checkWallet verifies the stored proof of an evm profile's wallet.
func (p RegistryPayers) checkWallet(account string, b *registry.Billing) error {
	const redo = "set the billing profile again with a wallet proof (crawlctl register --token … --rail evm --wallet %s --wallet-key FILE); " +
		"profiles stored before wallet proofs existed must be re-proved"
	if b.WalletProof == nil {
		return fmt.Errorf("%w: operator %s's wallet %s has no proof that it is the operator's; "+redo+"; not charged",
			ErrWalletUnproven, account, b.Wallet, b.Wallet)
	}
	want := registry.WalletExpect{Purpose: registry.WalletPays, Account: account, Wallet: b.Wallet, Domain: p.EVM}
	if err := b.WalletProof.Verify(want); err != nil {
		return fmt.Errorf("%w: operator %s's wallet proof does not hold for this settler (%v); "+redo+"; not charged",
			ErrWalletUnproven, account, err, b.Wallet)
	}
	return nil
}
