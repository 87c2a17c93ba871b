package devchain

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/paycrawl/paycrawl/pkg/settle/evm"
)

// TestTokenOverJSONRPC runs the demo's path: a chain serving JSON-RPC on
// loopback, and another client (as another process would) deploying the
// token, minting, approving and reading balances through it.
func TestTokenOverJSONRPC(t *testing.T) {
	minter, minterAddr, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	crawler, crawlerAddr, _ := NewKey()
	_, settler, _ := NewKey()
	c, err := Start(Options{BlockInterval: 20 * time.Millisecond, Fund: []common.Address{minterAddr, crawlerAddr}, HTTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !strings.HasPrefix(c.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL = %q", c.URL())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rpc, err := ethclient.DialContext(ctx, c.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer rpc.Close()
	if id, err := rpc.ChainID(ctx); err != nil || id.Int64() != ChainID {
		t.Fatalf("chain id = %v, %v", id, err)
	}
	token, err := DeployToken(ctx, rpc, minter)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := evm.TokenDecimals(ctx, rpc, token); err != nil || d != 6 {
		t.Fatalf("decimals = %d, %v", d, err)
	}
	if err := Mint(ctx, rpc, minter, token, crawlerAddr, 12_500_000); err != nil {
		t.Fatal(err)
	}
	if err := Approve(ctx, rpc, crawler, token, settler, 7_000_000); err != nil {
		t.Fatal(err)
	}
	if b, err := Balance(ctx, rpc, token, crawlerAddr); err != nil || b != 12_500_000 {
		t.Fatalf("balance = %s, %v", b, err)
	}
	if a, err := evm.Allowance(ctx, c.Client(), token, crawlerAddr, settler); err != nil || a.Int64() != 7_000_000 {
		t.Fatalf("allowance = %v, %v", a, err)
	}
	if err := Mint(ctx, rpc, crawler, token, crawlerAddr, 1); err == nil {
		t.Fatal("a non-minter minted")
	}
}

func TestStartRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "example.com:80", "nonsense"} {
		if c, err := Start(Options{HTTPAddr: addr}); err == nil {
			c.Close()
			t.Errorf("Start(%q) succeeded", addr)
		}
	}
}

func TestParseKey(t *testing.T) {
	k, a, _ := NewKey()
	hex := common.Bytes2Hex(crypto.FromECDSA(k))
	for _, s := range []string{hex, "0x" + hex} {
		got, err := ParseKey(s)
		if err != nil || crypto.PubkeyToAddress(got.PublicKey) != a {
			t.Fatalf("ParseKey(%q) = %v", s, err)
		}
	}
	if _, err := ParseKey("zz"); err == nil {
		t.Error("ParseKey accepted garbage")
	}
}
