package testredis

import (
	"context"
	"testing"
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
