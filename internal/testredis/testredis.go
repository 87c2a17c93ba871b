// Package testredis starts real redis-server processes for tests: one server on
// a free loopback port, or a small Redis Cluster. Servers are stopped when the
// test ends. A missing redis-server fails the test; it never skips.
package testredis

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/internal/aofrepair"
	"github.com/paycrawl/paycrawl/internal/testnet"
)

// Options tune a server. The zero value is an AOF-enabled server with
// appendfsync everysec and aof-load-truncated no, whose AOF is repaired
// (internal/aofrepair) before every start, as paycrawl runs its own.
type Options struct {
	// Fsync is the appendfsync policy: "always", "everysec" (default) or "no".
	Fsync string
	// NoAOF turns the append-only file off.
	NoAOF bool
	// Cluster starts the server with cluster-enabled yes.
	Cluster bool
	// Extra holds more redis.conf lines; they come last, so they override.
	Extra []string
	// SkipRepair starts redis-server on the AOF as it is, without
	// aofrepair.Repair: for tests of what redis-server itself does with it.
	SkipRepair bool
}

// Server is one redis-server process owned by a test.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	opts Options

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Binary returns the path of redis-server, or an error that says how to get it.
func Binary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/bin", "/usr/local/bin", "/usr/sbin"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH: run `make test`, which installs it (apt-get install -y redis-server)", name)
}

// Start runs a redis-server on a free 127.0.0.1 port, waits until it answers
// PING, and stops it with SIGKILL when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, err := Binary("redis-server")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), opts: opts}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		s.port, err = freePort(opts.Cluster)
		if err != nil {
			t.Fatal(err)
		}
		if lastErr = s.start(); lastErr == nil {
			t.Cleanup(func() { s.Kill() })
			return s
		}
	}
	t.Fatalf("redis-server did not start: %v", lastErr)
	return nil
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Port is the server's TCP port.
func (s *Server) Port() int { return s.port }

// Dir is the server's data directory (AOF and RDB files).
func (s *Server) Dir() string { return s.dir }

// Client returns a go-redis client for the server, closed when the test ends.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

func (s *Server) conf() string {
	lines := []string{
		"bind 127.0.0.1",
		"port " + strconv.Itoa(s.port),
		"dir " + s.dir,
		"save \"\"",
		"daemonize no",
		"protected-mode yes",
		"loglevel warning",
		"logfile " + filepath.Join(s.dir, "redis.log"),
	}
	if !s.opts.NoAOF {
		fsync := s.opts.Fsync
		if fsync == "" {
			fsync = "everysec"
		}
		// A cut AOF must stop redis-server, not be loaded up to its last
		// complete command: that can leave half a MULTI block that a later
		// load applies (see internal/aofrepair). start repairs it first.
		lines = append(lines, "appendonly yes", "appendfsync "+fsync, "aof-load-truncated no")
	}
	if s.opts.Cluster {
		lines = append(lines, "cluster-enabled yes",
			"cluster-config-file "+filepath.Join(s.dir, "nodes.conf"),
			"cluster-node-timeout 5000")
	}
	lines = append(lines, s.opts.Extra...)
	return strings.Join(lines, "\n") + "\n"
}

func (s *Server) start() error {
	if !s.opts.NoAOF && !s.opts.SkipRepair {
		rep, err := aofrepair.Repair(filepath.Join(s.dir, aofrepair.DirName), aofrepair.Options{})
		if err != nil {
			return err
		}
		if rep.Changed() {
			s.t.Logf("testredis: repaired the AOF before starting redis-server:\n%s", rep)
		}
	}
	confPath := filepath.Join(s.dir, "redis.conf")
	if err := os.WriteFile(confPath, []byte(s.conf()), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(s.bin, confPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			return fmt.Errorf("redis-server exited: %s", strings.TrimSpace(string(log)))
		default:
		}
		if ping(s.Addr()) == nil {
			s.mu.Lock()
			s.cmd = cmd
			s.mu.Unlock()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return fmt.Errorf("redis-server on %s did not answer PING within 10s", s.Addr())
}

// Kill stops the server at once with SIGKILL, as a crash would.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	// Wait for the port to be released so that Restart can bind it again.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && ping(s.Addr()) == nil {
		time.Sleep(10 * time.Millisecond)
	}
	s.cmd = nil
}

// Running reports whether the server process is up (not killed).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Restart starts the server again on the same port and data directory, so it
// reloads its append-only file.
func (s *Server) Restart() {
	s.t.Helper()
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("redis-server restart on %s: %v", s.Addr(), err)
}

// TryRestart is Restart that makes one attempt and returns its error, such
// as redis-server refusing to load its AOF (the error carries its log).
func (s *Server) TryRestart() error {
	return s.start()
}

func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil {
		return err
	}
	// A loading server answers -LOADING: it is not ready yet.
	if !strings.HasPrefix(string(buf[:n]), "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(string(buf[:n])))
	}
	return nil
}

// freePort finds a free loopback port. For a cluster node the bus port
// (port+10000) must be free too.
func freePort(cluster bool) (int, error) {
	for i := 0; i < 50; i++ {
		port, err := testnet.FreePort()
		if err != nil {
			return 0, err
		}
		if !cluster {
			return port, nil
		}
		if port+10000 > 65535 {
			continue
		}
		bl, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			continue
		}
		_ = bl.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port pair found")
}

// Cluster is a Redis Cluster owned by a test: masters only (StartCluster) or
// masters with replicas (StartReplicated).
type Cluster struct {
	// Nodes lists every node in start order; roles change with failovers
	// (see Topology and MasterOf).
	Nodes []*Server
	cli   string
}

// StartCluster starts n cluster-enabled servers and joins them with
// `redis-cli --cluster create`, then waits until the cluster state is ok.
func StartCluster(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	cli, err := Binary("redis-cli")
	if err != nil {
		t.Fatal(err)
	}
	opts.Cluster = true
	c := &Cluster{}
	args := []string{"--cluster", "create"}
	for i := 0; i < n; i++ {
		s := Start(t, opts)
		c.Nodes = append(c.Nodes, s)
		args = append(args, s.Addr())
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := true
		for _, s := range c.Nodes {
			info, err := exec.Command(cli, "-p", strconv.Itoa(s.Port()), "cluster", "info").Output()
			if err != nil || !strings.Contains(string(info), "cluster_state:ok") {
				ok = false
				break
			}
		}
		if ok {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster did not reach state ok within 20s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Addrs lists the nodes' host:port addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		out[i] = s.Addr()
	}
	return out
}

// Client returns a cluster client, closed when the test ends. It reloads
// its slot map every second (go-redis's default is 60s), so that it finds a
// promoted replica soon after a failover.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), ClusterStateReloadInterval: time.Second})
	t.Cleanup(func() { _ = cc.Close() })
	// Wait until the client sees every slot covered.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if err := cc.ForEachShard(ctx, func(ctx context.Context, s *redis.Client) error {
			return s.Ping(ctx).Err()
		}); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cc
}

// ReplicaOptions shape a cluster with replicas (StartReplicated).
type ReplicaOptions struct {
	// Masters is the number of masters; each gets one replica. Default 3.
	Masters int
	// NodeTimeout is cluster-node-timeout: how long a master may be
	// unreachable before its replica is promoted. Default 1s, short so that
	// failover tests finish quickly (production clusters use 5–15s).
	NodeTimeout time.Duration
	// Server applies to every node; Cluster is set for you.
	Server Options
}

// StartReplicated starts a Redis Cluster of masters with one replica each,
// joined with `redis-cli --cluster create … --cluster-replicas 1`, and waits
// (at most 30s) until the cluster state is ok on every node and every replica
// is in sync with its master. Replicas are tuned to take over quickly:
// diskless sync without delay and cluster-replica-validity-factor 0 (a
// replica is always allowed to fail over, however long it was cut off).
func StartReplicated(t testing.TB, o ReplicaOptions) *Cluster {
	t.Helper()
	if o.Masters <= 0 {
		o.Masters = 3
	}
	if o.NodeTimeout <= 0 {
		o.NodeTimeout = time.Second
	}
	cli, err := Binary("redis-cli")
	if err != nil {
		t.Fatal(err)
	}
	opts := o.Server
	opts.Cluster = true
	opts.Extra = append([]string{
		"cluster-node-timeout " + strconv.FormatInt(o.NodeTimeout.Milliseconds(), 10),
		"cluster-replica-validity-factor 0",
		"repl-diskless-sync yes",
		"repl-diskless-sync-delay 0",
		"repl-ping-replica-period 1",
	}, opts.Extra...)
	c := &Cluster{cli: cli}
	args := []string{"--cluster", "create"}
	for i := 0; i < 2*o.Masters; i++ {
		s := Start(t, opts)
		c.Nodes = append(c.Nodes, s)
		args = append(args, s.Addr())
	}
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	out, err := exec.Command(cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	if err := c.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	return c
}

// Node is one node's role as CLUSTER NODES reports it.
type Node struct {
	Server *Server
	// ID is the cluster node id.
	ID string
	// Master reports whether the node is a master; MasterID names the
	// master of a replica.
	Master   bool
	MasterID string
	// Failed reports the fail or pfail flag.
	Failed bool
}

// Topology reads CLUSTER NODES from the first live node.
func (c *Cluster) Topology() ([]Node, error) {
	byAddr := map[string]*Server{}
	for _, s := range c.Nodes {
		byAddr[s.Addr()] = s
	}
	var lastErr error
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		out, err := exec.Command(c.cliPath(), "-p", strconv.Itoa(s.Port()), "cluster", "nodes").Output()
		if err != nil {
			lastErr = err
			continue
		}
		var nodes []Node
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			if len(f) < 8 {
				continue
			}
			addr, _, _ := strings.Cut(f[1], "@")
			n := Node{Server: byAddr[addr], ID: f[0], Master: strings.Contains(f[2], "master"),
				Failed: strings.Contains(f[2], "fail")}
			if f[3] != "-" {
				n.MasterID = f[3]
			}
			nodes = append(nodes, n)
		}
		return nodes, nil
	}
	return nil, fmt.Errorf("no live node answered CLUSTER NODES: %v", lastErr)
}

// MasterOf returns the live server that is master of key's slot now.
func (c *Cluster) MasterOf(key string) (*Server, error) {
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		rc := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		role, err := rc.Do(ctx, "role").Slice()
		var owns bool
		if err == nil && len(role) > 0 && role[0] == "master" {
			// A master serving the key's slot answers a read; one that
			// does not answers MOVED.
			err = rc.Exists(ctx, key).Err()
			owns = err == nil
		}
		cancel()
		_ = rc.Close()
		if owns {
			return s, nil
		}
	}
	return nil, fmt.Errorf("no live master serves %q", key)
}

// WaitHealthy waits until every running node reports cluster_state:ok and
// every running master has all its running replicas in sync.
func (c *Cluster) WaitHealthy(within time.Duration) error {
	deadline := time.Now().Add(within)
	var why string
	for {
		if why = c.unhealthy(); why == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not healthy within %s: %s", within, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *Cluster) unhealthy() string {
	running := 0
	for _, s := range c.Nodes {
		if !s.Running() {
			continue
		}
		running++
		info, err := exec.Command(c.cliPath(), "-p", strconv.Itoa(s.Port()), "cluster", "info").Output()
		if err != nil || !strings.Contains(string(info), "cluster_state:ok") {
			return s.Addr() + " cluster_state not ok"
		}
	}
	nodes, err := c.Topology()
	if err != nil {
		return err.Error()
	}
	masters, replicas := 0, 0
	for _, n := range nodes {
		if n.Server == nil || !n.Server.Running() {
			continue
		}
		if n.Failed {
			return n.Server.Addr() + " still flagged failed"
		}
		if n.Master {
			masters++
			continue
		}
		replicas++
		info, err := exec.Command(c.cliPath(), "-p", strconv.Itoa(n.Server.Port()), "info", "replication").Output()
		if err != nil || !strings.Contains(string(info), "master_link_status:up") ||
			strings.Contains(string(info), "master_sync_in_progress:1") {
			return n.Server.Addr() + " replica not in sync"
		}
	}
	if masters+replicas != running {
		return "topology lists " + strconv.Itoa(masters+replicas) + " of " + strconv.Itoa(running) + " running nodes"
	}
	return ""
}

func (c *Cluster) cliPath() string {
	if c.cli != "" {
		return c.cli
	}
	p, _ := Binary("redis-cli")
	return p
}

// StartReplica starts a server replicating master (replicaof) and waits, at
// most 20s, until it is in sync.
func StartReplica(t testing.TB, master *Server, opts Options) *Server {
	t.Helper()
	opts.Extra = append([]string{"replicaof 127.0.0.1 " + strconv.Itoa(master.Port()),
		"repl-diskless-sync-delay 0"}, opts.Extra...)
	s := Start(t, opts)
	if err := s.WaitInSync(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	return s
}

// WaitInSync waits until the server, a replica, has its link to its master
// up and no sync in progress.
func (s *Server) WaitInSync(within time.Duration) error {
	cli, err := Binary("redis-cli")
	if err != nil {
		return err
	}
	deadline := time.Now().Add(within)
	for {
		info, err := exec.Command(cli, "-p", strconv.Itoa(s.Port()), "info", "replication").Output()
		if err == nil && strings.Contains(string(info), "master_link_status:up") &&
			!strings.Contains(string(info), "master_sync_in_progress:1") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replica %s not in sync within %s", s.Addr(), within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
