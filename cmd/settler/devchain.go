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

// devchainOpts are the flags of every devchain subcommand; each declares
// the ones it reads.
type devchainOpts struct {
	json                                    bool
	rpcURL, keyHex, token, to, spender      string
	address, amount, httpAddr, fund, deploy string
	ether                                   int64
	interval                                time.Duration
}

// devchainRun is what a subcommand works with once its flags are parsed:
// the key that signs (signing subcommands), the chain client (those that
// dial --rpc) and the printer of its result.
type devchainRun struct {
	ioEnv
	o   devchainOpts
	key *ecdsa.PrivateKey
	c   *ethclient.Client
}

// devchainCommand is one `settler devchain` subcommand: the flags of its
// own, whether it signs (--key) and dials a chain (--rpc), and what it
// does.
type devchainCommand struct {
	flags func(fs *flag.FlagSet, o *devchainOpts)
	signs bool
	dials bool
	run   func(ctx context.Context, r *devchainRun) error
}

// devchainCommands is the table of the devchain subcommands.
var devchainCommands = map[string]devchainCommand{
	"serve":  {flags: serveFlags, run: serveDevchain},
	"key":    {run: devKey},
	"deploy": {signs: true, dials: true, run: devDeploy},
	"fund": {flags: func(fs *flag.FlagSet, o *devchainOpts) {
		fs.StringVar(&o.to, "to", "", "address to fund")
		fs.Int64Var(&o.ether, "ether", 1, "ether to send")
	}, signs: true, dials: true, run: devFund},
	"mint": {flags: func(fs *flag.FlagSet, o *devchainOpts) {
		tokenFlag(fs, o)
		fs.StringVar(&o.to, "to", "", "address to mint to")
		fs.StringVar(&o.amount, "amount", "", "amount, decimal (25.00)")
	}, signs: true, dials: true, run: devMintOrApprove("mint")},
	"approve": {flags: func(fs *flag.FlagSet, o *devchainOpts) {
		tokenFlag(fs, o)
		fs.StringVar(&o.spender, "spender", "", "the settler's address")
		fs.StringVar(&o.amount, "amount", "", "allowance, decimal (100.00)")
	}, signs: true, dials: true, run: devMintOrApprove("approve")},
	"balance": {flags: func(fs *flag.FlagSet, o *devchainOpts) {
		tokenFlag(fs, o)
		fs.StringVar(&o.address, "address", "", "the holder")
		fs.StringVar(&o.spender, "spender", "", "also print the allowance to this spender")
	}, dials: true, run: devBalance},
}

// cmdDevchain is `settler devchain <subcommand> …`: parse the
// subcommand's flags and key, dial the chain, run it.
func cmdDevchain(ctx context.Context, args []string, e ioEnv) error {
	if len(args) == 0 {
		fmt.Fprint(e.stdout, devchainUsage)
		return errors.New("devchain: a subcommand is required")
	}
	name, args := args[0], args[1:]
	cmd, ok := devchainCommands[name]
	if !ok {
		fmt.Fprint(e.stdout, devchainUsage)
		return fmt.Errorf("devchain: unknown subcommand %q", name)
	}
	r, err := cmd.parse(name, args, e)
	if err != nil {
		return err
	}
	if cmd.dials {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if r.c, err = ethclient.DialContext(ctx, r.o.rpcURL); err != nil {
			return fmt.Errorf("--rpc %s: %w", r.o.rpcURL, err)
		}
		defer r.c.Close()
	}
	return cmd.run(ctx, r)
}

// parse reads the subcommand's flags and, when it signs, its key.
func (cmd devchainCommand) parse(name string, args []string, e ioEnv) (*devchainRun, error) {
	r := &devchainRun{ioEnv: e}
	fs := flag.NewFlagSet("settler devchain "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.BoolVar(&r.o.json, "json", false, "print JSON")
	if cmd.dials {
		fs.StringVar(&r.o.rpcURL, "rpc", "http://127.0.0.1:8545", "JSON-RPC URL of the chain")
	}
	if cmd.signs {
		fs.StringVar(&r.o.keyHex, "key", "", "private key (hex) that signs; default $"+envDevKey)
	}
	if cmd.flags != nil {
		cmd.flags(fs, &r.o)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cmd.signs {
		if err := r.loadKey(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func serveFlags(fs *flag.FlagSet, o *devchainOpts) {
	fs.StringVar(&o.httpAddr, "http", "127.0.0.1:8545", "loopback address of the JSON-RPC endpoint")
	fs.DurationVar(&o.interval, "block-interval", devchain.DefaultBlockInterval, "time between blocks")
	fs.StringVar(&o.fund, "fund", "", "comma-separated addresses given 1000 ether at genesis")
	fs.StringVar(&o.deploy, "deploy-key", "", "deploy TestUSDC with this key (funded too) and print its address")
}

func tokenFlag(fs *flag.FlagSet, o *devchainOpts) {
	fs.StringVar(&o.token, "token", "", "token address")
}

// loadKey parses --key, or $PAYCRAWL_DEVCHAIN_KEY without it.
func (r *devchainRun) loadKey() error {
	keyHex := r.o.keyHex
	if keyHex == "" {
		keyHex = r.getenv(envDevKey)
	}
	k, err := devchain.ParseKey(keyHex)
	if err != nil {
		return fmt.Errorf("--key (or $%s): %w", envDevKey, err)
	}
	r.key = k
	return nil
}

// out prints v as JSON with --json, else the human line.
func (r *devchainRun) out(v map[string]any, human string) error {
	if r.o.json {
		return json.NewEncoder(r.stdout).Encode(v)
	}
	_, err := fmt.Fprintln(r.stdout, human)
	return err
}

func devKey(_ context.Context, r *devchainRun) error {
	k, a, err := devchain.NewKey()
	if err != nil {
		return err
	}
	hex := common.Bytes2Hex(crypto.FromECDSA(k))
	return r.out(map[string]any{"private_key": hex, "address": a.Hex()}, fmt.Sprintf("private key %s\naddress     %s", hex, a.Hex()))
}

func devDeploy(ctx context.Context, r *devchainRun) error {
	token, err := devchain.DeployToken(ctx, r.c, r.key)
	if err != nil {
		return err
	}
	minter := crypto.PubkeyToAddress(r.key.PublicKey)
	return r.out(map[string]any{"token": token.Hex(), "minter": minter.Hex()}, fmt.Sprintf("TestUSDC %s (minter %s)", token.Hex(), minter.Hex()))
}

func devFund(ctx context.Context, r *devchainRun) error {
	to, err := address("--to", r.o.to)
	if err != nil {
		return err
	}
	if r.o.ether < 1 {
		return errors.New("--ether: want 1 or more")
	}
	if err := devchain.Fund(ctx, r.c, r.key, to, new(big.Int).Mul(big.NewInt(r.o.ether), devchain.Ether)); err != nil {
		return err
	}
	return r.out(map[string]any{"to": to.Hex(), "ether": r.o.ether}, fmt.Sprintf("sent %d ether to %s", r.o.ether, to.Hex()))
}

// devMintOrApprove mints to --to, or approves --spender, an amount of the
// token.
func devMintOrApprove(sub string) func(ctx context.Context, r *devchainRun) error {
	return func(ctx context.Context, r *devchainRun) error {
		token, err := address("--token", r.o.token)
		if err != nil {
			return err
		}
		name, target, act, done := "--to", r.o.to, devchain.Mint, "minted"
		if sub == "approve" {
			name, target, act, done = "--spender", r.o.spender, devchain.Approve, "approved"
		}
		to, err := address(name, target)
		if err != nil {
			return err
		}
		amount, err := money.Parse(r.o.amount)
		if err != nil {
			return fmt.Errorf("--amount: %w", err)
		}
		if err := act(ctx, r.c, r.key, token, to, amount); err != nil {
			return err
		}
		return r.out(map[string]any{sub: amount.String(), "token": token.Hex(), strings.TrimPrefix(name, "--"): to.Hex()},
			fmt.Sprintf("%s %s %s on %s", done, amount, to.Hex(), token.Hex()))
	}
}

func devBalance(ctx context.Context, r *devchainRun) error {
	token, err := address("--token", r.o.token)
	if err != nil {
		return err
	}
	holder, err := address("--address", r.o.address)
	if err != nil {
		return err
	}
	bal, err := evm.BalanceOf(ctx, r.c, token, holder)
	if err != nil {
		return err
	}
	v := map[string]any{"address": holder.Hex(), "token": token.Hex(), "balance": evm.FormatUnits(bal)}
	human := fmt.Sprintf("balance %s %s", evm.FormatUnits(bal), evm.Symbol)
	if r.o.spender != "" {
		spender, err := address("--spender", r.o.spender)
		if err != nil {
			return err
		}
		allow, err := evm.Allowance(ctx, r.c, token, holder, spender)
		if err != nil {
			return err
		}
		v["spender"], v["allowance"] = spender.Hex(), evm.FormatUnits(allow)
		human += fmt.Sprintf("\nallowance %s %s to %s", evm.FormatUnits(allow), evm.Symbol, spender.Hex())
	}
	return r.out(v, human)
}

// serveDevchain runs an embedded chain on loopback until ctx ends.
func serveDevchain(ctx context.Context, r *devchainRun) error {
	interval := r.o.interval
	var funded []common.Address
	for _, f := range strings.Split(r.o.fund, ",") {
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
	if r.o.deploy != "" {
		k, err := devchain.ParseKey(r.o.deploy)
		if err != nil {
			return fmt.Errorf("--deploy-key: %w", err)
		}
		deployer = k
		funded = append(funded, crypto.PubkeyToAddress(k.PublicKey))
	}
	if interval <= 0 {
		return errors.New("--block-interval: want a positive duration")
	}
	ch, err := devchain.Start(devchain.Options{BlockInterval: interval, Fund: funded, HTTPAddr: r.o.httpAddr})
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
	if err := r.out(v, human); err != nil {
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
