package stack

import (
	"path/filepath"
	"testing"
	"time"
)

func TestProcCPUTime(t *testing.T) {
	p := &Proc{Name: "busy", Args: []string{"sh", "-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; sleep 30"},
		Log: filepath.Join(t.TempDir(), "busy.log")}
	if _, err := p.CPUTime(); err == nil {
		t.Fatal("CPUTime of a process not started")
	}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	deadline := time.Now().Add(20 * time.Second)
	for {
		cpu, err := p.CPUTime()
		if err != nil {
			t.Fatal(err)
		}
		if cpu > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no CPU time after 20 s of a busy loop")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
