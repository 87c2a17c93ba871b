package main

import (
	"crypto/ecdsa"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

// walletFlags are register's flags that prove an evm wallet is the
// operator's: sign locally with --wallet-key, or print the message with
// --print-wallet-message, sign it elsewhere (personal_sign) and pass
// --wallet-signature with --wallet-issued-at.
type walletFlags struct {
	keyPath   string
	signature string
	issuedAt  string
	print     bool
}

// readWalletKey reads a hex secp256k1 private key file ("0x" optional,
// surrounding white space ignored), warning about a file others can read.
func (e *env) readWalletKey(path string) (*ecdsa.PrivateKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(e.stderr, "crawlctl: warning: %s can be read by other users; chmod 600 it\n", path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := strings.TrimSpace(string(raw))
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	key, err := crypto.HexToECDSA(s)
	if err != nil {
		return nil, fmt.Errorf("--wallet-key %s: not a hex secp256k1 private key: %v", path, err)
	}
	return key, nil
}

// walletProof builds the wallet proof of wallet for the operator: it asks
// the key directory for its chain id and settler address, then signs the
// message with --wallet-key, or takes the signature given. It returns nil
// when no wallet flag is set (the key directory then keeps a stored proof
// of the same wallet, or refuses).
func (e *env) walletProof(c *keydir.Client, operatorID, wallet string, f walletFlags) (*registry.WalletProofJSON, error) {
	if f.keyPath == "" && f.signature == "" {
		return nil, nil
	}
	claim, err := e.walletClaim(c, operatorID, wallet)
	if err != nil {
		return nil, err
	}
	if f.keyPath != "" {
		key, err := e.readWalletKey(f.keyPath)
		if err != nil {
			return nil, err
		}
		claim.IssuedAt = time.Now()
		p, err := registry.SignWalletProof(key, claim)
		if err != nil {
			return nil, err
		}
		j := p.JSON()
		return &j, nil
	}
	issued, err := registry.ParseIssuedAt(f.issuedAt)
	if err != nil {
		return nil, usagef("--wallet-issued-at %q: give the issued-at time of the message you signed (2026-01-02T03:04:05Z)", f.issuedAt)
	}
	claim.IssuedAt = issued
	p := registry.WalletProof{WalletClaim: claim, Signature: f.signature}.JSON()
	return &p, nil
}

// walletClaim asks the key directory what the wallet signs, and checks that
// it names this operator and this wallet.
func (e *env) walletClaim(c *keydir.Client, operatorID, wallet string) (registry.WalletClaim, error) {
	resp, err := c.WalletClaim(e.ctx, wallet)
	if err != nil {
		return registry.WalletClaim{}, err
	}
	p, err := claimOf(resp.Proof)
	if err != nil {
		return registry.WalletClaim{}, err
	}
	if p.Account != operatorID || !strings.EqualFold(p.Wallet, wallet) || p.Purpose != registry.WalletPays {
		return registry.WalletClaim{}, fmt.Errorf("the key directory offered a wallet message for %s %s (%s), not for %s %s; not signing",
			p.Account, p.Wallet, p.Purpose, operatorID, wallet)
	}
	// The message is rebuilt here from the checked fields, never taken as
	// sent: what is signed says what crawlctl showed.
	return p, nil
}

// claimOf reads the fields of an unsigned wallet proof (the key
// directory's template).
func claimOf(j registry.WalletProofJSON) (registry.WalletClaim, error) {
	at, err := registry.ParseIssuedAt(j.IssuedAt)
	if err != nil {
		return registry.WalletClaim{}, err
	}
	return registry.WalletClaim{Purpose: registry.WalletPurpose(j.Purpose), Account: j.Account, Wallet: j.Wallet,
		ChainID: j.ChainID, Settler: j.Settler, IssuedAt: at}, nil
}

// walletMessage is what register --print-wallet-message prints.
type walletMessage struct {
	Message  string `json:"message"`
	IssuedAt string `json:"issued_at"`
	Expires  string `json:"expires_at"`
	ChainID  int64  `json:"chain_id"`
	Settler  string `json:"settler"`
	Next     string `json:"next"`
}

// printWalletMessage prints the message wallet must sign for the operator,
// and the command line that sends the signature.
func (e *env) printWalletMessage(c *keydir.Client, operatorID, wallet string) (*walletMessage, error) {
	claim, err := e.walletClaim(c, operatorID, wallet)
	if err != nil {
		return nil, err
	}
	at := registry.FormatIssuedAt(claim.IssuedAt)
	return &walletMessage{Message: string(claim.Message()), IssuedAt: at,
		Expires: registry.FormatIssuedAt(claim.IssuedAt.Add(registry.WalletProofMaxAge)), ChainID: claim.ChainID, Settler: claim.Settler,
		Next: fmt.Sprintf("sign the message with the wallet (personal_sign, EIP-191), then within %s run: crawlctl register --token … --key … --rail evm --wallet %s --wallet-issued-at %s --wallet-signature 0x…",
			registry.WalletProofMaxAge, claim.Wallet, at)}, nil
}
