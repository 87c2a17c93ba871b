package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

// TestDevchainCommands is the demo's path: serve a chain with the token
// deployed, then fund, mint, approve and read balances from other
// invocations, as other processes would.
func TestDevchainCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cli := func(args ...string) map[string]any {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := runCLI(ctx, append(args, "--json"), &out, &errOut, env(nil)); err != nil {
			t.Fatalf("settler %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
		}
		var v map[string]any
		if err := json.Unmarshal(out.Bytes(), &v); err != nil {
			t.Fatalf("settler %s: %v: %s", strings.Join(args, " "), err, out.String())
		}
		return v
	}
	deployer, crawler, settler := cli("devchain", "key"), cli("devchain", "key"), cli("devchain", "key")
	str := func(v map[string]any, k string) string { s, _ := v[k].(string); return s }

	serveCtx, stop := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	served := make(chan error, 1)
	go func() {
		served <- runCLI(serveCtx, []string{"devchain", "serve", "--http", "127.0.0.1:0", "--block-interval", "20ms",
			"--fund", str(crawler, "address"), "--deploy-key", str(deployer, "private_key"), "--json"}, pw, io.Discard, env(nil))
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("serve printed nothing: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	var info map[string]any
	if err := json.Unmarshal([]byte(line), &info); err != nil || str(info, "rpc_url") == "" || str(info, "token") == "" {
		t.Fatalf("serve printed %q", line)
	}
	rpc, token := str(info, "rpc_url"), str(info, "token")

	cli("devchain", "mint", "--rpc", rpc, "--key", str(deployer, "private_key"), "--token", token, "--to", str(crawler, "address"), "--amount", "25.00")
	cli("devchain", "approve", "--rpc", rpc, "--key", str(crawler, "private_key"), "--token", token, "--spender", str(settler, "address"), "--amount", "10.50")
	cli("devchain", "fund", "--rpc", rpc, "--key", str(crawler, "private_key"), "--to", str(settler, "address"), "--ether", "2")
	bal := cli("devchain", "balance", "--rpc", rpc, "--token", token, "--address", str(crawler, "address"), "--spender", str(settler, "address"))
	if str(bal, "balance") != "25.00" || str(bal, "allowance") != "10.50" {
		t.Fatalf("balance = %v", bal)
	}
	again := cli("devchain", "deploy", "--rpc", rpc, "--key", str(settler, "private_key"))
	if str(again, "token") == "" || str(again, "token") == token {
		t.Fatalf("second deploy = %v", again)
	}
	stop()
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

// TestDevchainFlags: each subcommand of the table declares the flags its
// usage lists, no more (balance signs nothing, so it has no --key).
func TestDevchainFlags(t *testing.T) {
	tests := []struct {
		sub   string
		flags string
	}{
		{"serve", "block-interval deploy-key fund http json"},
		{"key", "json"},
		{"deploy", "json key rpc"},
		{"fund", "ether json key rpc to"},
		{"mint", "amount json key rpc to token"},
		{"approve", "amount json key rpc spender token"},
		{"balance", "address json rpc spender token"},
	}
	if len(tests) != len(devchainCommands) {
		t.Fatalf("%d subcommands tested, %d in the table", len(tests), len(devchainCommands))
	}
	for _, tt := range tests {
		cmd, ok := devchainCommands[tt.sub]
		if !ok {
			t.Fatalf("no subcommand %q", tt.sub)
		}
		// -h stops the parse before any key is read.
		var names []string
		_, err := cmd.parse(tt.sub, []string{"-h"}, ioEnv{stdout: io.Discard, stderr: &flagNames{&names}, getenv: func(string) string { return "" }})
		if err == nil {
			t.Fatalf("%s -h: no error", tt.sub)
		}
		if got := strings.Join(names, " "); got != tt.flags {
			t.Errorf("%s declares %q, want %q", tt.sub, got, tt.flags)
		}
	}
}

// flagNames collects the flag names of a FlagSet's usage text.
type flagNames struct{ names *[]string }

func (f *flagNames) Write(p []byte) (int, error) {
	for _, line := range strings.Split(string(p), "\n") {
		if rest, ok := strings.CutPrefix(line, "  -"); ok {
			*f.names = append(*f.names, strings.Fields(rest)[0])
		}
	}
	return len(p), nil
}
