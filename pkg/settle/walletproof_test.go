package settle_test

import (
	"context"
	"crypto/ecdsa"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// walletProof signs the proof that key's wallet pays for account in d.
func walletProof(t *testing.T, key *ecdsa.PrivateKey, account string, d registry.WalletDomain, at time.Time) *registry.WalletProof {
	t.Helper()
	p, err := registry.SignWalletProof(key, registry.WalletClaim{Purpose: registry.WalletPays, Account: account,
		Wallet: crypto.PubkeyToAddress(key.PublicKey).Hex(), ChainID: d.ChainID, Settler: d.Settler, IssuedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	return &p
}

// TestSettlerRefusesUnprovenWallets runs a day on the simulated chain with
// payers from the registry. Every wallet holds USDC and approved the
// settler, but only the one with a valid proof of belonging to its operator
// is charged. The others (a profile stored before wallet proofs existed, as
// an attacker's naming of another's wallet was; a proof for another
// settler; a proof whose signature is not the wallet's) fail with
// wallet_unproven and a reason that says to re-prove, and not one token
// moves from them. Re-proved, the retry charges the wallet once.
func TestSettlerRefusesUnprovenWallets(t *testing.T) {
	e := newEnv(t, rails{evm: true})
	domain := registry.WalletDomain{ChainID: 1337, Settler: e.settlerAddr.Hex()}
	store, err := registry.NewStore(e.rdb, registry.Options{AgentBase: "https://keys.example", Now: e.clock.Now, EVM: domain})
	if err != nil {
		t.Fatal(err)
	}
	caps := registry.Billing{Rail: registry.RailEVM, DailyCap: 100 * money.Scale, DefaultMaxPrice: money.Scale}
	type payer struct {
		op     string
		key    *ecdsa.PrivateKey
		wallet common.Address
	}
	newPayer := func(name string) payer {
		op, _, err := store.SignUp(e.ctx, name, "ops@"+name+".example")
		if err != nil {
			t.Fatal(err)
		}
		k, _ := e.evmPayer(op.ID, 5_000_000, 5_000_000) // funded and approved
		return payer{op: op.ID, key: k, wallet: crypto.PubkeyToAddress(k.PublicKey)}
	}
	// store writes a profile as it would be found in Redis, bypassing
	// SetBilling's checks: what older versions, or a tampered record, left.
	stored := func(p payer, proof *registry.WalletProof) {
		b := caps
		b.Wallet, b.Currency, b.WalletProof = p.wallet.Hex(), "USDC", proof
		raw, err := b.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Redis().HSet(e.ctx, "pc:reg:{reg}:op:"+p.op, "billing", string(raw)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	proven, legacy, elsewhere, forged := newPayer("proven"), newPayer("legacy"), newPayer("elsewhere"), newPayer("forged")
	b := caps
	b.Wallet, b.WalletProof = proven.wallet.Hex(), walletProof(t, proven.key, proven.op, domain, e.clock.Now())
	if _, err := store.SetBilling(e.ctx, proven.op, b); err != nil {
		t.Fatal(err)
	}
	stored(legacy, nil)
	stored(elsewhere, walletProof(t, elsewhere.key, elsewhere.op, registry.WalletDomain{ChainID: 1337, Settler: proven.wallet.Hex()}, e.clock.Now()))
	otherKey, _ := newKey(t)
	fake := walletProof(t, otherKey, forged.op, domain, e.clock.Now())
	fake.Wallet = forged.wallet.Hex()
	stored(forged, fake)

	all := []payer{proven, legacy, elsewhere, forged}
	for _, p := range all {
		e.use(p.op, 0, "pub", "a.example", "USDC", 1_000_000)
	}
	e.clock.Set(e.closeTime(0))
	payers := settle.RegistryPayers{Store: store, EVM: domain}
	mustRun(t, e.settlerWithPayers(payers), e.ctx)

	inv := e.invoice(ledger.InvoiceID(proven.op, e.day(0), "USDC"))
	if inv.Status != ledger.StatusPaid || inv.Charged != 1_000_000 {
		t.Fatalf("proven wallet: %s charged %s (%s)", inv.Status, inv.Charged, inv.Error)
	}
	for _, p := range all[1:] {
		inv := e.invoice(ledger.InvoiceID(p.op, e.day(0), "USDC"))
		last := inv.Attempts[len(inv.Attempts)-1]
		if inv.Status != ledger.StatusFailed || last.Outcome != "wallet_unproven" || inv.TxHash != "" || inv.Charged != 0 ||
			!strings.Contains(inv.Error, "re-proved") || !strings.Contains(inv.Error, "not charged") {
			t.Errorf("%s: %s outcome %q tx %q error %q", p.op, inv.Status, last.Outcome, inv.TxHash, inv.Error)
		}
	}
	wallets := map[string]money.Micros{proven.wallet.Hex(): 4_000_000}
	for _, p := range all[1:] {
		wallets[p.wallet.Hex()] = 5_000_000
	}
	e.assertChainOnce(wallets, 1_000_000, 1)

	// The legacy operator re-proves its wallet; the retry charges it once.
	e.clock.Advance(time.Hour)
	b = caps
	b.Wallet, b.WalletProof = legacy.wallet.Hex(), walletProof(t, legacy.key, legacy.op, domain, e.clock.Now())
	if _, err := store.SetBilling(context.Background(), legacy.op, b); err != nil {
		t.Fatal(err)
	}
	mustRun(t, e.settlerWithPayers(payers), e.ctx)
	if inv := e.invoice(ledger.InvoiceID(legacy.op, e.day(0), "USDC")); inv.Status != ledger.StatusPaid || inv.Charged != 1_000_000 {
		t.Fatalf("re-proved wallet: %s charged %s (%s)", inv.Status, inv.Charged, inv.Error)
	}
	wallets[legacy.wallet.Hex()] = 4_000_000
	e.assertChainOnce(wallets, 2_000_000, 2)
}
