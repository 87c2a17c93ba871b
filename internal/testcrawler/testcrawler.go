// Package testcrawler gives tests a real key directory registry (on its own
// redis-server) with a key resolver, and signs up crawlers in it: an
// operator, an Ed25519 key registered with its proofs, and an evm billing
// profile whose wallet is proved. Servers stop when the test ends.
package testcrawler

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/paywall/keys"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

// AgentBase is the key directory's public URL of the test registry:
// hosted agents are <AgentBase>/agents/<operator id>.
const AgentBase = "https://keys.example"

// Registry is a registry store on a real redis-server and a resolver that
// listens to its changes.
type Registry struct {
	Redis    *testredis.Server
	Store    *registry.Store
	Resolver *keys.Resolver
}

// Start runs a registry for t.
func Start(t testing.TB) *Registry {
	t.Helper()
	// appendfsync always: tests kill this server with SIGKILL and expect the
	// crawlers registered before to be there after Restart. Under everysec
	// Redis may postpone the AOF write while a slow background fsync runs
	// (a loaded machine), answer first, and lose the registration with the
	// process (TestRegistryDownFailsClosed: "registry back: still 400").
	r := &Registry{Redis: testredis.Start(t, testredis.Options{Fsync: "always"})}
	var err error
	r.Store, err = registry.NewStore(r.Redis.Client(), registry.Options{AgentBase: AgentBase, SignupsPerMinute: -1,
		EVM: registry.WalletDomain{ChainID: 1337, Settler: "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"}})
	if err != nil {
		t.Fatal(err)
	}
	r.Resolver, err = keys.NewResolver(r.Store, keys.ResolverOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = r.Resolver.Listen(ctx) }()
	<-r.Resolver.Subscribed()
	return r
}

// Crawler is a signed-up operator with one registered key and a hosted
// agent.
type Crawler struct {
	Operator string
	Agent    string
	Key      ed25519.PrivateKey
	Signer   *deferred.Signer
}

// Terms are a crawler's billing terms.
type Terms struct {
	// DailyCap and DefaultMaxPrice as decimal strings ("1000", "1.00").
	DailyCap, DefaultMaxPrice string
}

// DefaultTerms are generous terms.
var DefaultTerms = Terms{DailyCap: "1000", DefaultMaxPrice: "1.00"}

// NewCrawler signs up an operator named name with a fresh key.
func (r *Registry) NewCrawler(t testing.TB, name string, tm Terms) *Crawler {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return r.NewCrawlerWithKey(t, name, tm, priv)
}

// NewCrawlerWithKey signs up an operator, registers priv with its proof
// and its hosted directory's proof, and sets an evm billing profile with
// the given terms and a proved wallet.
func (r *Registry) NewCrawlerWithKey(t testing.TB, name string, tm Terms, priv ed25519.PrivateKey) *Crawler {
	t.Helper()
	ctx := context.Background()
	op, _, err := r.Store.SignUp(ctx, name, name+"@crawler.example")
	if err != nil {
		t.Fatal(err)
	}
	proof, err := registry.SignProof(priv, op.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The key's own proof for its hosted directory, as crawlctl sends it.
	dp, err := registry.SignDirectoryProof(priv, r.Store.DirectoryAuthority(op.ID), time.Now(), time.Now().Add(registry.DefaultDirectoryProofValidity))
	if err != nil {
		t.Fatal(err)
	}
	proof.DirectoryProof = &dp
	if _, err := r.Store.RegisterKey(ctx, op.ID, proof); err != nil {
		t.Fatal(err)
	}
	capm, err := money.Parse(tm.DailyCap)
	if err != nil {
		t.Fatal(err)
	}
	maxp, err := money.Parse(tm.DefaultMaxPrice)
	if err != nil {
		t.Fatal(err)
	}
	// The paying wallet proves it is the operator's.
	walletKey, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	claim, err := r.Store.WalletClaim(ctx, op.ID, crypto.PubkeyToAddress(walletKey.PublicKey).Hex())
	if err != nil {
		t.Fatal(err)
	}
	wp, err := registry.SignWalletProof(walletKey, claim)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Store.SetBilling(ctx, op.ID, registry.Billing{Rail: registry.RailEVM,
		Wallet: claim.Wallet, WalletProof: &wp, DailyCap: capm, DefaultMaxPrice: maxp}); err != nil {
		t.Fatal(err)
	}
	agent := r.Store.HostedAgentURL(op.ID)
	s, err := deferred.NewSigner(priv, agent)
	if err != nil {
		t.Fatal(err)
	}
	return &Crawler{Operator: op.ID, Agent: agent, Key: priv, Signer: s}
}
