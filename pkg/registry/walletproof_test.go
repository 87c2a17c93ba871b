package registry

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// testDomain is the chain and settler of the test stores.
var testDomain = WalletDomain{ChainID: 1337, Settler: "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"}

func newWalletKey(t testing.TB) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k, crypto.PubkeyToAddress(k.PublicKey).Hex()
}

// signWallet signs a WalletPays proof of key's wallet for account in d at
// time at.
func signWallet(t testing.TB, key *ecdsa.PrivateKey, account string, d WalletDomain, at time.Time) *WalletProof {
	t.Helper()
	p, err := SignWalletProof(key, WalletClaim{Purpose: WalletPays, Account: account, Wallet: crypto.PubkeyToAddress(key.PublicKey).Hex(),
		ChainID: d.ChainID, Settler: d.Settler, IssuedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	return &p
}

// TestWalletProofMessageIsStable pins the exact text a wallet signs: a
// change here breaks every signature made elsewhere (hardware wallets,
// scripts), so it must come with a new version in the header.
func TestWalletProofMessageIsStable(t *testing.T) {
	c := WalletClaim{Purpose: WalletPays, Account: "op_abcdefghijklmnop", Wallet: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
		ChainID: 1337, Settler: "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", IssuedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	want := "paycrawl wallet proof v1\n" +
		"I control this wallet and let it pay the paycrawl usage of the account below: its settler may pull USDC from it up to the allowance I approve.\n" +
		"purpose: pay\n" +
		"account: op_abcdefghijklmnop\n" +
		"wallet: 0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\n" +
		"chain id: 1337\n" +
		"settler: 0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359\n" +
		"issued at: 2026-01-02T03:04:05Z"
	if got := string(c.Message()); got != want {
		t.Fatalf("message:\n%s\nwant:\n%s", got, want)
	}
	// EIP-191: the known personal_sign hash of "hello".
	if got := hex.EncodeToString(personalHash([]byte("hello"))); got != "50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750" {
		t.Fatalf("personal hash of hello = %s", got)
	}
}

// TestWalletProofVerify: only the wallet's own key, over the exact claim,
// for this account, chain and settler, recently, proves a wallet; v may be
// 27/28 or 0/1.
func TestWalletProofVerify(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	key, wallet := newWalletKey(t)
	otherKey, _ := newWalletKey(t)
	const account = "op_aaaaaaaaaaaaaaaa"
	want := WalletExpect{Purpose: WalletPays, Account: account, Wallet: wallet, Domain: testDomain}
	good := signWallet(t, key, account, testDomain, now)
	lowV := func(p WalletProof) WalletProof {
		sig, _ := hex.DecodeString(p.Signature[2:])
		sig[64] -= 27
		p.Signature = "0x" + hex.EncodeToString(sig)
		return p
	}
	byOther := signWallet(t, otherKey, account, testDomain, now)
	forged := *good
	forged.Signature = byOther.Signature // another key's signature, our wallet named
	tests := []struct {
		name string
		p    WalletProof
		want WalletExpect
		at   time.Time
		err  error
	}{
		{"valid", *good, want, now, nil},
		{"valid, v as 0/1", lowV(*good), want, now, nil},
		{"valid, 15 minutes old", *good, want, now.Add(WalletProofMaxAge), nil},
		{"valid, slightly ahead", *good, want, now.Add(-WalletProofSkew), nil},
		{"signed by another key", forged, want, now, ErrBadWalletProof},
		{"for another account", *good, WalletExpect{WalletPays, "op_bbbbbbbbbbbbbbbb", wallet, testDomain}, now, ErrBadWalletProof},
		{"for another wallet", *good, WalletExpect{WalletPays, account, "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", testDomain}, now, ErrBadWalletProof},
		{"another chain", *good, WalletExpect{WalletPays, account, wallet, WalletDomain{ChainID: 1, Settler: testDomain.Settler}}, now, ErrWalletProofDomain},
		{"another settler", *good, WalletExpect{WalletPays, account, wallet, WalletDomain{ChainID: 1337, Settler: wallet}}, now, ErrWalletProofDomain},
		{"no domain here", *good, WalletExpect{WalletPays, account, wallet, WalletDomain{}}, now, ErrWalletProofDomain},
		{"stale", *good, want, now.Add(WalletProofMaxAge + time.Second), ErrWalletProofExpired},
		{"from the future", *good, want, now.Add(-WalletProofSkew - time.Second), ErrWalletProofExpired},
		{"another purpose", *good, WalletExpect{"payout", account, wallet, testDomain}, now, ErrBadWalletProof},
		{"no signature", WalletProof{WalletClaim: good.WalletClaim}, want, now, ErrBadWalletProof},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.VerifyFresh(tt.want, tt.at)
			if tt.err == nil {
				if err != nil {
					t.Fatalf("VerifyFresh = %v", err)
				}
				return
			}
			wantErr(t, err, tt.err)
		})
	}
	// The claim's other fields are bound too: any change breaks the
	// signature.
	for name, mod := range map[string]func(*WalletProof){
		"issued at": func(p *WalletProof) { p.IssuedAt = p.IssuedAt.Add(time.Second) },
		"chain id":  func(p *WalletProof) { p.ChainID = 1 },
		"settler":   func(p *WalletProof) { p.Settler = wallet },
	} {
		p := *good
		mod(&p)
		d := WalletDomain{ChainID: p.ChainID, Settler: p.Settler}
		if err := p.Verify(WalletExpect{WalletPays, account, wallet, d}); err == nil {
			t.Errorf("%s changed after signing: accepted", name)
		}
	}
	if _, err := SignWalletProof(otherKey, good.WalletClaim); err == nil {
		t.Fatal("signed a claim for another key's wallet")
	}
}

func TestParseWalletSignature(t *testing.T) {
	key, _ := newWalletKey(t)
	good := signWallet(t, key, "op_aaaaaaaaaaaaaaaa", testDomain, time.Now()).Signature
	tests := []struct {
		in string
		ok bool
	}{
		{good, true},
		{"0x" + strings.ToUpper(good[2:]), true},
		{good[:130] + "00", true},
		{good[:130] + "1c", true},
		{good[:130] + "02", false},
		{good[:130] + "1d", false},
		{good[2:], false},
		{good[:131], false},
		{good + "00", false},
		{"0x" + strings.Repeat("zz", 65), false},
		{"0x" + strings.Repeat("00", 64) + "1b", false}, // r = s = 0
		{"0x" + strings.Repeat("ff", 64) + "1b", false}, // r, s ≥ the curve order
		{"", false},
	}
	for _, tt := range tests {
		sig, err := ParseWalletSignature(tt.in)
		if tt.ok != (err == nil) {
			t.Errorf("ParseWalletSignature(%q) = %v", tt.in, err)
		}
		if err == nil && (len(sig) != 65 || sig[64] > 1) {
			t.Errorf("ParseWalletSignature(%q) = %x", tt.in, sig)
		}
		if err != nil {
			wantErr(t, err, ErrBadWalletProof)
		}
	}
	for _, s := range []string{"2026-01-02T03:04:05Z"} {
		if _, err := ParseIssuedAt(s); err != nil {
			t.Errorf("ParseIssuedAt(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"2026-01-02T03:04:05+01:00", "2026-01-02T03:04:05.5Z", "2026-01-02 03:04:05Z", "1767323045", ""} {
		if _, err := ParseIssuedAt(s); err == nil {
			t.Errorf("ParseIssuedAt(%q) accepted", s)
		}
	}
}

// FuzzWalletProofJSON: whatever a client sends, parsing never panics, and
// an accepted proof writes back to a form that parses to the same proof.
func FuzzWalletProofJSON(f *testing.F) {
	key, _ := newWalletKey(f)
	p := signWallet(f, key, "op_aaaaaaaaaaaaaaaa", testDomain, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	raw, _ := json.Marshal(p.JSON())
	f.Add(raw)
	f.Add([]byte(`{"chain_id":1337,"settler":"0x","issued_at":"2026-01-02T03:04:05Z","signature":"0x00"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var j WalletProofJSON
		if json.Unmarshal(raw, &j) != nil {
			return
		}
		p, err := j.Parse()
		if err != nil {
			return
		}
		again, err := p.JSON().Parse()
		if err != nil || again != p {
			t.Fatalf("round trip of %+v = %+v, %v", p, again, err)
		}
		// Verify may refuse, never panic.
		_ = p.Verify(WalletExpect{Purpose: WalletPays, Account: p.Account, Wallet: p.Wallet, Domain: testDomain})
	})
}

// TestSetBillingNeedsAWalletProof is the attack and its relatives, against
// a real redis-server: operator B names operator A's wallet (one that
// approved the settler) without A's key, or replays A's proof; only the
// wallet's own fresh proof for the right operator, chain and settler is
// accepted, and it is stored for audit.
func TestSetBillingNeedsAWalletProof(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	alice, _ := f.signUp(t)
	bob, _ := f.signUp(t)
	aliceKey, aliceWallet := newWalletKey(t)
	bobKey, _ := newWalletKey(t)
	now := f.clock.Now()
	evm := func(wallet string, p *WalletProof) Billing {
		return Billing{Rail: RailEVM, Wallet: wallet, WalletProof: p, DailyCap: 5 * money.Scale, DefaultMaxPrice: 50_000}
	}
	aliceProof := signWallet(t, aliceKey, alice.ID, testDomain, now)
	bobOwn := signWallet(t, bobKey, bob.ID, testDomain, now)
	forged := *bobOwn
	forged.Wallet = aliceWallet // Bob's signature, Alice's wallet named
	unsigned := *aliceProof
	unsigned.Signature = ""
	tests := []struct {
		name string
		op   string
		b    Billing
		err  error
	}{
		{"B names A's wallet without a proof", bob.ID, evm(aliceWallet, nil), ErrWalletProofRequired},
		{"B names A's wallet with his own signature", bob.ID, evm(aliceWallet, &forged), ErrBadWalletProof},
		{"B replays A's proof", bob.ID, evm(aliceWallet, aliceProof), ErrBadWalletProof},
		{"B replays A's proof, account left out", bob.ID, evm(aliceWallet, &WalletProof{WalletClaim: WalletClaim{ChainID: 1337,
			Settler: testDomain.Settler, IssuedAt: aliceProof.IssuedAt}, Signature: aliceProof.Signature}), ErrBadWalletProof},
		{"A's proof without signature", alice.ID, evm(aliceWallet, &unsigned), ErrBadWalletProof},
		{"wrong chain", alice.ID, evm(aliceWallet, signWallet(t, aliceKey, alice.ID, WalletDomain{ChainID: 1, Settler: testDomain.Settler}, now)), ErrWalletProofDomain},
		{"wrong settler", alice.ID, evm(aliceWallet, signWallet(t, aliceKey, alice.ID, WalletDomain{ChainID: 1337, Settler: aliceWallet}, now)), ErrWalletProofDomain},
		{"stale", alice.ID, evm(aliceWallet, signWallet(t, aliceKey, alice.ID, testDomain, now.Add(-WalletProofMaxAge-time.Minute))), ErrWalletProofExpired},
		{"from the future", alice.ID, evm(aliceWallet, signWallet(t, aliceKey, alice.ID, testDomain, now.Add(WalletProofSkew+time.Minute))), ErrWalletProofExpired},
		{"a proof on rail stripe", alice.ID, Billing{Rail: RailStripe, WalletProof: aliceProof, DailyCap: 5 * money.Scale, DefaultMaxPrice: 1}, ErrInvalidBilling},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.store.SetBilling(ctx, tt.op, tt.b)
			wantErr(t, err, tt.err)
			if op, _ := f.store.Operator(ctx, tt.op); op.Billing != nil {
				t.Fatalf("a refused profile was stored: %+v", op.Billing)
			}
		})
	}

	// A's own proof is accepted and stored with the profile.
	f.clock.Advance(time.Minute)
	b, err := f.store.SetBilling(ctx, alice.ID, evm(strings.ToLower(aliceWallet), aliceProof))
	if err != nil {
		t.Fatal(err)
	}
	op, _ := f.store.Operator(ctx, alice.ID)
	p := op.Billing.WalletProof
	if p == nil || p.Signature != aliceProof.Signature || p.Account != alice.ID || p.Wallet != aliceWallet || p.ChainID != 1337 ||
		p.Settler != testDomain.Settler || !p.IssuedAt.Equal(now) || !p.VerifiedAt.Equal(f.clock.Now().UTC().Truncate(time.Second)) ||
		b.WalletProof == nil || *b.WalletProof != *p {
		t.Fatalf("stored proof %+v, returned %+v", p, b.WalletProof)
	}
	if err := p.Verify(WalletExpect{WalletPays, alice.ID, aliceWallet, testDomain}); err != nil {
		t.Fatalf("the stored proof does not verify: %v", err)
	}

	// Later, the same wallet keeps its proof when the caps change; a new
	// wallet needs a new proof.
	f.clock.Advance(time.Hour)
	again := evm(aliceWallet, nil)
	again.DailyCap = 7 * money.Scale
	if b, err := f.store.SetBilling(ctx, alice.ID, again); err != nil || b.WalletProof == nil || b.WalletProof.Signature != aliceProof.Signature {
		t.Fatalf("caps changed on the same wallet: %+v, %v", b, err)
	}
	newKey, newWallet := newWalletKey(t)
	_, err = f.store.SetBilling(ctx, alice.ID, evm(newWallet, nil))
	wantErr(t, err, ErrWalletProofRequired)
	if _, err := f.store.SetBilling(ctx, alice.ID, evm(newWallet, signWallet(t, newKey, alice.ID, testDomain, f.clock.Now()))); err != nil {
		t.Fatalf("new wallet with its proof: %v", err)
	}

	// A profile stored before wallet proofs existed must be re-proved.
	legacy := `{"rail":"evm","wallet":"` + aliceWallet + `","currency":"USDC","daily_cap":"5.00","default_max_price":"0.05"}`
	if err := f.store.Redis().HSet(ctx, opKey(bob.ID), "billing", legacy).Err(); err != nil {
		t.Fatal(err)
	}
	_, err = f.store.SetBilling(ctx, bob.ID, evm(aliceWallet, nil))
	wantErr(t, err, ErrWalletProofRequired)
	if !strings.Contains(err.Error(), "before wallet proofs existed") {
		t.Fatalf("the refusal does not say why: %v", err)
	}
}

// TestEVMRailNeedsADomain: a key directory without chain id and settler
// refuses evm profiles with a coded error, and refuses a bad domain at
// start.
func TestEVMRailNeedsADomain(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.EVM = WalletDomain{} })
	op, _ := f.signUp(t)
	key, wallet := newWalletKey(t)
	_, err := f.store.SetBilling(context.Background(), op.ID, Billing{Rail: RailEVM, Wallet: wallet,
		WalletProof: signWallet(t, key, op.ID, testDomain, f.clock.Now()), DailyCap: 5 * money.Scale, DefaultMaxPrice: 1})
	wantErr(t, err, ErrRailNotConfigured)
	_, err = f.store.WalletClaim(context.Background(), op.ID, wallet)
	wantErr(t, err, ErrRailNotConfigured)
	for _, d := range []WalletDomain{{ChainID: 1}, {Settler: testDomain.Settler}, {ChainID: -1, Settler: testDomain.Settler}, {ChainID: 1, Settler: "0x12"}} {
		if _, err := NewStore(f.store.Redis(), Options{AgentBase: testBase, EVM: d}); err == nil {
			t.Errorf("NewStore accepted the evm domain %+v", d)
		}
	}
}

// TestWalletClaim: the store offers the claim to sign, with its domain and
// clock, and a proof of it signed by the wallet is accepted.
func TestWalletClaim(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	op, _ := f.signUp(t)
	key, wallet := newWalletKey(t)
	c, err := f.store.WalletClaim(ctx, op.ID, strings.ToLower(wallet))
	if err != nil || c.Account != op.ID || c.Wallet != wallet || c.ChainID != 1337 || c.Settler != testDomain.Settler ||
		!c.IssuedAt.Equal(f.clock.Now().Truncate(time.Second)) || c.Purpose != WalletPays {
		t.Fatalf("WalletClaim = %+v, %v", c, err)
	}
	p, err := SignWalletProof(key, c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.SetBilling(ctx, op.ID, Billing{Rail: RailEVM, Wallet: wallet, WalletProof: &p, DailyCap: 5 * money.Scale, DefaultMaxPrice: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = f.store.WalletClaim(ctx, op.ID, "0x12")
	wantErr(t, err, ErrInvalidBilling)
	_, err = f.store.WalletClaim(ctx, "op_zzzzzzzzzzzzzzzz", wallet)
	wantErr(t, err, ErrNotFound)
}
