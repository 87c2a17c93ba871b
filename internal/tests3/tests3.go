// Package tests3 starts a real S3-compatible server for tests: s3rver (a
// Node.js implementation of the S3 REST API over a directory, MIT licence;
// installed by `scripts/deps.sh s3-server` into this directory's
// node_modules from package-lock.json) on a free 127.0.0.1 port, with one
// bucket, stopped when the test ends. It stores objects as S3 does and
// answers S3's errors; it checks the access key id but does not recompute
// v4 signatures, and it does not decode aws-chunked bodies (the store
// sends plain ones). A missing server fails the test; it never skips.
//
// SeaweedFS's S3 gateway was the first choice; built from source it took
// 28 minutes here (8 minutes of CPU), too long for `make test` on a bare
// machine (see BENCHMARKS.md).
package tests3

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/internal/testnet"
)

// Credentials s3rver accepts, and the bucket Start creates.
const (
	AccessKey = "S3RVER"
	SecretKey = "S3RVER"
	Bucket    = "paycrawl-archive"
)

// Server is a running s3rver.
type Server struct {
	// Endpoint is host:port, plain HTTP.
	Endpoint string
	// Dir is the server's data directory.
	Dir string
}

// Script returns the path of s3rver's command, or an error that says how
// to install it.
func Script() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "node_modules", "s3rver", "bin", "s3rver.js")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("s3rver is not installed (%v): run `make test`, which installs it (scripts/deps.sh s3-server)", err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		return "", fmt.Errorf("node not found: run `make test`, which installs it (scripts/deps.sh s3-server)")
	}
	return p, nil
}

// Start runs s3rver on a free loopback port with Bucket configured, waits
// until it answers, and kills it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	script, err := Script()
	if err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	addr := testnet.StartProcess(t, testnet.Process{
		Name: "s3rver",
		Command: func(port int) *exec.Cmd {
			return exec.Command("node", script, "--directory", data, "--address", "127.0.0.1",
				"--port", strconv.Itoa(port), "--silent", "--no-vhost-buckets", "--configure-bucket", Bucket)
		},
		Ready: waitReady,
	})
	return &Server{Endpoint: addr, Dir: data}
}

// waitReady waits until the server answers HTTP (an unsigned request gets
// an S3 error document, which is an answer).
func waitReady(addr string, exited <-chan struct{}) error {
	hc := &http.Client{Timeout: 500 * time.Millisecond}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("s3rver exited")
		default:
		}
		if resp, err := hc.Get("http://" + addr + "/" + Bucket); err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("s3rver on %s did not answer within 20s", addr)
}
