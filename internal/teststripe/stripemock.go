// Package teststripe starts stripe-mock, Stripe's API simulator, for tests:
// one process on a free 127.0.0.1 port, stopped when the test ends. A missing
// binary fails the test; it never skips.
package teststripe

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
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
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		// stripe-mock also serves HTTPS, on :12112 of every interface unless told
		// otherwise: bind it to a system-chosen loopback port.
		cmd := exec.Command(bin, "-http-addr", addr, "-https-addr", "127.0.0.1:")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		logPath := filepath.Join(t.TempDir(), "stripe-mock.log")
		logf, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			t.Fatalf("starting stripe-mock: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited); logf.Close() }()
		stop := func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if lastErr = waitReady(addr, exited); lastErr == nil {
			t.Cleanup(stop)
			return "http://" + addr
		}
		stop()
		log, _ := os.ReadFile(logPath)
		lastErr = fmt.Errorf("%v: %s", lastErr, log)
	}
	t.Fatalf("stripe-mock did not start: %v", lastErr)
	return ""
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

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
