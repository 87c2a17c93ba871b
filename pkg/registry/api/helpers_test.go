package api

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"github.com/paycrawl/paycrawl/internal/testclock"
	"github.com/paycrawl/paycrawl/internal/testnet"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/httpx"
	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/internal/teststripe"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
	"github.com/paycrawl/paycrawl/pkg/registry/stripecust"
	"github.com/redis/go-redis/v9"
)

const adminToken = "admin-token-for-tests-0123456789abcdef"

// financeToken is the test key directory's read-only finance token.
const financeToken = "finance-token-for-tests-0123456789abcdef"

// clock is the tests' settable clock.
type clock = testclock.Clock

type env struct {
	t      *testing.T
	redis  *testredis.Server
	rdb    *redis.Client
	store  *registry.Store
	server *Server
	ts     *httptest.Server
	clock  *clock
	ledger *ledger.Ledger
	dirKey ed25519.PrivateKey // the directory signing key
}

type envOptions struct {
	stripe  bool
	ledger  bool // serve /v1/usage from a ledger on the same Redis
	signups int
	now     bool // use a settable clock instead of time.Now
	noEVM   bool // no evm chain and settler: the evm rail is unavailable
	hosted  bool // per-operator hosts under http://localhost:<port>, signed with dirKey
}

// testDomain is the chain and settler of the test key directory.
var testDomain = registry.WalletDomain{ChainID: 1337, Settler: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"}

// newEnv starts redis-server (and stripe-mock when asked) and the API on a
// loopback port.
func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{t: t, redis: testredis.Start(t, testredis.Options{NoAOF: true}), clock: testclock.New(time.Now())}
	e.rdb = redis.NewClient(&redis.Options{Addr: e.redis.Addr(), DialTimeout: 200 * time.Millisecond, DialerRetries: 1, MaxRetries: 1})
	t.Cleanup(func() { _ = e.rdb.Close() })
	e.ts = httptest.NewUnstartedServer(nil)
	base := "http://" + e.ts.Listener.Addr().String()
	opts := registry.Options{AgentBase: base, AllowHTTPLoopbackAgents: true, SignupsPerMinute: o.signups,
		Logger: slog.New(slog.DiscardHandler), EVM: testDomain}
	if o.noEVM {
		opts.EVM = registry.WalletDomain{}
	}
	if o.hosted {
		_, port, _ := net.SplitHostPort(e.ts.Listener.Addr().String())
		opts.HostedAgentsBase = "http://localhost:" + port
	}
	opts.AgentHosts.DNS = testnet.DNS{} // agent hosts resolve without the network
	if o.signups == 0 {
		opts.SignupsPerMinute = -1
	}
	if o.now {
		opts.Now = e.clock.Now
	}
	if o.stripe {
		c, err := stripecust.New(stripecust.Config{APIKey: teststripe.APIKey, BaseURL: teststripe.Start(t)})
		if err != nil {
			t.Fatal(err)
		}
		opts.Customers = c
	}
	store, err := registry.NewStore(e.rdb, opts)
	if err != nil {
		t.Fatal(err)
	}
	e.store = store
	cfg := Config{Store: store, AdminToken: adminToken, FinanceToken: financeToken, Logger: slog.New(slog.DiscardHandler),
		EVM: EVMConfig{SettlerAddress: testDomain.Settler, TokenAddress: "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", ChainID: testDomain.ChainID}}
	if o.noEVM {
		cfg.EVM = EVMConfig{}
	}
	_, e.dirKey, _ = ed25519.GenerateKey(rand.Reader)
	cfg.DirectoryKeys = []ed25519.PrivateKey{e.dirKey}
	if o.ledger {
		e.ledger, err = ledger.New(e.rdb, ledger.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Usage = e.ledger
	}
	e.server, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.ts.Config.Handler = e.server.Handler()
	e.ts.Start()
	t.Cleanup(e.ts.Close)
	return e
}

func (e *env) client(token string) *keydir.Client {
	return &keydir.Client{BaseURL: e.ts.URL, Token: token}
}

// call sends a request with a JSON (or raw string) body and returns the
// status and body.
func (e *env) call(method, path, token string, body any) (int, []byte, http.Header) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, resp.Header
}

// wantError checks an error answer's status and code.
func (e *env) wantError(status int, code string, method, path, token string, body any) httpx.ErrorBody {
	e.t.Helper()
	got, raw, _ := e.call(method, path, token, body)
	var eb httpx.ErrorBody
	if err := json.Unmarshal(raw, &eb); err != nil || got != status || eb.Code != code || eb.Message == "" {
		e.t.Fatalf("%s %s: %d %s, want %d %s", method, path, got, raw, status, code)
	}
	return eb
}

type operator struct {
	id, token string
	priv      ed25519.PrivateKey
	keyID     string
}

// signUp creates an operator through the API.
func (e *env) signUp(name string) operator {
	e.t.Helper()
	resp, err := e.client("").SignUp(context.Background(), name, name+"@crawler.example")
	if err != nil {
		e.t.Fatal(err)
	}
	return operator{id: resp.Operator.ID, token: resp.Token}
}

func newPriv(t *testing.T) ed25519.PrivateKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func (e *env) proof(priv ed25519.PrivateKey, opID string) registry.Proof {
	e.t.Helper()
	p, err := registry.SignProof(priv, opID, e.store.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// withKey signs up an operator and registers one key.
func (e *env) withKey(name string) operator {
	e.t.Helper()
	op := e.signUp(name)
	op.priv = newPriv(e.t)
	k, err := e.client(op.token).RegisterKey(context.Background(), e.proof(op.priv, op.id))
	if err != nil {
		e.t.Fatal(err)
	}
	op.keyID = k.KeyID
	return op
}

// directory fetches a hosted directory and returns its keyids.
func (e *env) directory(opID string) (ids []string, h http.Header) {
	e.t.Helper()
	status, raw, h := e.call(http.MethodGet, "/agents/"+opID, "", nil)
	if status != http.StatusOK {
		e.t.Fatalf("directory: %d %s", status, raw)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		e.t.Fatal(err)
	}
	for _, k := range set.Keys {
		ids = append(ids, k.Kid)
	}
	return ids, h
}
