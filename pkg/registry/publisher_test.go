package registry

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/money"
)

func TestCreatePublisherRefusesBadInput(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	ok := PublisherSpec{ID: "pub_news", Name: "News", Contact: "money@news.example", MinimumPayout: 10 * money.Scale, FeeBPS: 250}
	if _, _, err := f.store.CreatePublisher(ctx, ok); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*PublisherSpec)
		want error
	}{
		{"taken id", func(s *PublisherSpec) {}, ErrExists},
		{"upper-case id", func(s *PublisherSpec) { s.ID = "Pub_X" }, ErrInvalid},
		{"id with a pipe", func(s *PublisherSpec) { s.ID = "pub|x" }, ErrInvalid},
		{"id too long", func(s *PublisherSpec) { s.ID = "p" + strings.Repeat("x", 64) }, ErrInvalid},
		{"no name", func(s *PublisherSpec) { s.ID, s.Name = "pub_a", " " }, ErrInvalid},
		{"bad contact", func(s *PublisherSpec) { s.ID, s.Contact = "pub_a", "Money <m@x.example>" }, ErrInvalid},
		{"negative fee", func(s *PublisherSpec) { s.ID, s.FeeBPS = "pub_a", -1 }, ErrInvalid},
		{"fee above all", func(s *PublisherSpec) { s.ID, s.FeeBPS = "pub_a", MaxFeeBPS+1 }, ErrInvalid},
		{"negative minimum", func(s *PublisherSpec) { s.ID, s.MinimumPayout = "pub_a", -1 }, ErrInvalid},
		{"stripe account shape", func(s *PublisherSpec) {
			s.ID, s.Payout = "pub_a", &Payout{Rail: RailStripe, StripeAccount: "cus_123"}
		}, ErrInvalid},
		{"stripe in USDC", func(s *PublisherSpec) {
			s.ID, s.Payout = "pub_a", &Payout{Rail: RailStripe, StripeAccount: "acct_123", Currency: CurrencyUSDC}
		}, ErrInvalid},
		{"unknown rail", func(s *PublisherSpec) { s.ID, s.Payout = "pub_a", &Payout{Rail: "paypal"} }, ErrInvalid},
		{"evm without proof", func(s *PublisherSpec) {
			s.ID, s.Payout = "pub_a", &Payout{Rail: RailEVM, Wallet: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}
		}, ErrWalletProofRequired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := ok
			tc.mod(&spec)
			if _, _, err := f.store.CreatePublisher(ctx, spec); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestPublisherTokens(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	p, token, err := f.store.CreatePublisher(ctx, PublisherSpec{Name: "Blog", Contact: "me@blog.example"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.ID, PublisherIDPrefix) || !ValidPublisherID(p.ID) || !strings.HasPrefix(token, PublisherTokenPrefix) {
		t.Fatalf("minted %q, token %q", p.ID, token)
	}
	got, err := f.store.AuthenticatePublisher(ctx, token)
	if err != nil || got.ID != p.ID {
		t.Fatalf("authenticate: %v %v", got, err)
	}
	// An operator's token is not a publisher's, nor the reverse.
	_, opToken, err := f.store.SignUp(ctx, "Crawler", "ops@crawler.example")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.AuthenticatePublisher(ctx, opToken); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("operator token as a publisher's: %v", err)
	}
	if _, err := f.store.Authenticate(ctx, token); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("publisher token as an operator's: %v", err)
	}
	fresh, err := f.store.RotatePublisherToken(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.AuthenticatePublisher(ctx, token); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("old token after rotation: %v", err)
	}
	if got, err := f.store.AuthenticatePublisher(ctx, fresh); err != nil || got.ID != p.ID {
		t.Fatalf("new token: %v %v", got, err)
	}
	if _, err := f.store.RotatePublisherToken(ctx, "pub_nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rotate unknown: %v", err)
	}
}

// signReceive signs a WalletReceives proof of key's wallet for publisher.
func signReceive(t *testing.T, f *fixture, k *ecdsaKey, publisher string) *WalletProof {
	t.Helper()
	p, err := SignWalletProof(k.PrivateKey, WalletClaim{Purpose: WalletReceives, Account: publisher, Wallet: k.addr,
		ChainID: testDomain.ChainID, Settler: testDomain.Settler, IssuedAt: f.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return &p
}

// TestPayoutWalletMustBeProven: a publisher cannot name a wallet it does not
// control, nor reuse a crawler's paying proof or another publisher's.
func TestPayoutWalletMustBeProven(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	for _, id := range []string{"pub_a", "pub_b"} {
		if _, _, err := f.store.CreatePublisher(ctx, PublisherSpec{ID: id, Name: id, Contact: id + "@pub.example", FeeBPS: 100}); err != nil {
			t.Fatal(err)
		}
	}
	key := newEcdsaKey(t)
	payout := func(p *WalletProof) PublisherChange {
		return PublisherChange{Payout: &Payout{Rail: RailEVM, Wallet: strings.ToLower(key.addr), WalletProof: p}}
	}
	pays := signWallet(t, key.PrivateKey, "pub_a", testDomain, f.clock.Now()) // purpose pay, not receive
	for _, tc := range []struct {
		name string
		c    PublisherChange
		want error
	}{
		{"no proof", payout(nil), ErrWalletProofRequired},
		{"a paying proof", payout(pays), ErrBadWalletProof},
		{"another publisher's proof", payout(signReceive(t, f, key, "pub_b")), ErrBadWalletProof},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.store.UpdatePublisher(ctx, "pub_a", EditorPublisher, tc.c); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	p, err := f.store.UpdatePublisher(ctx, "pub_a", EditorPublisher, payout(signReceive(t, f, key, "pub_a")))
	if err != nil {
		t.Fatal(err)
	}
	if p.Payout.Wallet != key.addr || p.Payout.Currency != CurrencyUSDC || p.Payout.WalletProof.VerifiedAt.IsZero() {
		t.Fatalf("payout %+v", p.Payout)
	}
	// The same wallet again keeps its proof; the stored account reads back.
	if _, err := f.store.UpdatePublisher(ctx, "pub_a", EditorPublisher, payout(nil)); err != nil {
		t.Fatal(err)
	}
	back, err := f.store.Publisher(ctx, "pub_a")
	if err != nil || back.Payout.WalletProof == nil || back.FeeBPS != 100 {
		t.Fatalf("read back %+v %v", back, err)
	}
	if err := back.Payout.WalletProof.Verify(WalletExpect{Purpose: WalletReceives, Account: "pub_a", Wallet: key.addr, Domain: testDomain}); err != nil {
		t.Fatal(err)
	}
}

func TestOnlyAdminSetsTheFee(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	if _, _, err := f.store.CreatePublisher(ctx, PublisherSpec{ID: "pub_a", Name: "A", Contact: "a@pub.example", FeeBPS: 500}); err != nil {
		t.Fatal(err)
	}
	zero := int64(0)
	if _, err := f.store.UpdatePublisher(ctx, "pub_a", EditorPublisher, PublisherChange{FeeBPS: &zero}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("publisher sets its fee: %v", err)
	}
	min := money.Micros(25 * money.Scale)
	name := "A Media"
	p, err := f.store.UpdatePublisher(ctx, "pub_a", EditorPublisher, PublisherChange{Name: &name, MinimumPayout: &min,
		Payout: &Payout{Rail: RailStripe, StripeAccount: "acct_1AbC"}})
	if err != nil || p.Name != name || p.MinimumPayout != min || p.FeeBPS != 500 || p.Currency() != CurrencyUSD {
		t.Fatalf("%+v %v", p, err)
	}
	if p, err = f.store.UpdatePublisher(ctx, "pub_a", EditorAdmin, PublisherChange{FeeBPS: &zero}); err != nil || p.FeeBPS != 0 {
		t.Fatalf("admin sets fee 0: %+v %v", p, err)
	}
	list, err := f.store.ListPublishers(ctx)
	if err != nil || len(list) != 1 || list[0].FeeBPS != 0 || list[0].Payout.StripeAccount != "acct_1AbC" {
		t.Fatalf("list %+v %v", list, err)
	}
}

type ecdsaKey struct {
	PrivateKey *ecdsa.PrivateKey
	addr       string
}

func newEcdsaKey(t *testing.T) *ecdsaKey {
	k, addr := newWalletKey(t)
	return &ecdsaKey{PrivateKey: k, addr: addr}
}
