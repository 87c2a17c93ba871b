package main

import (
	"context"
	"fmt"

	"github.com/paycrawl/paycrawl/internal/stack"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

// startPlatform starts Redis, stripe-mock, the chain (chainbot's wallet
// funded with gas), the key directory and the origin site.
func startPlatform(ctx context.Context, d *demoRun) error {
	st := d.st
	for _, step := range []func(context.Context) error{st.StartRedis, st.StartStripe} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	var err error
	if d.walletKey, d.wallet, err = stack.NewKey(); err != nil {
		return err
	}
	if d.chain, err = st.StartChain(ctx, d.wallet); err != nil {
		return err
	}
	if err := st.StartKeydir(ctx, stack.KeydirOptions{SettlerAddress: d.chain.Settler, TokenAddress: d.chain.Token, ChainID: 1337}); err != nil {
		return err
	}
	return st.StartOrigin(ctx, 4096)
}

// registerCrawlers registers four operators with crawlctl, and gives
// chainbot's wallet test USDC and the settler's allowance.
func registerCrawlers(ctx context.Context, d *demoRun) error {
	st, chain := d.st, d.chain
	var err error
	if d.acme, err = st.Register(ctx, "acme-search", "--rail", "stripe", "--daily-cap", "20.00", "--max-price", "0.10"); err != nil {
		return err
	}
	// chainbot's wallet proves it is chainbot's: crawlctl signs the proof
	// with the wallet's key.
	walletFile, err := st.WalletKeyFile("chainbot", d.walletKey)
	if err != nil {
		return err
	}
	if d.chainbot, err = st.Register(ctx, "chainbot", "--rail", "evm", "--wallet", d.wallet, "--wallet-key", walletFile,
		"--daily-cap", "20.00", "--max-price", "0.10"); err != nil {
		return err
	}
	if d.tight, err = st.Register(ctx, "tight-budget", "--rail", "stripe", "--daily-cap", "0.03", "--max-price", "0.01"); err != nil {
		return err
	}
	if d.blocked, err = st.Register(ctx, "scraper-x", "--rail", "stripe", "--daily-cap", "5.00", "--max-price", "0.10"); err != nil {
		return err
	}
	if _, err := st.Settler(ctx, "devchain", "mint", "-rpc", chain.RPC, "-key", chain.SettlerKey, "-token", chain.Token, "-to", d.wallet, "-amount", "25.00"); err != nil {
		return err
	}
	if _, err := st.Settler(ctx, "devchain", "approve", "-rpc", chain.RPC, "-key", d.walletKey, "-token", chain.Token, "-spender", chain.Settler, "-amount", "20.00"); err != nil {
		return err
	}
	fmt.Printf("chainbot's wallet %s holds 25.00 USDC and approved the settler %s for 20.00\n", d.wallet, chain.Settler)
	return nil
}

// newsPayout is the news site's payout method: a Stripe connected account.
var newsPayout = registry.PayoutJSON{Rail: string(registry.RailStripe), StripeAccount: "acct_1DemoNewsPublisher"}

// createPublishers creates the accounts of the two sites' publishers
// before any money is earned (a fee applies from the earnings recorded
// after it is set): the news site, paid by Stripe Connect with a 10 % fee,
// and the API, paid on chain to a wallet it proves its own, without fee.
// The admin gives the news publisher its site's host, 127.0.0.1, the one
// host its agreements may name; the API, on the same host (another port),
// sells no agreement and holds none: a host is one publisher's.
func createPublishers(ctx context.Context, d *demoRun) error {
	var err error
	if d.news, err = d.st.CreatePublisher(ctx, keydir.PublisherCreateRequest{ID: stack.GatewayPublisher, Name: "Demo News",
		Contact: "money@news.example", FeeBPS: 1000, MinimumPayout: "0.10",
		Payout: &newsPayout, Hosts: []string{stack.GatewayHost}}); err != nil {
		return err
	}
	if d.api, err = d.st.CreatePublisher(ctx, keydir.PublisherCreateRequest{ID: stack.APIPublisher, Name: "Demo Quotes API",
		Contact: "money@quotes.example", FeeBPS: 0}); err != nil {
		return err
	}
	var apiWallet string
	if d.apiWalletKey, apiWallet, err = stack.NewKey(); err != nil {
		return err
	}
	if err := d.st.ProvePayoutWallet(ctx, d.api, d.apiWalletKey); err != nil {
		return err
	}
	fmt.Fprintln(d.w, "PUBLISHER\tNAME\tHOSTS\tFEE\tMINIMUM\tPAID BY")
	fmt.Fprintf(d.w, "%s\t%s\t%s\t10 %%\t0.10 USD\tStripe Connect, %s\n", d.news.ID, d.news.Name, stack.GatewayHost, newsPayout.StripeAccount)
	fmt.Fprintf(d.w, "%s\t%s\t-\t0 %%\t-\tUSDC on chain to %s (wallet proof signed by its key)\n", d.api.ID, d.api.Name, apiWallet)
	d.w.Flush()
	return nil
}

// startGateway starts the gateway blocking scraper-x and, in cluster mode,
// a second, stateless gateway on the same ledger.
func startGateway(ctx context.Context, d *demoRun) error {
	st := d.st
	if err := st.StartGateway(ctx, fmt.Sprintf("      - operator: %s\n        action: block\n", d.blocked.OperatorID)); err != nil {
		return err
	}
	d.gateways = []string{st.Gateway}
	if d.cluster {
		// The replica has no crawler overrides: scraper-x crawls through
		// the first gateway, which blocks it.
		gw2, err := st.StartGatewayReplica(ctx, "gateway-2")
		if err != nil {
			return err
		}
		d.gateways = append(d.gateways, gw2)
	}
	return nil
}
