package main

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle/evm"
	"github.com/paycrawl/paycrawl/pkg/settle/evm/devchain"
)

// envDevKey holds the key of devchain commands when --key is not given.
const envDevKey = "PAYCRAWL_DEVCHAIN_KEY"

// devchainUsage lists the devchain subcommands.
const devchainUsage = `usage: settler devchain <subcommand> [flags]

  serve    run an embedded chain serving JSON-RPC on loopback until stopped
           --http 127.0.0.1:8545 --block-interval 500ms --fund 0x…,0x… [--deploy-key HEX]
  key      make a new private key and print it with its address
  deploy   deploy TestUSDC (6 decimals); the key becomes its minter
           --rpc URL --key HEX
  fund     send ether for gas      --rpc URL --key HEX --to 0x… --ether 1
  mint     mint tokens             --rpc URL --key HEX --token 0x… --to 0x… --amount 25.00
  approve  approve a spender       --rpc URL --key HEX --token 0x… --spender 0x… --amount 100.00
  balance  token balance (and allowance with --spender)
           --rpc URL --token 0x… --address 0x… [--spender 0x…]

Keys are hex secp256k1 private keys; --key defaults to $` + envDevKey + `.
Add --json for machine-readable output. For tests and demos only.
`

func cmdDevchain(ctx context.Context, args []string, e ioEnv) error {
	if len(args) == 0 {
		fmt.Fprint(e.stdout, devchainUsage)
		return errors.New("devchain: a subcommand is required")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("settler devchain "+sub, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var (
		asJSON                              = fs.Bool("json", false, "print JSON")
		rpcURL, keyHex, tokenS, toS, spendS string
		addressS, amountS                   string
		ether                               int64
		httpAddr, fund, deployKey           string
		interval                            time.Duration
	)
	switch sub {
	case "serve":
		fs.StringVar(&httpAddr, "http", "127.0.0.1:8545", "loopback address of the JSON-RPC endpoint")
		fs.DurationVar(&interval, "block-interval", devchain.DefaultBlockInterval, "time between blocks")
		fs.StringVar(&fund, "fund", "", "comma-separated addresses given 1000 ether at genesis")
		fs.StringVar(&deployKey, "deploy-key", "", "deploy TestUSDC with this key (funded too) and print its address")
	case "key":
	case "deploy", "fund", "mint", "approve", "balance":
		fs.StringVar(&rpcURL, "rpc", "http://127.0.0.1:8545", "JSON-RPC URL of the chain")
		if sub != "balance" {
			fs.StringVar(&keyHex, "key", "", "private key (hex) that signs; default $"+envDevKey)
		}
		switch sub {
		case "fund":
			fs.StringVar(&toS, "to", "", "address to fund")
			fs.Int64Var(&ether, "ether", 1, "ether to send")
		case "mint", "approve", "balance":
			fs.StringVar(&tokenS, "token", "", "token address")
		}
		switch sub {
		case "mint":
			fs.StringVar(&toS, "to", "", "address to mint to")
			fs.StringVar(&amountS, "amount", "", "amount, decimal (25.00)")
		case "approve":
			fs.StringVar(&spendS, "spender", "", "the settler's address")
			fs.StringVar(&amountS, "amount", "", "allowance, decimal (100.00)")
		case "balance":
			fs.StringVar(&addressS, "address", "", "the holder")
			fs.StringVar(&spendS, "spender", "", "also print the allowance to this spender")
		}
	default:
		fmt.Fprint(e.stdout, devchainUsage)
		return fmt.Errorf("devchain: unknown subcommand %q", sub)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	out := func(v map[string]any, human string) error {
		if *asJSON {
			return json.NewEncoder(e.stdout).Encode(v)
		}
		_, err := fmt.Fprintln(e.stdout, human)
		return err
	}
	if sub == "key" {
		k, a, err := devchain.NewKey()
		if err != nil {
			return err
		}
		hex := common.Bytes2Hex(crypto.FromECDSA(k))
		return out(map[string]any{"private_key": hex, "address": a.Hex()}, fmt.Sprintf("private key %s\naddress     %s", hex, a.Hex()))
	}
	if sub == "serve" {
		return serveDevchain(ctx, e, out, httpAddr, interval, fund, deployKey)
	}
	var key *ecdsa.PrivateKey
	if sub != "balance" {
		if keyHex == "" {
			keyHex = e.getenv(envDevKey)
		}
		k, err := devchain.ParseKey(keyHex)
		if err != nil {
			return fmt.Errorf("--key (or $%s): %w", envDevKey, err)
		}
		key = k
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	c, err := ethclient.DialContext(ctx, rpcURL)
	if err != nil {
		return fmt.Errorf("--rpc %s: %w", rpcURL, err)
	}
	defer c.Close()
	switch sub {
	case "deploy":
		token, err := devchain.DeployToken(ctx, c, key)
		if err != nil {
			return err
		}
		minter := crypto.PubkeyToAddress(key.PublicKey)
		return out(map[string]any{"token": token.Hex(), "minter": minter.Hex()}, fmt.Sprintf("TestUSDC %s (minter %s)", token.Hex(), minter.Hex()))
	case "fund":
		to, err := address("--to", toS)
		if err != nil {
			return err
		}
		if ether < 1 {
			return errors.New("--ether: want 1 or more")
		}
		if err := devchain.Fund(ctx, c, key, to, new(big.Int).Mul(big.NewInt(ether), devchain.Ether)); err != nil {
			return err
		}
		return out(map[string]any{"to": to.Hex(), "ether": ether}, fmt.Sprintf("sent %d ether to %s", ether, to.Hex()))
	case "mint", "approve":
		token, err := address("--token", tokenS)
		if err != nil {
			return err
		}
		target := toS
		name := "--to"
		if sub == "approve" {
			target, name = spendS, "--spender"
		}
		to, err := address(name, target)
		if err != nil {
			return err
		}
		amount, err := money.Parse(amountS)
		if err != nil {
			return fmt.Errorf("--amount: %w", err)
		}
		if sub == "mint" {
			err = devchain.Mint(ctx, c, key, token, to, amount)
		} else {
			err = devchain.Approve(ctx, c, key, token, to, amount)
		}
		if err != nil {
			return err
		}
		return out(map[string]any{sub: amount.String(), "token": token.Hex(), strings.TrimPrefix(name, "--"): to.Hex()},
			fmt.Sprintf("%s %s %s on %s", verb(sub), amount, to.Hex(), token.Hex()))
	case "balance":
		token, err := address("--token", tokenS)
		if err != nil {
			return err
		}
		holder, err := address("--address", addressS)
		if err != nil {
			return err
		}
		bal, err := evm.BalanceOf(ctx, c, token, holder)
		if err != nil {
			return err
		}
		v := map[string]any{"address": holder.Hex(), "token": token.Hex(), "balance": evm.FormatUnits(bal)}
		human := fmt.Sprintf("balance %s %s", evm.FormatUnits(bal), evm.Symbol)
		if spendS != "" {
			spender, err := address("--spender", spendS)
			if err != nil {
				return err
			}
			allow, err := evm.Allowance(ctx, c, token, holder, spender)
			if err != nil {
				return err
			}
			v["spender"], v["allowance"] = spender.Hex(), evm.FormatUnits(allow)
			human += fmt.Sprintf("\nallowance %s %s to %s", evm.FormatUnits(allow), evm.Symbol, spender.Hex())
		}
		return out(v, human)
	}
	return nil
}

// serveDevchain runs an embedded chain on loopback until ctx ends.
func serveDevchain(ctx context.Context, e ioEnv, out func(map[string]any, string) error, httpAddr string, interval time.Duration, fund, deployKey string) error {
	var funded []common.Address
	for _, f := range strings.Split(fund, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		a, err := address("--fund", f)
		if err != nil {
			return err
		}
		funded = append(funded, a)
	}
	var deployer *ecdsa.PrivateKey
	if deployKey != "" {
		k, err := devchain.ParseKey(deployKey)
		if err != nil {
			return fmt.Errorf("--deploy-key: %w", err)
		}
		deployer = k
		funded = append(funded, crypto.PubkeyToAddress(k.PublicKey))
	}
	if interval <= 0 {
		return errors.New("--block-interval: want a positive duration")
	}
	ch, err := devchain.Start(devchain.Options{BlockInterval: interval, Fund: funded, HTTPAddr: httpAddr})
	if err != nil {
		return err
	}
	defer ch.Close()
	v := map[string]any{"rpc_url": ch.URL(), "chain_id": devchain.ChainID}
	human := fmt.Sprintf("chain %d serving JSON-RPC at %s", devchain.ChainID, ch.URL())
	if deployer != nil {
		dctx, cancel := context.WithTimeout(ctx, time.Minute)
		token, err := devchain.DeployToken(dctx, ch.Client(), deployer)
		cancel()
		if err != nil {
			return err
		}
		v["token"] = token.Hex()
		human += fmt.Sprintf("\nTestUSDC %s (minter %s)", token.Hex(), crypto.PubkeyToAddress(deployer.PublicKey).Hex())
	}
	if err := out(v, human); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

func address(flagName, s string) (common.Address, error) {
	if !common.IsHexAddress(s) {
		return common.Address{}, fmt.Errorf("%s %q: want a 0x address", flagName, s)
	}
	return common.HexToAddress(s), nil
}

func verb(sub string) string {
	if sub == "mint" {
		return "minted"
	}
	return "approved"
}
