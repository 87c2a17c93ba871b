package ledger

import (
	"context"
	"errors"
	"fmt"
	"github.com/paycrawl/paycrawl/internal/testclock"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// suiteCase is one behaviour of the ledger, run against every backend.
type suiteCase struct {
	name string
	fn   func(t *testing.T, e *env)
}

// suite is every case TestLedger runs on a single server and on a cluster:
// one table per file, in file order. A new case is a row in its file's
// table; a new file's table is a row here.
var suite = [][]suiteCase{
	agreementCases,
	appendCases,
	compactCases,
	invoiceCases,
	linesCases,
	nonceCases,
	noteCases,
	precheckCases,
	refundCases,
	replicaCases,
	retryCases,
	settledErrorCases,
	trimCases,
}

// TestLedger runs the suite against a single redis-server and a Redis
// Cluster of 3 masters with a replica each (so every append waits for a
// replica: Options.MinReplicas defaults to 1 on a cluster), both started
// (and stopped) by this test. Each case gets its
// own key prefix, so cases cannot see each other's data.
func TestLedger(t *testing.T) {
	backends := []struct {
		name  string
		start func(t *testing.T) redis.UniversalClient
	}{
		{"single", func(t *testing.T) redis.UniversalClient {
			return testredis.Start(t, testredis.Options{Fsync: "everysec"}).Client()
		}},
		{"cluster", func(t *testing.T) redis.UniversalClient {
			return testredis.StartReplicated(t, testredis.ReplicaOptions{Server: testredis.Options{Fsync: "everysec"}}).Client(t)
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			rdb := b.start(t)
			n := 0
			for _, cases := range suite {
				for _, c := range cases {
					prefix := fmt.Sprintf("t%d", n)
					n++
					t.Run(c.name, func(t *testing.T) {
						c.fn(t, newEnv(t, rdb, prefix))
					})
				}
			}
		})
	}
}

// env is what a suite case works with: a ledger on a fresh prefix, its
// client and its clock.
type env struct {
	t      *testing.T
	ctx    context.Context
	rdb    redis.UniversalClient
	l      *Ledger
	clock  *clock
	prefix string
	seq    atomic.Int64
}

func newEnv(t *testing.T, rdb redis.UniversalClient, prefix string) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	// The clock starts at the real time: replay keys expire at absolute
	// times that Redis compares with its own clock.
	c := testclock.New(time.Now().UTC())
	l, err := New(rdb, Options{Prefix: prefix, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, ctx: ctx, rdb: rdb, l: l, clock: c, prefix: prefix}
}

// ledger returns another Ledger on the same prefix and clock with opts.
func (e *env) ledger(opts Options) *Ledger {
	e.t.Helper()
	opts.Prefix, opts.Now = e.prefix, e.clock.Now
	l, err := New(e.rdb, opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

// today is the ledger day of the env's clock.
func (e *env) today() string { return Day(e.clock.Now()) }

// commitment returns a valid commitment of account with a unique request id
// and replay ids.
func (e *env) commitment(account string, price money.Micros) *Commitment {
	return sampleCommitment(account, e.seq.Add(1), price, e.clock.Now())
}

// sampleCommitment returns a valid commitment; n makes its ids unique.
func sampleCommitment(account string, n int64, price money.Micros, now time.Time) *Commitment {
	s := strconv.FormatInt(n, 10)
	return &Commitment{
		RequestID:      "req-" + s,
		Received:       now,
		Account:        account,
		Agent:          "https://crawler.example/agent",
		KeyID:          "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U",
		PublicKey:      `{"kty":"OKP","crv":"Ed25519","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"}`,
		Publisher:      "pub-1",
		Site:           "example.com",
		Method:         "GET",
		Scheme:         "https",
		Authority:      "example.com",
		Path:           "/articles/" + s,
		Price:          price,
		Currency:       "USD",
		OfferID:        "offer-" + s,
		Dialect:        "deferred",
		Label:          "sig1",
		SignatureInput: `sig1=("@authority" "@path" "signature-agent");created=1735689600;keyid="poqk";tag="web-bot-auth"`,
		Signature:      "sig1=:" + s + "==:",
		Covered:        map[string]string{"signature-agent": `"https://crawler.example/agent"`, "payment": `scheme="deferred"`},
		ReplayIDs:      []string{"nonce-" + s, "sighash-" + s},
		ReplayUntil:    now.Add(time.Minute),
	}
}

// mustAppend appends c and fails the test on error.
func (e *env) mustAppend(c *Commitment) string {
	e.t.Helper()
	id, err := e.l.Append(e.ctx, c, Limits{})
	if err != nil {
		e.t.Fatalf("Append: %v", err)
	}
	return id
}

// invoice appends usage for account today (one commitment per price) and
// creates its USD invoice.
func (e *env) invoice(account string, prices ...money.Micros) *Invoice {
	e.t.Helper()
	for _, p := range prices {
		e.mustAppend(e.commitment(account, p))
	}
	inv, created, err := e.l.CreateInvoice(e.ctx, account, e.today(), "USD", "settler")
	if err != nil || !created {
		e.t.Fatalf("CreateInvoice = %v, %v", created, err)
	}
	return inv
}

// get reads an invoice and fails the test on error.
func (e *env) get(id string) *Invoice {
	e.t.Helper()
	inv, err := e.l.Invoice(e.ctx, id)
	if err != nil {
		e.t.Fatalf("Invoice(%s): %v", id, err)
	}
	return inv
}

// move applies a transition and fails the test on error.
func (e *env) move(id string, tr Transition) {
	e.t.Helper()
	if tr.Actor == "" {
		tr.Actor = "test"
	}
	if tr.Token == 0 {
		tr.Token = 1
	}
	if err := e.l.Transition(e.ctx, id, tr); err != nil {
		e.t.Fatalf("Transition(%s → %s): %v", id, tr.To, err)
	}
}

// clock is the tests' settable clock.
type clock = testclock.Clock

// wantErr fails the test unless errors.Is(err, target).
func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}
