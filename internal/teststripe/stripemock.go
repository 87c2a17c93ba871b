// Package teststripe starts stripe-mock, Stripe's API simulator, for tests:
// one process on a free 127.0.0.1 port, stopped when the test ends. A missing
// binary fails the test; it never skips.
package teststripe

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/testnet"
)

// APIKey is a key stripe-mock accepts.
const APIKey = "sk_test_123"

// Binary returns the path of stripe-mock: in PATH or in $(go env GOPATH)/bin.
func Binary() (string, error) {
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p, nil
	}
	var dirs []string
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.Join(gp, "bin"))
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		dirs = append(dirs, filepath.Join(string(trimNL(out)), "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "stripe-mock")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("stripe-mock not found in PATH or $(go env GOPATH)/bin: run `make test`, which installs it (scripts/deps.sh stripe-mock)")
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// Start runs stripe-mock on a free loopback port, waits until it answers,
// and returns its base URL (http://127.0.0.1:<port>). The process is killed
// when the test ends.
func Start(t testing.TB) string {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	addr := testnet.StartProcess(t, testnet.Process{
		Name: "stripe-mock",
		Command: func(port int) *exec.Cmd {
			// stripe-mock also serves HTTPS, on :12112 of every interface unless
			// told otherwise: bind it to a system-chosen loopback port.
			return exec.Command(bin, "-http-addr", "127.0.0.1:"+strconv.Itoa(port), "-https-addr", "127.0.0.1:")
		},
		Ready: waitReady,
	})
	return "http://" + addr
}

func waitReady(addr string, exited <-chan struct{}) error {
	hc := &http.Client{Timeout: 500 * time.Millisecond}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("stripe-mock exited")
		default:
		}
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/customers/cus_ready", nil)
		req.SetBasicAuth(APIKey, "")
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("stripe-mock on %s did not answer within 15s", addr)
}
