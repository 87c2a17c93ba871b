package testredis

import (
	"context"
	"testing"
	"time"
)

func TestStartKillRestart(t *testing.T) {
	s := Start(t, Options{Fsync: "always"})
	c := s.Client()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("killed server still answers")
	}
	s.Restart()
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("after restart Get = %q, %v; AOF lost the write", got, err)
	}
}

func TestCluster(t *testing.T) {
	c := StartCluster(t, 3, Options{})
	cc := c.Client(t)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c", "{x}1", "{x}2"} {
		if err := cc.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatalf("set %s: %v", k, err)
		}
	}
}

func TestReplicatedFailover(t *testing.T) {
	start := time.Now()
	c := StartReplicated(t, ReplicaOptions{Server: Options{NoAOF: true}})
	t.Logf("3+3 cluster healthy after %s", time.Since(start).Round(time.Millisecond))
	nodes, err := c.Topology()
	if err != nil {
		t.Fatal(err)
	}
	masters := 0
	for _, n := range nodes {
		if n.Master {
			masters++
		}
	}
	if len(nodes) != 6 || masters != 3 {
		t.Fatalf("topology: %d nodes, %d masters", len(nodes), masters)
	}
	cc := c.Client(t)
	ctx := context.Background()
	if err := cc.Set(ctx, "{x}k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	m, err := c.MasterOf("{x}k")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := m.Client().Wait(ctx, 1, 2000).Result(); err != nil || n < 1 {
		t.Fatalf("WAIT 1 = %d, %v", n, err)
	}
	killed := time.Now()
	m.Kill()
	if err := c.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("replica promoted %s after SIGKILL", time.Since(killed).Round(time.Millisecond))
	// The client finds the promoted replica at its next slot map reload.
	var got string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got, err = cc.Get(ctx, "{x}k").Result(); err == nil {
			break
		}
	}
	if got != "v" {
		t.Fatalf("after failover Get = %q, %v", got, err)
	}
	m.Restart()
	if err := c.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if m2, err := c.MasterOf("{x}k"); err != nil || m2 == m {
		t.Fatalf("restarted old master serves the slot again (%v): it should rejoin as a replica", err)
	}
}
