package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/internal/testnet"
	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/internal/teststripe"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/stripecust"
	"github.com/paycrawl/paycrawl/pkg/settle/evm/devchain"
)

// world is what the CLI tests run against: a real redis-server (ledger and
// registry), stripe-mock behind the recording proxy, and two operators with
// a day of usage, one on each rail.
type world struct {
	t          *testing.T
	ctx        context.Context
	rdb        redis.UniversalClient
	l          *ledger.Ledger
	store      *registry.Store
	stripeURL  string
	proxy      *teststripe.Proxy
	day        string
	card, coin string // operator ids
	settlerKey *ecdsa.PrivateKey
	settler    common.Address
	treasury   common.Address
	walletKey  *ecdsa.PrivateKey
	wallet     common.Address
	seq        int
	// listen is where `settler run` and `settler serve` serve finance.
	listen string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	srv := testredis.Start(t, testredis.Options{Fsync: "no"})
	w := &world{t: t, ctx: ctx, rdb: srv.Client(), day: ledger.Day(time.Now().AddDate(0, 0, -2)),
		listen: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	var err error
	if w.l, err = ledger.New(w.rdb, ledger.Options{}); err != nil {
		t.Fatal(err)
	}
	w.stripeURL, w.proxy = teststripe.StartProxy(t)
	cust, err := stripecust.New(stripecust.Config{APIKey: teststripe.APIKey, BaseURL: w.stripeURL})
	if err != nil {
		t.Fatal(err)
	}
	w.settlerKey, w.settler, _ = devchain.NewKey()
	_, w.treasury, _ = devchain.NewKey()
	w.walletKey, w.wallet, _ = devchain.NewKey()
	domain := registry.WalletDomain{ChainID: devchain.ChainID, Settler: w.settler.Hex()}
	if w.store, err = registry.NewStore(w.rdb, registry.Options{AgentBase: "http://127.0.0.1:8403", Customers: cust, EVM: domain}); err != nil {
		t.Fatal(err)
	}
	caps := registry.Billing{DailyCap: 100 * money.Scale, DefaultMaxPrice: money.Scale}
	card := caps
	card.Rail = registry.RailStripe
	w.card = w.operator("card", card)
	// The coin operator proves its wallet with the wallet's key.
	op, _, err := w.store.SignUp(w.ctx, "coin", "ops@coin.example")
	if err != nil {
		t.Fatal(err)
	}
	proof, err := registry.SignWalletProof(w.walletKey, registry.WalletClaim{Purpose: registry.WalletPays, Account: op.ID,
		Wallet: w.wallet.Hex(), ChainID: domain.ChainID, Settler: domain.Settler, IssuedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	coin := caps
	coin.Rail, coin.Wallet, coin.WalletProof = registry.RailEVM, w.wallet.Hex(), &proof
	if _, err := w.store.SetBilling(w.ctx, op.ID, coin); err != nil {
		t.Fatal(err)
	}
	w.coin = op.ID
	w.use(w.card, "USD", 1_500_000, 2_345)
	w.use(w.coin, "USDC", 2_000_000, 500_000)
	return w
}

func (w *world) operator(name string, b registry.Billing) string {
	op, _, err := w.store.SignUp(w.ctx, name, "ops@"+name+".example")
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.store.SetBilling(w.ctx, op.ID, b); err != nil {
		w.t.Fatal(err)
	}
	return op.ID
}

func (w *world) use(account, cur string, prices ...money.Micros) {
	at, _ := time.Parse("2006-01-02", w.day)
	for _, p := range prices {
		w.seq++
		c := &ledger.Commitment{RequestID: fmt.Sprintf("req-%d", w.seq), Received: at.Add(12 * time.Hour), Account: account,
			KeyID: "kid", Publisher: "pub", Site: "a.example", Price: p, Currency: cur,
			ReplayIDs: []string{fmt.Sprintf("n-%d", w.seq)}, ReplayUntil: time.Now().Add(time.Hour)}
		if _, err := w.l.Append(w.ctx, c, ledger.Limits{}); err != nil {
			w.t.Fatal(err)
		}
	}
}

// config writes a configuration file for the world with extra YAML.
func (w *world) config(extra string) string {
	opts := w.rdb.(*redis.Client).Options()
	return writeConfig(w.t, fmt.Sprintf(`ledger:
  addrs: [%q]
registry:
  addrs: [%q]
review_window: 0s
lookback_days: 3
retry_schedule: [1s]
log_level: error
listen: %s
stripe:
  api_key: %s
  api_url: %s
`, opts.Addr, opts.Addr, w.listen, teststripe.APIKey, w.stripeURL)+extra)
}

func (w *world) evmConfig(rpc, token string) string {
	return fmt.Sprintf(`evm:
  rpc_url: %s
  settler_key: %x
  treasury: %s
  token: %s
  confirmations: 1
  confirm_timeout: 20s
`, rpc, crypto.FromECDSA(w.settlerKey), w.treasury.Hex(), token)
}

// cli runs the settler's command line and returns its standard output.
func (w *world) cli(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	err := runCLI(w.ctx, args, &out, &errOut, env(nil))
	if err != nil && errOut.Len() > 0 {
		err = fmt.Errorf("%w\nstderr: %s", err, errOut.String())
	}
	return out.String(), err
}

func (w *world) invoice(account, cur string) *ledger.Invoice {
	w.t.Helper()
	inv, err := w.l.Invoice(w.ctx, ledger.InvoiceID(account, w.day, cur))
	if err != nil {
		w.t.Fatal(err)
	}
	return inv
}

// TestOneShotCommands drives close, charge and run-once by hand against
// Redis, stripe-mock and a chain served over JSON-RPC (as `settler devchain
// serve` does), with JSON and human output.
func TestOneShotCommands(t *testing.T) {
	w := newWorld(t)
	minter, minterAddr, _ := devchain.NewKey()
	ch, err := devchain.Start(devchain.Options{BlockInterval: 20 * time.Millisecond, HTTPAddr: "127.0.0.1:0",
		Fund: []common.Address{minterAddr, w.settler, w.wallet}})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	token, err := devchain.DeployToken(w.ctx, ch.Client(), minter)
	if err != nil {
		t.Fatal(err)
	}
	if err := devchain.Mint(w.ctx, ch.Client(), minter, token, w.wallet, 10_000_000); err != nil {
		t.Fatal(err)
	}
	if err := devchain.Approve(w.ctx, ch.Client(), w.walletKey, token, w.settler, 10_000_000); err != nil {
		t.Fatal(err)
	}
	cfg := w.config(w.evmConfig(ch.URL(), token.Hex()))

	out, err := w.cli("close", "-config", cfg, "--day", w.day, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var closed closeJSON
	if err := json.Unmarshal([]byte(out), &closed); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if closed.Created != 2 || closed.Commitments != 4 || closed.Totals["USD"] != "1.502345" || closed.Totals["USDC"] != "2.50" {
		t.Fatalf("close: %s", out)
	}

	out, err = w.cli("charge", "-config", cfg, "--day", w.day, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var charged chargeOutput
	if err := json.Unmarshal([]byte(out), &charged); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if charged.Approve.Approved != 2 || len(charged.Charge.Results) != 2 || charged.Charge.Charged["USD"] != "1.50" ||
		charged.Charge.Carried["USD"] != "0.002345" || charged.Charge.Charged["USDC"] != "2.50" {
		t.Fatalf("charge: %s", out)
	}
	card, coin := w.invoice(w.card, "USD"), w.invoice(w.coin, "USDC")
	if card.Status != ledger.StatusPaid || card.PaymentIntent == "" || coin.Status != ledger.StatusPaid || coin.TxHash == "" || coin.Block == 0 {
		t.Fatalf("invoices: %+v / %+v", card, coin)
	}
	if b, _ := devchain.Balance(w.ctx, ch.Client(), token, w.treasury); b != 2_500_000 {
		t.Fatalf("treasury holds %s", b)
	}

	// Nothing left to do: run-once changes nothing, and says so.
	out, err = w.cli("run-once", "-config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "closed "+w.day+": 2 crawlers, 2 invoices (0 new, 2 existing), 0 held; 4 commitments; totals 1.502345 USD, 2.50 USDC") ||
		!strings.Contains(out, "charged "+w.day+": 0 invoices acted on") {
		t.Fatalf("run-once:\n%s", out)
	}
	if n := len(w.proxy.Intents()); n != 1 {
		t.Fatalf("%d PaymentIntents, want 1", n)
	}
	if b, _ := devchain.Balance(w.ctx, ch.Client(), token, w.wallet); b != 7_500_000 {
		t.Fatalf("the wallet holds %s", b)
	}
}

func TestCommandLineRefusals(t *testing.T) {
	w := newWorld(t)
	embedded := w.config("evm:\n  embedded: true\n  settler_key: " + testKey + "\n  treasury: 0x52908400098527886E0F7030069857D2E4169EE7\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "no command"},
		{"unknown command", []string{"settle-everything"}, "unknown command"},
		{"no day", []string{"close"}, "--day is required"},
		{"bad day", []string{"close", "--day", "2026-02-30"}, "want YYYY-MM-DD"},
		{"extra argument", []string{"close", "--day", "yesterday", "extra"}, "unexpected arguments"},
		{"embedded chain in a one-shot command", []string{"run-once", "-config", embedded}, "one-shot commands need evm.rpc_url"},
		{"bad config", []string{"close", "-config", w.config("grace: -1s\n"), "--day", w.day}, "grace"},
		{"day not over", []string{"close", "-config", w.config(""), "--day", ledger.Day(time.Now())}, "not closable yet"},
		{"devchain alone", []string{"devchain"}, "subcommand is required"},
		{"devchain bad key", []string{"devchain", "mint", "--key", "zz"}, "--key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := w.cli(tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	if out, err := w.cli("help"); err != nil || !strings.Contains(out, "run-once") {
		t.Fatalf("help = %q, %v", out, err)
	}
}

// TestDaemon runs `settler run` with an embedded chain serving JSON-RPC and
// a one-second schedule: it deploys the token, and once the crawler has
// approved the settler (through the endpoint, as another process would),
// both invoices are paid; then it shuts down on cancel.
func TestDaemon(t *testing.T) {
	w := newWorld(t)
	port := freePort(t)
	cfg := w.config(fmt.Sprintf(`schedule:
  cron: "@every 1s"
evm:
  embedded: true
  embedded_http: 127.0.0.1:%d
  block_interval: 50ms
  fund: [%s]
  settler_key: %x
  treasury: %s
  confirmations: 1
  confirm_timeout: 10s
`, port, w.wallet.Hex(), crypto.FromECDSA(w.settlerKey), w.treasury.Hex()))
	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan error, 1)
	go func() {
		var out, errOut bytes.Buffer
		err := runCLI(ctx, []string{"run", "-config", cfg}, &out, &errOut, env(nil))
		if err != nil {
			err = fmt.Errorf("%w: %s", err, errOut.String())
		}
		done <- err
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("settler run: %v", err)
			}
		case <-time.After(40 * time.Second):
			t.Errorf("settler run did not stop")
		}
	}()

	// The token is the settler key's first contract.
	token := crypto.CreateAddress(w.settler, 0)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	var rpc *ethclient.Client
	waitFor(t, 30*time.Second, "the embedded chain's token", func() bool {
		c, err := ethclient.DialContext(w.ctx, url)
		if err != nil {
			return false
		}
		code, err := c.CodeAt(w.ctx, token, nil)
		if err != nil || len(code) == 0 {
			c.Close()
			return false
		}
		rpc = c
		return true
	})
	defer rpc.Close()
	if err := devchain.Mint(w.ctx, rpc, w.settlerKey, token, w.wallet, 5_000_000); err != nil {
		t.Fatal(err)
	}
	if err := devchain.Approve(w.ctx, rpc, w.walletKey, token, w.settler, 5_000_000); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "both invoices paid", func() bool {
		return w.invoice(w.card, "USD").Status == ledger.StatusPaid && w.invoice(w.coin, "USDC").Status == ledger.StatusPaid
	})
	if b, err := devchain.Balance(w.ctx, rpc, token, w.treasury); err != nil || b != 2_500_000 {
		t.Fatalf("treasury holds %s, %v", b, err)
	}
	if n := len(w.proxy.Intents()); n != 1 {
		t.Fatalf("%d PaymentIntents, want 1", n)
	}
	// The daemon serves finance's API and page on its own listener.
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/v1/invoices": 401, "/": 303} {
		resp, err := noRedirect.Get("http://" + w.listen + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// noRedirect is an HTTP client that shows redirects instead of following
// them.
var noRedirect = &http.Client{Timeout: 10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePort is testnet.FreePort, failing t when there is none.
func freePort(t *testing.T) int {
	t.Helper()
	p, err := testnet.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}
