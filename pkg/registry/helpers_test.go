package registry

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/paycrawl/paycrawl/internal/testclock"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/redis/go-redis/v9"
)

const testBase = "https://keys.example"

// clock is the tests' settable clock.
type clock = testclock.Clock

// fakeCustomers is an in-memory Customers for store tests; the Stripe
// implementation is tested against stripe-mock in stripecust.
type fakeCustomers struct {
	mu      sync.Mutex
	created int
	owners  map[string]string
	fail    error
}

func (f *fakeCustomers) CreateCustomer(_ context.Context, op Operator) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return "", f.fail
	}
	f.created++
	id := fmt.Sprintf("cus_test%d", f.created)
	if f.owners == nil {
		f.owners = map[string]string{}
	}
	f.owners[id] = op.ID
	return id, nil
}

func (f *fakeCustomers) CustomerOwner(_ context.Context, id string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	owner, ok := f.owners[id]
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return owner, nil
}

type fixture struct {
	srv       *testredis.Server
	store     *Store
	clock     *clock
	customers *fakeCustomers
}

// newFixture starts a redis-server and a store on it with a test clock.
func newFixture(t *testing.T, mod func(*Options)) *fixture {
	t.Helper()
	srv := testredis.Start(t, testredis.Options{NoAOF: true})
	f := &fixture{srv: srv, clock: testclock.New(time.Unix(1_750_000_000, 0)), customers: &fakeCustomers{}}
	opts := Options{AgentBase: testBase, Customers: f.customers, Now: f.clock.Now, Logger: slog.New(slog.DiscardHandler), SignupsPerMinute: -1,
		EVM: testDomain}
	opts.AgentHosts.DNS = testDNS{} // agent hosts resolve without the network
	if mod != nil {
		mod(&opts)
	}
	// Fail fast when a test kills the server.
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), DialTimeout: 200 * time.Millisecond, DialerRetries: 1, MaxRetries: 1})
	t.Cleanup(func() { _ = rdb.Close() })
	s, err := NewStore(rdb, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.store = s
	return f
}

func newPriv(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func (f *fixture) signUp(t *testing.T) (*Operator, string) {
	t.Helper()
	op, token, err := f.store.SignUp(context.Background(), "Example Crawler", "ops@crawler.example")
	if err != nil {
		t.Fatal(err)
	}
	return op, token
}

func (f *fixture) proof(t *testing.T, priv ed25519.PrivateKey, opID string) Proof {
	t.Helper()
	p, err := SignProof(priv, opID, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) register(t *testing.T, opID string) (ed25519.PrivateKey, *KeyRecord) {
	t.Helper()
	priv := newPriv(t)
	k, err := f.store.RegisterKey(context.Background(), opID, f.proof(t, priv, opID))
	if err != nil {
		t.Fatal(err)
	}
	return priv, k
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}
