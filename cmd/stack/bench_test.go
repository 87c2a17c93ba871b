package main

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{0.3}, 0.3},
		{[]float64{0.62, 0.58, 0.65}, 0.62},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		in := append([]float64(nil), c.in...)
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", in, got, c.want)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Fatalf("median reordered its argument: %v", c.in)
			}
		}
	}
}

// TestMachineUse: the machine's CPU time of a run is shared out per
// request among the processes, loadgen, idle and the rest; unknown idle
// says n/a.
func TestMachineUse(t *testing.T) {
	cpus := runtime.NumCPU()
	// 1,000 requests in one second: the machine had cpus × 1,000 µs per request.
	run := &loadResult{Requests: 1000, Seconds: 1, CPUSeconds: 0.1, MachineIdle: 0.25}
	u := machineUse{run: run, procs: map[string]time.Duration{"gateway": 300 * time.Millisecond, "redis": 50 * time.Millisecond, "origin": 0}}
	capacity := float64(cpus * 1000)
	want := fmt.Sprintf("gateway 300, redis 50, loadgen 100, idle %.0f, other %.0f; of %.0f (%d CPUs)",
		capacity/4, capacity*3/4-450, capacity, cpus)
	if got := u.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	for _, u := range []machineUse{{}, {run: &loadResult{Requests: 1, Seconds: 1, MachineIdle: -1}}, {run: &loadResult{Seconds: 1}}} {
		if got := u.String(); got != "n/a" {
			t.Errorf("%+v: %q, want n/a", u, got)
		}
	}
}
