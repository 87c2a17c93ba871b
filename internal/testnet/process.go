package testnet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// Process says how to start a server process on a port.
type Process struct {
	// Name names the server in errors and its log file.
	Name string
	// Command returns the command that serves on 127.0.0.1:port.
	Command func(port int) *exec.Cmd
	// Ready waits until the server at addr (127.0.0.1:port) answers; it
	// returns an error if exited is closed first or it does not answer in
	// time.
	Ready func(addr string, exited <-chan struct{}) error
}

// StartProcess runs p on a free loopback port (another, up to five times,
// if it does not come up: the port may have been taken), in its own
// process group, logging to a file of the test's temporary directory. It
// returns the address; the process group is killed when the test ends.
func StartProcess(t testing.TB, p Process) string {
	t.Helper()
	dir := t.TempDir()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		cmd := p.Command(port)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		logPath := filepath.Join(dir, p.Name+"-"+strconv.Itoa(attempt)+".log")
		logf, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			t.Fatalf("starting %s: %v", p.Name, err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited); logf.Close() }()
		stop := func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		if lastErr = p.Ready(addr, exited); lastErr == nil {
			t.Cleanup(stop)
			return addr
		}
		stop()
		log, _ := os.ReadFile(logPath)
		lastErr = fmt.Errorf("%v: %s", lastErr, log)
	}
	t.Fatalf("%s did not start: %v", p.Name, lastErr)
	return ""
}
