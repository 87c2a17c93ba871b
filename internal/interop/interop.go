// Package interop runs other people's implementations of the protocols
// paycrawl speaks (Cloudflare's web-bot-auth npm packages, and whatever
// scripts are added to interop/) from Go tests, so that our code is judged
// by theirs and not only by our own tests.
//
// The scripts live in the repository's interop/ directory, an npm project
// whose package-lock.json pins every dependency. Run installs it with
// `npm ci` when interop/node_modules is missing (scripts/deps.sh
// node-modules does the same before `make test`). A test that uses it is
// skipped only when node is not installed.
//
// To add a script: put it in interop/ as an ES module (<name>.mjs) that
// reads its input from stdin or arguments, writes its answer to stdout and
// exits non-zero with the reason on stderr; call it with
// Run(t, "<name>.mjs", args...) or RunInput. To add a dependency: in
// interop/, `npm install --save-exact <package>@<version>` and commit
// package.json and package-lock.json (never node_modules).
package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Timeout bounds one script run.
const Timeout = time.Minute

// installMu serialises `npm ci` within one test binary.
var installMu sync.Mutex

// Dir returns the repository's interop/ directory, found by walking up from
// the working directory (a test's is its package directory) to go.mod.
func Dir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "interop"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("interop: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Setup installs interop/node_modules when it is missing or older than
// package-lock.json, and returns the interop directory. Without node it
// skips t on a developer's machine, but fails it under CI (CI set in the
// environment): there scripts/deps.sh installs node, and a skipped interop
// test would pass without checking anything.
func Setup(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		msg := "node is not installed: the interop tests run Cloudflare's and x402's npm packages with node 20 (scripts/deps.sh node-modules installs it)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	installMu.Lock()
	defer installMu.Unlock()
	if installed(dir) {
		return dir
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("interop: npm ci in interop/ failed (run scripts/deps.sh node-modules): %v\n%s", err, out)
	}
	return dir
}

// installed reports whether interop/node_modules holds what
// package-lock.json pins: npm keeps a copy of the lock it installed, which
// must not be older than the lock.
func installed(dir string) bool {
	lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return false
	}
	have, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	return err == nil && !have.ModTime().Before(lock.ModTime())
}

// Run runs `node <script> args...` in interop/ and returns its stdout; a
// failure fails t with the script's stderr.
func Run(t testing.TB, script string, args ...string) []byte {
	t.Helper()
	return RunInput(t, nil, script, args...)
}

// RunInput is Run with stdin.
func RunInput(t testing.TB, stdin []byte, script string, args ...string) []byte {
	t.Helper()
	out, err := Try(t, stdin, script, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Try runs the script like RunInput but returns its failure, with its
// stderr, instead of failing t: for tests that expect the other side to
// refuse.
func Try(t testing.TB, stdin []byte, script string, args ...string) ([]byte, error) {
	t.Helper()
	dir := Setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{script}, args...)...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("interop: node %s %v: %w\n%s", script, args, err, stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// RunJSON runs script with in as JSON on stdin and decodes its stdout into
// out.
func RunJSON(t testing.TB, in any, out any, script string, args ...string) {
	t.Helper()
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	got := RunInput(t, raw, script, args...)
	if err := json.Unmarshal(got, out); err != nil {
		t.Fatalf("interop: node %s %v answered %q: %v", script, args, got, err)
	}
}
