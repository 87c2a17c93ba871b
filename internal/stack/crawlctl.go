package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
)

// Crawler is an operator registered through crawlctl.
type Crawler struct {
	Name       string
	KeyPath    string
	OperatorID string `json:"operator_id"`
	Token      string `json:"token"`
	KeyID      string `json:"keyid"`
	AgentURL   string `json:"agent_url"`
}

// Crawlctl runs crawlctl against the stack's key directory and returns its
// standard output. A failure wraps the *exec.ExitError, whose status says
// what kind (crawlctl -h lists them).
func (s *Stack) Crawlctl(ctx context.Context, token string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.Bin("crawlctl"), args...)
	cmd.Env = append(cmd.Environ(), "PAYCRAWL_KEYDIR_URL="+s.Keydir)
	if token != "" {
		cmd.Env = append(cmd.Env, "PAYCRAWL_TOKEN="+token)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("crawlctl %v: %w\n%s%s", args, err, out.String(), errb.String())
	}
	return out.Bytes(), nil
}

// WalletKeyFile writes a wallet's hex private key (as NewKey returns it) to
// a 0600 file of the stack's configuration directory and returns its path,
// for crawlctl register --wallet-key, which signs the wallet's proof of
// belonging to the operator with it.
func (s *Stack) WalletKeyFile(name, hexKey string) (string, error) {
	return s.writeConfig(name+".wallet", hexKey+"\n")
}

// Register generates a key and registers an operator with crawlctl;
// billing holds crawlctl register's billing flags (--rail …).
func (s *Stack) Register(ctx context.Context, name string, billing ...string) (*Crawler, error) {
	c := &Crawler{Name: name, KeyPath: filepath.Join(s.opts.Dir, "config", name+".jwk")}
	if _, err := s.Crawlctl(ctx, "", "keygen", "--out", c.KeyPath, "--force", "--json"); err != nil {
		return nil, err
	}
	args := append([]string{"register", "--json", "--name", name, "--contact", "ops@" + name + ".example", "--key", c.KeyPath}, billing...)
	out, err := s.Crawlctl(ctx, "", args...)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(out, c); err != nil {
		return nil, fmt.Errorf("crawlctl register output: %v\n%s", err, out)
	}
	s.logf("registered        %s: operator %s, key %s, agent %s", name, c.OperatorID, c.KeyID, c.AgentURL)
	return c, nil
}
