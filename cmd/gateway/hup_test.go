package main

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestReloadOnHUPExits: a SIGHUP reloads, and stop returns, which it does
// only once the reload goroutine has exited: serve leaves none behind.
func TestReloadOnHUPExits(t *testing.T) {
	reloaded := make(chan struct{}, 1)
	stop := reloadOnHUP(context.Background(), func() { reloaded <- struct{}{} })
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reloaded:
	case <-time.After(10 * time.Second):
		t.Fatal("SIGHUP did not reload")
	}
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("stop did not return: the reload goroutine is still running")
	}
}
