package stack

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/internal/freeport"
	"github.com/redis/go-redis/v9"
)

// clusterNodes is the size of the stack's Redis Cluster: 3 masters with a
// replica each.
const clusterNodes = 6

// clusterNodeTimeout is cluster-node-timeout on loopback: short, so that a
// replica takes over within a couple of seconds (production: 5–15s).
const clusterNodeTimeout = "1000"

// startRedisCluster starts Options.Cluster's 3 masters and 3 replicas
// (processes redis-0 … redis-5, each with its own data directory and the
// project's AOF settings) and joins them with redis-cli --cluster create
// --cluster-replicas 1. RedisAddrs lists them; Redis is the first.
func (s *Stack) startRedisCluster(ctx context.Context) error {
	bin, err := lookPath("redis-server")
	if err != nil {
		return err
	}
	cli, err := lookPath("redis-cli")
	if err != nil {
		return err
	}
	var addrs []string
	for i := 0; i < clusterNodes; i++ {
		addr, err := freeClusterAddr()
		if err != nil {
			return err
		}
		_, port, _ := net.SplitHostPort(addr)
		dir := filepath.Join(s.opts.Dir, "redis", strconv.Itoa(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		p, err := s.launch("redis-"+strconv.Itoa(i), nil, bin, "--bind", "127.0.0.1", "--port", port, "--dir", dir,
			"--appendonly", "yes", "--appendfsync", s.opts.Fsync, "--save", "", "--maxmemory-policy", "noeviction",
			"--protected-mode", "yes", "--aof-load-truncated", "no", "--aof-use-rdb-preamble", "yes",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--cluster-node-timeout", clusterNodeTimeout, "--cluster-replica-validity-factor", "0",
			"--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0")
		if err != nil {
			return err
		}
		if err := waitTCP(p, addr, 10*time.Second); err != nil {
			return err
		}
		addrs = append(addrs, addr)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("redis-cli --cluster create: %v\n%s", err, out)
	}
	s.Redis, s.RedisAddrs = addrs[0], addrs
	if err := s.WaitClusterOK(ctx, 30*time.Second); err != nil {
		return err
	}
	s.logf("redis cluster     %s (3 masters, 3 replicas, appendfsync %s)", strings.Join(addrs, " "), s.opts.Fsync)
	return nil
}

// freeClusterAddr is a free loopback address whose cluster bus port
// (port+10000) is free too.
func freeClusterAddr() (string, error) {
	for i := 0; i < 50; i++ {
		p, err := freeport.On("127.0.0.1")
		if err != nil {
			return "", err
		}
		if p+10000 > 65535 {
			continue
		}
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000)); err == nil {
			l.Close()
			return "127.0.0.1:" + strconv.Itoa(p), nil
		}
	}
	return "", fmt.Errorf("no free port pair for a cluster node")
}

func waitTCP(p *Proc, addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		if !p.Running() || time.Now().After(deadline) {
			return fmt.Errorf("%s did not start:\n%s", p.Name, p.Tail(2000))
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// WaitClusterOK waits until every running node of the cluster reports
// cluster_state:ok and every master that serves slots has a replica in
// sync (what appends with ledger.min_replicas 1 need).
func (s *Stack) WaitClusterOK(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		why := s.clusterUnhealthy(ctx)
		if why == "" {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("redis cluster not ok within %s: %s", within, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *Stack) clusterUnhealthy(ctx context.Context) string {
	for i, addr := range s.RedisAddrs {
		if p := s.Proc("redis-" + strconv.Itoa(i)); p == nil || !p.Running() {
			continue
		}
		c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		info, err := c.ClusterInfo(ctx).Result()
		var role []interface{}
		if err == nil {
			role, err = c.Do(ctx, "role").Slice()
		}
		c.Close()
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			return addr + " cluster_state not ok"
		}
		if len(role) >= 3 && role[0] == "master" {
			if reps, _ := role[2].([]interface{}); len(reps) == 0 {
				return addr + " is a master without a replica"
			}
		}
	}
	return ""
}

// MasterOf names the redis-N process that is master of key's slot now.
func (s *Stack) MasterOf(ctx context.Context, key string) (string, error) {
	for i, addr := range s.RedisAddrs {
		name := "redis-" + strconv.Itoa(i)
		if p := s.Proc(name); p == nil || !p.Running() {
			continue
		}
		c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		role, err := c.Do(ctx, "role").Slice()
		owns := err == nil && len(role) > 0 && role[0] == "master" && c.Exists(ctx, key).Err() == nil
		c.Close()
		if owns {
			return name, nil
		}
	}
	return "", fmt.Errorf("no live master serves %q", key)
}

// LedgerClient returns a client of the stack's Redis: a cluster client in
// cluster mode. The caller closes it.
func (s *Stack) LedgerClient() redis.UniversalClient {
	if len(s.RedisAddrs) > 0 {
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: s.RedisAddrs, ClusterStateReloadInterval: time.Second})
	}
	return redis.NewClient(&redis.Options{Addr: s.Redis})
}

// redisYAML is the address part of a Redis section of a configuration
// file: `addrs: [...]`, with `cluster: true` in cluster mode.
func (s *Stack) redisYAML() string {
	if len(s.RedisAddrs) == 0 {
		return fmt.Sprintf("addrs: [%q]", s.Redis)
	}
	q := make([]string, len(s.RedisAddrs))
	for i, a := range s.RedisAddrs {
		q[i] = strconv.Quote(a)
	}
	return "addrs: [" + strings.Join(q, ", ") + "], cluster: true"
}

// minReplicasYAML is Options.MinReplicas as a gateway's ledger field.
func (s *Stack) minReplicasYAML() string {
	switch {
	case s.opts.MinReplicas < 0:
		return ", min_replicas: 0"
	case s.opts.MinReplicas > 0:
		return ", min_replicas: " + strconv.Itoa(s.opts.MinReplicas)
	}
	return ""
}
