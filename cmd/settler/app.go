package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/paycrawl/paycrawl/pkg/archive"
	"github.com/paycrawl/paycrawl/pkg/archive/stores"
	"github.com/paycrawl/paycrawl/pkg/earnings"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/refusals"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/settle"
	"github.com/paycrawl/paycrawl/pkg/settle/evm"
	"github.com/paycrawl/paycrawl/pkg/settle/evm/devchain"
	"github.com/paycrawl/paycrawl/pkg/settle/stripe"
	"github.com/paycrawl/paycrawl/pkg/webhook"
)

// app is a wired settler: ledger, registry, rails.
type app struct {
	cfg     Config
	log     *slog.Logger
	ledger  *ledger.Ledger
	settler *settle.Settler
	// archiver is the cold tier, nil without one; tiered reads the
	// ledger's commitments from Redis or from it.
	archiver *archive.Archiver
	tiered   *archive.Tiered
	// store is the operator registry: payers, and names for finance.
	store *registry.Store
	// book is the publishers' earnings ledger, on the ledger's Redis;
	// payouts pays them out.
	book    *earnings.Book
	payouts *settle.Payouts
	// refusals reads the gateways' refusal counts for the publishers' page.
	refusals *refusals.Reader
	// hooks stores and delivers webhook events (on the registry's Redis,
	// where the key directory registers operators' endpoints); nil when
	// webhooks are disabled.
	hooks *webhook.Store
	// chain is the embedded chain, if the daemon runs one; token and
	// spender what crawlers approve on it.
	chain   *devchain.Chain
	token   common.Address
	spender common.Address
	// stripe is the stripe rail, nil without it: it finds the invoices of
	// disputed PaymentIntents.
	stripe *stripe.Rail
	// chainID is the evm rail's chain id, 0 without the rail.
	chainID int64
	closers []func() error
}

// wiring says what a command needs.
type wiring struct {
	// rails: charge commands need the rails; close and approve do not.
	rails bool
	// embedded: the command may start the embedded chain (the daemon).
	embedded bool
	// refunds: the command refunds (serve's finance API) and opens the
	// rails it can; an embedded chain, which lives in the daemon's memory,
	// is left out with a warning (the daemon's own API refunds on it).
	refunds bool
}

// openApp builds the app for cfg. Close it when done.
func openApp(ctx context.Context, cfg Config, log *slog.Logger, w wiring) (_ *app, err error) {
	a := &app{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			_ = a.Close()
		}
	}()
	lrdb, err := ledger.NewClient(cfg.Ledger.ClientConfig())
	if err != nil {
		return nil, fmt.Errorf("ledger redis: %w", err)
	}
	a.closers = append(a.closers, lrdb.Close)
	if a.ledger, err = ledger.New(lrdb, ledger.Options{Prefix: cfg.Ledger.Prefix, Logger: log, RetentionDays: cfg.RetentionDays,
		MinReplicas: cfg.Ledger.MinReplicasOption()}); err != nil {
		return nil, err
	}
	if err := a.ledger.Ping(ctx); err != nil {
		return nil, err
	}
	rrdb, err := ledger.NewClient(cfg.Registry.ClientConfig())
	if err != nil {
		return nil, fmt.Errorf("registry redis: %w", err)
	}
	a.closers = append(a.closers, rrdb.Close)
	store, err := registry.NewStore(rrdb, registry.Options{AgentBase: cfg.Registry.AgentBase, Logger: log})
	if err != nil {
		return nil, err
	}
	a.store = store
	if !cfg.Webhooks.Disabled {
		if a.hooks, err = webhook.NewStore(rrdb, webhook.Options{Logger: log, AllowHTTP: cfg.Webhooks.AllowHTTP,
			Policy: cfg.Webhooks.policy()}); err != nil {
			return nil, err
		}
	}
	prefix := cfg.Ledger.KeyPrefix()
	if a.book, err = earnings.New(earnings.Options{Redis: lrdb, Ledger: a.ledger, Prefix: prefix + ":earn", Logger: log,
		Fees: settle.RegistryFees{Store: store, Default: cfg.Payouts.DefaultFeeBPS}}); err != nil {
		return nil, err
	}
	// The gateway counts refusals under the ledger's prefix and "rf".
	if a.refusals, err = refusals.NewReader(lrdb, prefix+":rf"); err != nil {
		return nil, err
	}
	var rails []settle.Rail
	if w.rails {
		if rails, err = a.openRails(ctx, w); err != nil {
			return nil, err
		}
	}
	// Wallet proofs must name this settler's chain and address.
	payers := settle.RegistryPayers{Store: store}
	if a.chainID != 0 {
		payers.EVM = registry.WalletDomain{ChainID: a.chainID, Settler: a.spender.Hex()}
	}
	a.tiered = &archive.Tiered{Ledger: a.ledger}
	arrangements := settle.RegistryArrangements{Store: store}
	var arch settle.Archiver
	if cfg.Archive.Enabled() {
		if a.tiered.Store, err = stores.Open(ctx, cfg.Archive); err != nil {
			return nil, err
		}
		if a.archiver, err = archive.New(archive.Options{Ledger: a.ledger, Store: a.tiered.Store,
			TempDir: cfg.Archive.TempDir, Logger: log, Invoices: settle.LinesCheck{Arrangements: arrangements}}); err != nil {
			return nil, err
		}
		arch = a.archiver
	}
	a.settler, err = settle.New(settle.Options{Ledger: a.ledger, Payers: payers,
		Rails: rails, Config: cfg.Settle(), Logger: log, Earnings: a.book, Archiver: arch,
		Arrangements: arrangements, Hosts: store})
	if err != nil {
		return nil, err
	}
	var payoutRails []settle.PayoutRail
	for _, r := range rails {
		if pr, ok := r.(settle.PayoutRail); ok {
			payoutRails = append(payoutRails, pr)
		}
	}
	if a.payouts, err = settle.NewPayouts(settle.PayoutsOptions{Ledger: a.ledger, Book: a.book, Publishers: store, Rails: payoutRails,
		EVM: payers.EVM, Period: cfg.Payouts.Period, Logger: log}); err != nil {
		return nil, err
	}
	return a, nil
}

// openRails builds the configured rails.
func (a *app) openRails(ctx context.Context, w wiring) ([]settle.Rail, error) {
	var rails []settle.Rail
	if c := a.cfg.Stripe; c.APIKey != "" {
		r, err := stripe.New(stripe.Config{APIKey: c.APIKey, BaseURL: c.APIURL, MinimumCents: c.MinimumCents, Logger: a.log})
		if err != nil {
			return nil, err
		}
		rails = append(rails, r)
		a.stripe = r
	}
	if c := a.cfg.EVM; c.Enabled() && c.Embedded && !w.embedded && w.refunds {
		a.log.Warn("settler: evm.embedded: the embedded chain lives in the daemon's memory; this process cannot refund on it")
	} else if c.Enabled() {
		r, err := a.openEVM(ctx, c, w)
		if err != nil {
			return nil, err
		}
		rails = append(rails, r)
	}
	if len(rails) == 0 && !w.refunds {
		a.log.Warn("settler: no rail configured (stripe.api_key, evm.rpc_url or evm.embedded): invoices cannot be charged")
	}
	return rails, nil
}

func (a *app) openEVM(ctx context.Context, c EVMConfig, w wiring) (*evm.Rail, error) {
	key, err := devchain.ParseKey(c.SettlerKey)
	if err != nil {
		return nil, fmt.Errorf("evm.settler_key: %w", err)
	}
	a.spender = crypto.PubkeyToAddress(key.PublicKey)
	var client evm.Client
	switch {
	case c.Embedded && !w.embedded:
		return nil, errors.New("evm.embedded: the embedded chain lives in the daemon's memory (settler run); " +
			"one-shot commands need evm.rpc_url, for instance the endpoint of `settler devchain serve`")
	case c.Embedded:
		fund := []common.Address{a.spender}
		for _, f := range c.Fund {
			fund = append(fund, common.HexToAddress(f))
		}
		ch, err := devchain.Start(devchain.Options{BlockInterval: c.BlockInterval, Fund: fund, HTTPAddr: c.EmbeddedHTTP})
		if err != nil {
			return nil, err
		}
		a.chain = ch
		a.closers = append(a.closers, ch.Close)
		client = ch.Client()
		a.log.Info("settler: embedded chain started", "chain_id", devchain.ChainID, "rpc_url", ch.URL(), "settler", a.spender)
	default:
		ec, err := ethclient.DialContext(ctx, c.RPCURL)
		if err != nil {
			return nil, fmt.Errorf("evm.rpc_url: %w", err)
		}
		a.closers = append(a.closers, func() error { ec.Close(); return nil })
		client = ec
	}
	if c.Token != "" {
		a.token = common.HexToAddress(c.Token)
	} else {
		if a.token, err = devchain.DeployToken(ctx, client, key); err != nil {
			return nil, err
		}
		a.log.Info("settler: TestUSDC deployed on the embedded chain; its minter is the settler's key", "token", a.token)
	}
	r, err := evm.New(evm.Config{Client: client, Token: a.token, Treasury: common.HexToAddress(c.Treasury), Key: key,
		Ledger: a.ledger, Confirmations: c.Confirmations, ConfirmTimeout: c.ConfirmTimeout, Payouts: a.book, Logger: a.log})
	if err != nil {
		return nil, err
	}
	if err := r.Check(ctx); err != nil {
		return nil, err
	}
	id, err := client.ChainID(ctx)
	if err != nil {
		return nil, fmt.Errorf("evm: chain id: %w", err)
	}
	if !id.IsInt64() || id.Sign() <= 0 {
		return nil, fmt.Errorf("evm: chain id %s is not a positive int64", id)
	}
	a.chainID = id.Int64()
	return r, nil
}

// Close releases what the app opened, last first.
func (a *app) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}
