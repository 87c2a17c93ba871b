package stack

import (
	"context"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
	"github.com/paycrawl/paycrawl/pkg/settle/evm/devchain"
)

// Publisher is a publisher account created by CreatePublisher.
type Publisher struct {
	ID, Name string
	// Token is the publisher's own token (pcp_…): its page, its statements.
	Token string
}

// CreatePublisher creates a publisher account through the key directory's
// admin API (the id the gateway's sites name, a fee, a minimum payout, the
// hosts it may sell agreements for and, optionally, a Stripe connected
// account to be paid on).
func (s *Stack) CreatePublisher(ctx context.Context, req keydir.PublisherCreateRequest) (*Publisher, error) {
	out, err := (&keydir.Client{BaseURL: s.Keydir, Token: s.AdminToken}).CreatePublisher(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("create publisher %s: %w", req.ID, err)
	}
	hosts := "no hosts"
	if len(out.Publisher.Hosts) > 0 {
		hosts = "hosts " + strings.Join(out.Publisher.Hosts, " ")
	}
	s.logf("publisher         %s (%s), fee %d bps, %s", out.Publisher.ID, req.Name, req.FeeBPS, hosts)
	return &Publisher{ID: out.Publisher.ID, Name: req.Name, Token: out.Token}, nil
}

// ProvePayoutWallet makes the wallet of hexKey (as NewKey returns it) the
// publisher's payout method: the key directory gives the claim naming the
// publisher, the chain and the settler, the wallet's key signs it, and the
// publisher sets its method with the proof, as a publisher would.
func (s *Stack) ProvePayoutWallet(ctx context.Context, p *Publisher, hexKey string) error {
	key, err := devchain.ParseKey(hexKey)
	if err != nil {
		return err
	}
	wallet := crypto.PubkeyToAddress(key.PublicKey).Hex()
	c := &keydir.Client{BaseURL: s.Keydir, Token: p.Token}
	claim, err := c.PayoutWalletClaim(ctx, "me", wallet)
	if err != nil {
		return fmt.Errorf("payout wallet claim of %s: %w", p.ID, err)
	}
	issued, err := registry.ParseIssuedAt(claim.Proof.IssuedAt)
	if err != nil {
		return err
	}
	proof, err := registry.SignWalletProof(key, registry.WalletClaim{Purpose: registry.WalletPurpose(claim.Proof.Purpose),
		Account: claim.Proof.Account, Wallet: claim.Proof.Wallet, ChainID: claim.Proof.ChainID, Settler: claim.Proof.Settler, IssuedAt: issued})
	if err != nil {
		return err
	}
	pj := proof.JSON()
	if _, err := c.UpdatePublisher(ctx, "me", keydir.PublisherPatchRequest{Payout: &registry.PayoutJSON{Rail: string(registry.RailEVM),
		Wallet: wallet, WalletProof: &pj}}); err != nil {
		return fmt.Errorf("payout wallet of %s: %w", p.ID, err)
	}
	s.logf("payout wallet     %s proved %s's", wallet, p.ID)
	return nil
}
