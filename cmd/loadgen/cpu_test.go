package main

import (
	"runtime"
	"testing"
)

func TestIdleSince(t *testing.T) {
	for _, c := range []struct {
		before, after cpuStat
		want          float64
	}{
		{cpuStat{total: 100, idle: 40}, cpuStat{total: 300, idle: 90}, 0.25},
		{cpuStat{total: 100, idle: 40}, cpuStat{total: 100, idle: 40}, -1}, // no time passed
		{cpuStat{}, cpuStat{total: 300, idle: 90}, -1},                     // no /proc/stat before
		{cpuStat{total: 100, idle: 40}, cpuStat{}, -1},                     // nor after
	} {
		if got := c.after.idleSince(c.before); got != c.want {
			t.Errorf("%+v → %+v: %v, want %v", c.before, c.after, got, c.want)
		}
	}
	if st := readCPUStat(); runtime.GOOS == "linux" && (st.total <= 0 || st.idle < 0 || st.idle > st.total) {
		t.Fatalf("/proc/stat read as %+v", st)
	}
}
