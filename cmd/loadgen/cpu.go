package main

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// selfCPU is this process's CPU time so far, user and system.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuStat is the machine's CPU time so far, all CPUs, in clock ticks: the
// total and the idle part (idle and iowait). Zero where /proc/stat is not.
type cpuStat struct{ total, idle int64 }

// readCPUStat reads the first line of /proc/stat ("cpu user nice system
// idle iowait irq softirq steal …").
func readCPUStat() cpuStat {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuStat{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuStat{}
	}
	var st cpuStat
	for i, s := range f[1:9] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return cpuStat{}
		}
		st.total += n
		if i == 3 || i == 4 {
			st.idle += n
		}
	}
	return st
}

// idleSince is the idle share of the CPU time between before and s, or -1
// when unknown.
func (s cpuStat) idleSince(before cpuStat) float64 {
	if s.total == 0 || before.total == 0 || s.total <= before.total {
		return -1
	}
	return float64(s.idle-before.idle) / float64(s.total-before.total)
}
