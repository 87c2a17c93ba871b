package keys

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/testclock"
	"github.com/paycrawl/paycrawl/internal/testnet"
	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/redis/go-redis/v9"
)

const testBase = "https://keys.example"

// customers names each operator's Stripe customer after it.
type customers struct{}

func (customers) CreateCustomer(_ context.Context, op registry.Operator) (string, error) {
	return "cus_" + op.ID, nil
}

func (customers) CustomerOwner(_ context.Context, id string) (string, error) {
	return id[len("cus_"):], nil
}

// fixture is a registry store on a real redis-server, with a test clock.
type fixture struct {
	srv   *testredis.Server
	opts  registry.Options
	store *registry.Store
	clock *testclock.Clock
}

func newFixture(t *testing.T, mod func(*registry.Options)) *fixture {
	t.Helper()
	f := &fixture{srv: testredis.Start(t, testredis.Options{NoAOF: true}), clock: testclock.New(time.Unix(1_750_000_000, 0))}
	f.opts = registry.Options{AgentBase: testBase, Customers: customers{}, Now: f.clock.Now, Logger: slog.New(slog.DiscardHandler), SignupsPerMinute: -1}
	f.opts.AgentHosts.DNS = testnet.DNS{} // agent hosts resolve without the network
	if mod != nil {
		mod(&f.opts)
	}
	// Fail fast when a test kills the server.
	f.store = f.storeOn(t, &redis.Options{Addr: f.srv.Addr(), DialTimeout: 200 * time.Millisecond, DialerRetries: 1, MaxRetries: 1})
	return f
}

// storeOn is a store with the fixture's options on a client of its server.
func (f *fixture) storeOn(t *testing.T, o *redis.Options) *registry.Store {
	t.Helper()
	rdb := redis.NewClient(o)
	t.Cleanup(func() { _ = rdb.Close() })
	s, err := registry.NewStore(rdb, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newPriv is a fresh Ed25519 key (crypto/rand never fails).
func newPriv(testing.TB) ed25519.PrivateKey {
	_, priv, _ := ed25519.GenerateKey(nil)
	return priv
}

func mustNewKey(t testing.TB, priv ed25519.PrivateKey) deferred.Key {
	t.Helper()
	k, err := deferred.NewKey(priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (f *fixture) signUp(t *testing.T) (*registry.Operator, string) {
	t.Helper()
	op, token, err := f.store.SignUp(context.Background(), "Example Crawler", "ops@crawler.example")
	if err != nil {
		t.Fatal(err)
	}
	return op, token
}

func (f *fixture) proof(t *testing.T, priv ed25519.PrivateKey, opID string) registry.Proof {
	t.Helper()
	p, err := registry.SignProof(priv, opID, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) register(t *testing.T, opID string) (ed25519.PrivateKey, *registry.KeyRecord) {
	t.Helper()
	priv := newPriv(t)
	k, err := f.store.RegisterKey(context.Background(), opID, f.proof(t, priv, opID))
	if err != nil {
		t.Fatal(err)
	}
	return priv, k
}
