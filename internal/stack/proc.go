// Package stack runs paycrawl's processes together on loopback, for the
// demo, the cross-process tests and the benchmarks: it builds the binaries,
// picks free ports, writes configuration files, starts redis-server,
// stripe-mock (behind the Stripe test double), the key directory, an origin
// site, the gateway and the settler, waits until each answers, and stops
// them all. Processes can be killed and restarted one by one.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/paycrawl/paycrawl/internal/freeport"
)

// Proc is one process the stack started.
type Proc struct {
	Name string
	Args []string
	Env  []string
	Log  string // path of its combined output

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Running reports whether the process is alive.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (p *Proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	logf, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.Args[0], p.Args[1:]...)
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	p.cmd, p.exited = cmd, exited
	return nil
}

// signal sends sig to the process group and waits up to wait for the exit.
func (p *Proc) signal(sig syscall.Signal, wait time.Duration) bool {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return true
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-exited:
		return true
	case <-time.After(wait):
		return false
	}
}

// Stop asks the process to stop (SIGTERM) and kills it after grace.
func (p *Proc) Stop(grace time.Duration) {
	if !p.signal(syscall.SIGTERM, grace) {
		p.signal(syscall.SIGKILL, 5*time.Second)
	}
}

// Kill ends the process at once, as a crash would.
func (p *Proc) Kill() { p.signal(syscall.SIGKILL, 5*time.Second) }

// Signal sends sig without waiting (SIGHUP to reload, say).
func (p *Proc) Signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		_ = syscall.Kill(p.cmd.Process.Pid, sig)
	}
}

// CPUTime returns the CPU time (user and system) the process has used so
// far, from /proc (Linux only).
func (p *Proc) CPUTime() (time.Duration, error) {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return 0, fmt.Errorf("%s is not running", p.Name)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses: state is
	// the first, utime and stime the 12th and 13th (in clock ticks, 100 a
	// second on Linux).
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", cmd.Process.Pid, len(fields))
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", cmd.Process.Pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / 100), nil
}

// Tail returns the last n bytes of the process's log.
func (p *Proc) Tail(n int64) string {
	f, err := os.Open(p.Log)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

func freeAddr() (string, error) { return freeport.Addr() }

// waitHTTP polls url until it answers with a status below 500, the process
// exits, or the deadline passes.
func waitHTTP(ctx context.Context, p *Proc, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	for {
		if p != nil && !p.Running() {
			return fmt.Errorf("%s exited:\n%s", p.Name, p.Tail(2000))
		}
		if resp, err := hc.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			name := url
			if p != nil {
				name = p.Name + " (" + url + ")"
			}
			return fmt.Errorf("%s did not answer in %s", name, timeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Commands are the commands Build compiles by default.
var Commands = []string{"gateway", "keydirectory", "settler", "crawlctl", "loadgen"}

// Build compiles paycrawl's commands (default Commands) into dir.
func Build(ctx context.Context, moduleDir, dir string, commands ...string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if len(commands) == 0 {
		commands = Commands
	}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, c := range commands {
		args = append(args, "./cmd/"+c)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = moduleDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	return nil
}

// ModuleDir finds the module root from the working directory upwards.
func ModuleDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}
