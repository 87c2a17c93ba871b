package settle_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/internal/teststripe"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/stripecust"
	"github.com/paycrawl/paycrawl/pkg/settle"
	"github.com/paycrawl/paycrawl/pkg/settle/evm/devchain"
)

// TestRegistryPayers reads payers from the real operator registry, whose
// stripe customers are created on stripe-mock: the billing profile becomes
// the payer, suspended operators still pay, and an operator without a
// profile cannot. A settler on the registry charges the stripe operator.
func TestRegistryPayers(t *testing.T) {
	e := newEnv(t, rails{stripe: true})
	cust, err := stripecust.New(stripecust.Config{APIKey: teststripe.APIKey, BaseURL: e.stripeURL})
	if err != nil {
		t.Fatal(err)
	}
	_, settlerAddr := newKey(t)
	domain := registry.WalletDomain{ChainID: devchain.ChainID, Settler: settlerAddr.Hex()}
	store, err := registry.NewStore(e.rdb, registry.Options{AgentBase: "https://keys.example", Customers: cust, Now: e.clock.Now, EVM: domain})
	if err != nil {
		t.Fatal(err)
	}
	signUp := func(name string, b *registry.Billing) string {
		op, _, err := store.SignUp(e.ctx, name, "ops@"+name+".example")
		if err != nil {
			t.Fatal(err)
		}
		if b != nil {
			if _, err := store.SetBilling(e.ctx, op.ID, *b); err != nil {
				t.Fatal(err)
			}
		}
		return op.ID
	}
	caps := registry.Billing{DailyCap: 100 * money.Scale, DefaultMaxPrice: money.Scale}
	card := caps
	card.Rail = registry.RailStripe
	cardOp, bareOp := signUp("card", &card), signUp("bare", nil)
	chainOp := signUp("chain", nil)
	walletKey, wallet := newKey(t)
	chain := caps
	chain.Rail, chain.Wallet = registry.RailEVM, strings.ToLower(wallet.Hex())
	chain.WalletProof = walletProof(t, walletKey, chainOp, domain, e.clock.Now())
	if _, err := store.SetBilling(e.ctx, chainOp, chain); err != nil {
		t.Fatal(err)
	}
	if _, err := store.SetStatus(e.ctx, chainOp, registry.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	p := settle.RegistryPayers{Store: store, EVM: domain}
	tests := []struct {
		account string
		want    func(settle.Payer) bool
		err     error
	}{
		{cardOp, func(py settle.Payer) bool {
			return py.Rail == "stripe" && strings.HasPrefix(py.StripeCustomerID, "cus_") && py.Currency == "USD" && py.Wallet == ""
		}, nil},
		{chainOp, func(py settle.Payer) bool {
			return py.Rail == "evm" && py.Wallet == wallet.Hex() && py.Currency == "USDC"
		}, nil},
		{bareOp, nil, settle.ErrNoPayer},
		{"op_nobodyatall00000", nil, settle.ErrNoPayer},
	}
	for _, tt := range tests {
		py, err := p.Payer(e.ctx, tt.account)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("Payer(%s) = %+v, %v; want %v", tt.account, py, err, tt.err)
			}
			continue
		}
		if err != nil || !tt.want(py) || py.Account != tt.account {
			t.Errorf("Payer(%s) = %+v, %v", tt.account, py, err)
		}
	}

	// A settler that does not know its chain and address cannot tell the
	// wallet's proof is for it: no payer.
	if _, err := (settle.RegistryPayers{Store: store}).Payer(e.ctx, chainOp); !errors.Is(err, settle.ErrWalletUnproven) {
		t.Errorf("Payer without the settler's domain: %v", err)
	}

	// A settler on the registry: the card operator is charged; the operator
	// without a billing profile fails its attempt, saying why.
	e.use(cardOp, 0, "pub", "a.example", "USD", 2_500_000)
	e.use(bareOp, 0, "pub", "a.example", "USD", 2_500_000)
	e.clock.Set(e.closeTime(0))
	s := e.settlerWithPayers(p)
	mustRun(t, s, e.ctx)
	e.assertStripeOnce(e.invoice(ledger.InvoiceID(cardOp, e.day(0), "USD")))
	bare := e.invoice(ledger.InvoiceID(bareOp, e.day(0), "USD"))
	if bare.Status != ledger.StatusFailed || !strings.Contains(bare.Error, "no billing profile") {
		t.Errorf("operator without a profile: %s %q", bare.Status, bare.Error)
	}
}
