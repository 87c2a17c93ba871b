package stack

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/paycrawl/paycrawl/internal/teststripe"
)

// Chain is the stack's embedded EVM: `settler devchain serve`, a simulated
// go-ethereum chain with TestUSDC deployed by the settler's key.
type Chain struct {
	RPC        string
	Token      string
	SettlerKey string // hex
	Settler    string // address
	Treasury   string // address
	// TreasuryKey is the treasury's key (hex): it approves the settler to
	// pay publishers out of the treasury. The chain funds it with gas.
	TreasuryKey string
}

// NewKey returns a fresh secp256k1 key as hex and its address.
func NewKey() (hexKey, address string, err error) {
	k, err := crypto.GenerateKey()
	if err != nil {
		return "", "", err
	}
	return common.Bytes2Hex(crypto.FromECDSA(k)), crypto.PubkeyToAddress(k.PublicKey).Hex(), nil
}

// StartChain starts the embedded chain, funding fund (addresses) and a new
// treasury with ether for gas, and deploys TestUSDC with a new settler key.
func (s *Stack) StartChain(ctx context.Context, fund ...string) (*Chain, error) {
	c := &Chain{}
	var err error
	if c.SettlerKey, c.Settler, err = NewKey(); err != nil {
		return nil, err
	}
	if c.TreasuryKey, c.Treasury, err = NewKey(); err != nil {
		return nil, err
	}
	fund = append(fund, c.Treasury)
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{s.Bin("settler"), "devchain", "serve", "-http", addr, "-block-interval", "200ms",
		"-deploy-key", c.SettlerKey, "-json"}
	args = append(args, "-fund", strings.Join(fund, ","))
	p, err := s.launch("chain", nil, args...)
	if err != nil {
		return nil, err
	}
	// serve prints one JSON line with rpc_url and token once it is up.
	deadline := time.Now().Add(60 * time.Second)
	for c.Token == "" {
		if !p.Running() || time.Now().After(deadline) {
			return nil, fmt.Errorf("devchain did not start:\n%s", p.Tail(2000))
		}
		if f, err := os.Open(p.Log); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				var v struct {
					RPC   string `json:"rpc_url"`
					Token string `json:"token"`
				}
				if json.Unmarshal(sc.Bytes(), &v) == nil && v.Token != "" {
					c.RPC, c.Token = v.RPC, v.Token
				}
			}
			f.Close()
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.logf("embedded chain    %s (chain 1337), TestUSDC %s, settler %s", c.RPC, c.Token, c.Settler)
	return c, nil
}

// Settler runs a settler command and returns its standard output. The
// finance CLI (settler invoices …) reaches the stack's settler serve.
func (s *Stack) Settler(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.Bin("settler"), args...)
	cmd.Env = append(os.Environ(), "PAYCRAWL_SETTLER_URL="+s.SettlerURL, "PAYCRAWL_FINANCE_TOKEN="+s.FinanceToken)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return []byte(out.String()), fmt.Errorf("settler %v: %v\n%s%s", args, err, out.String(), errb.String())
	}
	return []byte(out.String()), nil
}

// WriteSettlerConfig writes the settler's configuration for this stack: the
// ledger and registry on the stack's Redis, Stripe behind the test double,
// the embedded chain (nil: no stablecoin rail), and a review window.
func (s *Stack) WriteSettlerConfig(c *Chain, review time.Duration) (string, error) {
	if s.settlerAddr == "" {
		addr, err := freeAddr()
		if err != nil {
			return "", err
		}
		s.settlerAddr, s.SettlerURL = addr, "http://"+addr
	}
	sum := sha256.Sum256([]byte(s.FinanceToken))
	cfg := fmt.Sprintf(`listen: %s
finance:
  tokens:
    - {name: finance-demo, role: finance, token_sha256: %s}
`, s.settlerAddr, hex.EncodeToString(sum[:]))
	cfg += fmt.Sprintf(`ledger: {%s}
registry: {%s, agent_base: %q}
grace: 10m
review_window: %s
retry_schedule: [1m]
max_attempts: 3
lock_ttl: 5m
lookback_days: 2
stripe: {api_key: %q, api_url: %q, minimum_cents: 50}
log_level: warn
`, s.redisYAML(), s.redisYAML(), s.Keydir, review, teststripe.APIKey, s.StripeURL)
	if c != nil {
		cfg += fmt.Sprintf(`evm:
  rpc_url: %q
  settler_key: %q
  treasury: %q
  token: %q
  confirmations: 1
  confirm_timeout: 30s
`, c.RPC, c.SettlerKey, c.Treasury, c.Token)
	}
	return s.writeConfig("settler.yaml", cfg)
}

// StartSettlerServe starts `settler serve` (the finance API and page) with
// the configuration at path.
func (s *Stack) StartSettlerServe(ctx context.Context, path string) error {
	p, err := s.launch("settler", nil, s.Bin("settler"), "serve", "-config", path)
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, p, s.SettlerURL+"/healthz", 20*time.Second); err != nil {
		return err
	}
	s.logf("settler (finance) %s", s.SettlerURL)
	return nil
}
