package api

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/paycrawl/paycrawl/pkg/registry"
)

func newWalletKey(t *testing.T) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k, crypto.PubkeyToAddress(k.PublicKey).Hex()
}

// walletProof signs, with key, the proof that key's wallet pays for
// operator opID on the test key directory's chain and settler, now.
func (e *env) walletProof(opID string, key *ecdsa.PrivateKey) *registry.WalletProofJSON {
	e.t.Helper()
	return e.walletProofAt(opID, key, testDomain, e.store.Now())
}

func (e *env) walletProofAt(opID string, key *ecdsa.PrivateKey, d registry.WalletDomain, at time.Time) *registry.WalletProofJSON {
	e.t.Helper()
	p, err := registry.SignWalletProof(key, registry.WalletClaim{Purpose: registry.WalletPays, Account: opID,
		Wallet: crypto.PubkeyToAddress(key.PublicKey).Hex(), ChainID: d.ChainID, Settler: d.Settler, IssuedAt: at})
	if err != nil {
		e.t.Fatal(err)
	}
	j := p.JSON()
	return &j
}

// TestBillingWalletMustBeProven is the attack over HTTP: operator B sets
// operator A's wallet (one that approved the settler) as its own. Every
// variant is refused with a coded 400, and A's profile stays A's.
func TestBillingWalletMustBeProven(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{now: true})
	a, b := e.signUp("a"), e.signUp("b")
	aKey, aWallet := newWalletKey(t)
	bKey, _ := newWalletKey(t)
	aProof := e.walletProof(a.id, aKey)
	if _, err := e.client(a.token).SetBilling(ctx, registry.BillingJSON{Rail: "evm", Wallet: aWallet, WalletProof: aProof,
		DailyCap: "10", DefaultMaxPrice: "0.01"}); err != nil {
		t.Fatal(err)
	}
	evm := func(p *registry.WalletProofJSON) registry.BillingJSON {
		return registry.BillingJSON{Rail: "evm", Wallet: aWallet, WalletProof: p, DailyCap: "10", DefaultMaxPrice: "0.01"}
	}
	withSig := func(p *registry.WalletProofJSON, sig string) *registry.WalletProofJSON {
		c := *p
		c.Signature = sig
		return &c
	}
	replayed := *aProof
	replayed.Account = "" // the account is then taken from the caller
	tests := []struct {
		name string
		body any
		code string
	}{
		{"no proof", evm(nil), "wallet_proof_required"},
		{"B signs for A's wallet", evm(withSig(aProof, e.walletProof(b.id, bKey).Signature)), "bad_wallet_proof"},
		{"A's proof replayed by B", evm(aProof), "bad_wallet_proof"},
		{"A's proof replayed by B without its account", evm(&replayed), "bad_wallet_proof"},
		{"a malformed signature", evm(withSig(aProof, "0x1234")), "bad_wallet_proof"},
		{"a malformed time", `{"rail":"evm","wallet":"` + aWallet + `","daily_cap":"10","default_max_price":"0.01","wallet_proof":{"chain_id":1337,"settler":"` +
			testDomain.Settler + `","issued_at":"yesterday","signature":"` + aProof.Signature + `"}}`, "bad_wallet_proof"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.wantError(http.StatusBadRequest, tt.code, "PUT", "/v1/operators/me/billing", b.token, tt.body)
		})
	}
	// Wrong chain, wrong settler, stale: A's own key, but not a proof here.
	for code, p := range map[string]*registry.WalletProofJSON{
		"wallet_proof_wrong_domain": e.walletProofAt(a.id, aKey, registry.WalletDomain{ChainID: 8453, Settler: testDomain.Settler}, e.store.Now()),
		"wallet_proof_expired":      e.walletProofAt(a.id, aKey, testDomain, e.store.Now().Add(-time.Hour)),
	} {
		e.wantError(http.StatusBadRequest, code, "PUT", "/v1/operators/me/billing", a.token, evm(p))
	}
	e.wantError(http.StatusBadRequest, "wallet_proof_wrong_domain", "PUT", "/v1/operators/me/billing", a.token,
		evm(e.walletProofAt(a.id, aKey, registry.WalletDomain{ChainID: 1337, Settler: aWallet}, e.store.Now())))
	me, err := e.client(b.token).Me(ctx)
	if err != nil || me.Billing != nil {
		t.Fatalf("B's profile after the refusals: %+v, %v", me.Billing, err)
	}
	me, err = e.client(a.token).Me(ctx)
	if err != nil || me.Billing == nil || me.Billing.WalletProof == nil || me.Billing.WalletProof.Signature != aProof.Signature ||
		me.Billing.WalletProof.Account != a.id || me.Billing.WalletProof.VerifiedAt == "" {
		t.Fatalf("A's profile: %+v, %v", me.Billing, err)
	}
}

// TestWalletClaimEndpoint: the key directory offers the exact message to
// sign elsewhere; its signature, sent back with the issued-at time, sets
// the profile.
func TestWalletClaimEndpoint(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	op := e.signUp("a")
	c := e.client(op.token)
	key, wallet := newWalletKey(t)
	claim, err := c.WalletClaim(ctx, strings.ToLower(wallet))
	if err != nil {
		t.Fatal(err)
	}
	p := claim.Proof
	if p.Account != op.id || p.Wallet != wallet || p.ChainID != testDomain.ChainID || p.Settler != testDomain.Settler ||
		p.Purpose != string(registry.WalletPays) || p.Signature != "" || claim.ExpiresAt == "" ||
		!strings.Contains(claim.Message, "account: "+op.id+"\n") || !strings.HasPrefix(claim.Message, registry.WalletProofHeader+"\n") {
		t.Fatalf("claim %+v", claim)
	}
	// Sign the message as a wallet's personal_sign would, elsewhere.
	digest := crypto.Keccak256([]byte("\x19Ethereum Signed Message:\n"+strconv.Itoa(len(claim.Message))), []byte(claim.Message))
	sig, err := crypto.Sign(digest, key)
	if err != nil {
		t.Fatal(err)
	}
	p.Signature = "0x" + hex.EncodeToString(sig) // v as 0/1: accepted too
	resp, err := c.SetBilling(ctx, registry.BillingJSON{Rail: "evm", Wallet: wallet, WalletProof: &registry.WalletProofJSON{
		ChainID: p.ChainID, Settler: p.Settler, IssuedAt: p.IssuedAt, Signature: p.Signature}, DailyCap: "5", DefaultMaxPrice: "0.01"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Billing.WalletProof == nil || !strings.HasSuffix(resp.Billing.WalletProof.Signature, "1b") && !strings.HasSuffix(resp.Billing.WalletProof.Signature, "1c") {
		t.Fatalf("stored proof %+v", resp.Billing.WalletProof)
	}
	e.wantError(http.StatusBadRequest, "invalid_billing", "GET", "/v1/operators/me/billing/wallet-proof?wallet=0x12", op.token, nil)
	e.wantError(http.StatusUnauthorized, "unauthorized", "GET", "/v1/operators/me/billing/wallet-proof?wallet="+wallet, "", nil)
}

// TestEVMRailNotConfigured: without chain id and settler, evm profiles are
// refused with a coded 400.
func TestEVMRailNotConfigured(t *testing.T) {
	e := newEnv(t, envOptions{noEVM: true})
	op := e.signUp("a")
	key, wallet := newWalletKey(t)
	e.wantError(http.StatusBadRequest, "rail_not_configured", "PUT", "/v1/operators/me/billing", op.token,
		registry.BillingJSON{Rail: "evm", Wallet: wallet, WalletProof: e.walletProof(op.id, key), DailyCap: "5", DefaultMaxPrice: "0.01"})
	e.wantError(http.StatusBadRequest, "rail_not_configured", "GET", "/v1/operators/me/billing/wallet-proof?wallet="+wallet, op.token, nil)
	// Without Stripe, the stripe rail is refused the same way.
	e.wantError(http.StatusBadRequest, "rail_not_configured", "PUT", "/v1/operators/me/billing", op.token,
		registry.BillingJSON{Rail: "stripe", DailyCap: "5", DefaultMaxPrice: "0.01"})
	// A server whose evm settings are not its store's does not start.
	if _, err := New(Config{Store: e.store, EVM: EVMConfig{SettlerAddress: testDomain.Settler, TokenAddress: testDomain.Settler, ChainID: 1}}); err == nil {
		t.Fatal("New accepted evm settings the store does not have")
	}
}
