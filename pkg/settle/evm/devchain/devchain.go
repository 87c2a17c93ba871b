// Package devchain is the embedded chain of the stablecoin rail: go-ethereum's
// simulated backend, in process, committing a block on a ticker, optionally
// serving JSON-RPC over HTTP on a loopback address so that other processes
// (the demo's crawler) can use it. It also deploys and drives the test token
// (contracts/TestUSDC): deploy, mint, approve, balances — helpers that work
// on any chain client, embedded or remote.
//
// The chain lives in memory: it is gone when the process ends. It is for
// tests and demos, never for money.
package devchain

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/node"

	"github.com/paycrawl/paycrawl/internal/freeport"
	"github.com/paycrawl/paycrawl/pkg/settle/evm"
)

// ChainID is the simulated backend's chain id.
const ChainID = 1337

// DefaultBlockInterval is how often the chain commits a block by default.
const DefaultBlockInterval = 500 * time.Millisecond

// Ether is 10^18 wei.
var Ether = new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)

// Options configure a Chain.
type Options struct {
	// BlockInterval is how often a block is committed; 0 means
	// DefaultBlockInterval, negative means never (call Commit).
	BlockInterval time.Duration
	// Fund lists the addresses given FundAmount ether at genesis (gas for
	// the settler, the token's deployer, crawler wallets).
	Fund []common.Address
	// FundAmount is each funded address's ether, in wei; nil means 1000
	// ether.
	FundAmount *big.Int
	// HTTPAddr, if set, serves JSON-RPC (eth, net, web3) over HTTP there: a
	// loopback host and a port, "127.0.0.1:0" for a free one.
	HTTPAddr string
}

// Chain is a running embedded chain.
type Chain struct {
	backend *simulated.Backend
	url     string

	mu     sync.Mutex // serializes commits
	paused atomic.Bool
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// Start starts a chain. Close it when done.
func Start(opts Options) (*Chain, error) {
	amount := opts.FundAmount
	if amount == nil {
		amount = new(big.Int).Mul(big.NewInt(1000), Ether)
	}
	alloc := types.GenesisAlloc{}
	for _, a := range opts.Fund {
		alloc[a] = types.Account{Balance: new(big.Int).Set(amount)}
	}
	var (
		host string
		port int
	)
	if opts.HTTPAddr != "" {
		h, p, err := net.SplitHostPort(opts.HTTPAddr)
		if err != nil {
			return nil, fmt.Errorf("devchain: http address %q: %w", opts.HTTPAddr, err)
		}
		if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("devchain: http address %q: serve on a loopback address only", opts.HTTPAddr)
		}
		host = h
		if port, err = strconv.Atoi(p); err != nil || port < 0 || port > 65535 {
			return nil, fmt.Errorf("devchain: http address %q: bad port", opts.HTTPAddr)
		}
	}
	var (
		backend *simulated.Backend
		err     error
	)
	for attempt := 0; attempt < 5; attempt++ {
		p := port
		if host != "" && p == 0 {
			if p, err = freeport.On(host); err != nil {
				return nil, fmt.Errorf("devchain: finding a free port: %w", err)
			}
		}
		backend, err = newBackend(alloc, host, p)
		if err == nil {
			port = p
			break
		}
		if host == "" || port != 0 {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	c := &Chain{backend: backend, stop: make(chan struct{}), done: make(chan struct{})}
	if host != "" {
		c.url = "http://" + net.JoinHostPort(host, strconv.Itoa(port))
	}
	interval := opts.BlockInterval
	if interval == 0 {
		interval = DefaultBlockInterval
	}
	if interval > 0 {
		go c.mine(interval)
	} else {
		close(c.done)
	}
	return c, nil
}

// newBackend builds the simulated backend; it panics on a node error (a
// port in use), which becomes an error here.
func newBackend(alloc types.GenesisAlloc, host string, port int) (b *simulated.Backend, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("devchain: starting the simulated chain: %v", p)
		}
	}()
	return simulated.NewBackend(alloc, func(nc *node.Config, ec *ethconfig.Config) {
		if host != "" {
			nc.HTTPHost, nc.HTTPPort = host, port
			nc.HTTPModules = []string{"eth", "net", "web3"}
			nc.HTTPVirtualHosts = []string{"localhost", host}
		}
	}), nil
}

func (c *Chain) mine(interval time.Duration) {
	defer close(c.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			if !c.paused.Load() {
				c.Commit()
			}
		}
	}
}

// Client is the chain's client; it implements evm.Client.
func (c *Chain) Client() simulated.Client { return c.backend.Client() }

// URL is the JSON-RPC endpoint, "" unless Options.HTTPAddr was set.
func (c *Chain) URL() string { return c.url }

// Commit seals a block with the pending transactions now.
func (c *Chain) Commit() {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.stop:
		return
	default:
	}
	c.backend.Commit()
}

// Pause stops the automatic blocks until Resume; Commit still works.
func (c *Chain) Pause() { c.paused.Store(true) }

// Resume restarts the automatic blocks.
func (c *Chain) Resume() { c.paused.Store(false) }

// Rollback drops every pending transaction, as a node that lost them would.
func (c *Chain) Rollback() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.backend.Rollback()
}

// Close stops mining and the chain. It is safe to call more than once.
func (c *Chain) Close() error {
	var err error
	c.once.Do(func() {
		c.mu.Lock()
		close(c.stop)
		c.mu.Unlock()
		<-c.done
		err = c.backend.Close()
	})
	return err
}

var _ evm.Client = simulated.Client(nil)

// NewKey returns a fresh private key and its address.
func NewKey() (*ecdsa.PrivateKey, common.Address, error) {
	k, err := crypto.GenerateKey()
	if err != nil {
		return nil, common.Address{}, err
	}
	return k, crypto.PubkeyToAddress(k.PublicKey), nil
}

// ParseKey reads a hex private key (with or without 0x).
func ParseKey(hexKey string) (*ecdsa.PrivateKey, error) {
	if len(hexKey) > 1 && (hexKey[:2] == "0x" || hexKey[:2] == "0X") {
		hexKey = hexKey[2:]
	}
	k, err := crypto.HexToECDSA(hexKey)
	if err != nil {
		return nil, errors.New("devchain: not a hex secp256k1 private key")
	}
	return k, nil
}
