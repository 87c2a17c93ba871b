package main

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
)

// walletKeyFile writes a new wallet key as crawlctl reads it (hex, 0600)
// and returns the file and the wallet's address.
func walletKeyFile(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".hex")
	if err := os.WriteFile(path, []byte("0x"+hex.EncodeToString(crypto.FromECDSA(k))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, crypto.PubkeyToAddress(k.PublicKey).Hex()
}

// TestRegisterProvesTheWallet drives the evm billing of crawlctl register:
// signing with --wallet-key (the wallet defaults to the key's), printing
// the message to sign elsewhere then sending --wallet-signature, and the
// refusals: another operator's wallet without its key, a signature by the
// wrong key, and flag mistakes.
func TestRegisterProvesTheWallet(t *testing.T) {
	st := startStack(t)
	dir := t.TempDir()
	newOperator := func(name string) (*cli, string) {
		c := &cli{t: t, st: st}
		k := filepath.Join(dir, name+".jwk")
		c.ok("keygen", "--out", k)
		var r registerResult
		c.jsonOf(&r, "register", "--name", name, "--contact", name+"@crawler.example", "--key", k)
		c.env = map[string]string{"PAYCRAWL_TOKEN": r.Token}
		return c, k
	}

	// Alice signs locally; her wallet is the key's address.
	alice, aliceKey := newOperator("alice")
	aliceWalletFile, aliceWallet := walletKeyFile(t, dir, "alice-wallet")
	var r registerResult
	alice.jsonOf(&r, "register", "--key", aliceKey, "--rail", "evm", "--wallet-key", aliceWalletFile)
	if r.Billing == nil || r.Billing.Billing.Wallet != aliceWallet || r.Billing.Billing.WalletProof == nil ||
		r.Billing.Billing.WalletProof.Account != r.OperatorID || r.Billing.Billing.WalletProof.VerifiedAt == "" {
		t.Fatalf("register with --wallet-key: %+v", r.Billing)
	}

	// Bob names Alice's wallet: without her key, or signing with his own,
	// he is refused.
	bob, bobKey := newOperator("bob")
	bobWalletFile, _ := walletKeyFile(t, dir, "bob-wallet")
	for args, code := range map[string]string{
		"": "wallet_proof_required", // the key directory's refusal
		// crawlctl itself refuses to sign for a wallet that is not the key's.
		"--wallet-key " + bobWalletFile: "is not the address of --wallet-key",
	} {
		a := []string{"register", "--key", bobKey, "--rail", "evm", "--wallet", aliceWallet}
		if args != "" {
			a = append(a, strings.Fields(args)...)
		}
		if _, _, err := bob.run(a...); err == nil || !strings.Contains(err.Error(), code) {
			t.Errorf("bob with %q: %v, want %s", args, err, code)
		}
	}

	// Bob's own wallet, signed elsewhere: print the message, sign it as
	// personal_sign does, send the signature.
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	bobWallet := crypto.PubkeyToAddress(k.PublicKey).Hex()
	var m registerResult
	bob.jsonOf(&m, "register", "--key", bobKey, "--rail", "evm", "--wallet", bobWallet, "--print-wallet-message")
	if m.WalletMessage == nil || m.Billing != nil || !strings.Contains(m.WalletMessage.Message, "wallet: "+bobWallet+"\n") ||
		!strings.Contains(m.WalletMessage.Message, "issued at: "+m.WalletMessage.IssuedAt) {
		t.Fatalf("--print-wallet-message: %+v", m)
	}
	human := bob.ok("register", "--key", bobKey, "--rail", "evm", "--wallet", bobWallet, "--print-wallet-message")
	if !strings.Contains(human, "paycrawl wallet proof v1\n") || !strings.Contains(human, "--wallet-signature") {
		t.Fatalf("human --print-wallet-message:\n%s", human)
	}
	msg := m.WalletMessage.Message
	sig, err := crypto.Sign(crypto.Keccak256([]byte("\x19Ethereum Signed Message:\n"+strconv.Itoa(len(msg))), []byte(msg)), k)
	if err != nil {
		t.Fatal(err)
	}
	sig[64] += 27
	bob.jsonOf(&r, "register", "--key", bobKey, "--rail", "evm", "--wallet", bobWallet,
		"--wallet-issued-at", m.WalletMessage.IssuedAt, "--wallet-signature", "0x"+hex.EncodeToString(sig))
	if r.Billing == nil || r.Billing.Billing.Wallet != bobWallet || r.Billing.Billing.WalletProof == nil {
		t.Fatalf("register with --wallet-signature: %+v", r.Billing)
	}
	// The same signature for Alice's wallet is not a proof.
	if _, _, err := bob.run("register", "--key", bobKey, "--rail", "evm", "--wallet", aliceWallet,
		"--wallet-issued-at", m.WalletMessage.IssuedAt, "--wallet-signature", "0x"+hex.EncodeToString(sig)); err == nil ||
		!strings.Contains(err.Error(), "bad_wallet_proof") {
		t.Fatalf("replayed signature for another wallet: %v", err)
	}

	for _, args := range [][]string{
		{"register", "--key", bobKey, "--rail", "stripe", "--wallet-key", bobWalletFile},
		{"register", "--key", bobKey, "--rail", "evm", "--wallet-key", bobWalletFile, "--print-wallet-message"},
		{"register", "--key", bobKey, "--rail", "evm", "--wallet", bobWallet, "--wallet-signature", "0x00"},
		{"register", "--key", bobKey, "--rail", "evm"},
		{"register", "--key", bobKey, "--rail", "evm", "--wallet", bobWallet, "--wallet-issued-at", "yesterday", "--wallet-signature", "0x00"},
	} {
		if _, _, err := bob.run(args...); !isUsage(err) {
			t.Errorf("crawlctl %q: %v, want a usage error", args, err)
		}
	}
	bad := filepath.Join(dir, "bad.hex")
	_ = os.WriteFile(bad, []byte("not hex"), 0o600)
	if _, _, err := bob.run("register", "--key", bobKey, "--rail", "evm", "--wallet-key", bad); err == nil || !strings.Contains(err.Error(), "secp256k1") {
		t.Fatalf("a bad key file: %v", err)
	}
}
