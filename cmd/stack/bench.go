package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/internal/stack"
)

// loadResult is loadgen run's JSON.
type loadResult struct {
	Requests  int            `json:"requests"`
	Seconds   float64        `json:"seconds"`
	PerSecond float64        `json:"requests_per_second"`
	P50ms     float64        `json:"p50_ms"`
	P99ms     float64        `json:"p99_ms"`
	Statuses  map[string]int `json:"statuses"`
	Errors    int            `json:"errors"`
	// CPUSeconds is loadgen's CPU time while sending, MachineIdle the idle
	// share of the machine meanwhile (-1: unknown).
	CPUSeconds  float64 `json:"cpu_seconds"`
	MachineIdle float64 `json:"machine_idle"`
}

// benchGateway measures the gateway (verify, price, ledger append) against
// a bare httputil.ReverseProxy in front of the same origin, with the same
// load generator, concurrency and request count.
func benchGateway(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench-gateway", flag.ContinueOnError)
	dir := fs.String("dir", "", "working directory (default: a temporary one)")
	n := fs.Int("n", 20000, "requests per run")
	c := fs.Int("c", 32, "concurrency")
	fsync := fs.String("fsync", "always", "redis appendfsync: always or everysec")
	size := fs.Int("size", 2048, "origin page size in bytes")
	profile := fs.String("cpuprofile", "", "write the gateway's CPU profile during its run to this file")
	cluster := fs.Bool("cluster", false, "run the ledger on a Redis Cluster of 3 masters with a replica each")
	minReplicas := fs.Int("min-replicas", -1, "the gateway's ledger.min_replicas (-1: its default, 1 on a cluster)")
	runs := fs.Int("runs", 1, "rounds of the three runs (bare, charged, free), each ratio within its round; the ratio line gives the median")
	halfLoad := fs.Bool("half-load", true, "also measure p99 latency at half the charged throughput, bare and charged")
	if err := fs.Parse(args); err != nil {
		return err
	}
	mr := *minReplicas
	switch {
	case mr == 0:
		mr = -1 // off
	case mr < 0:
		mr = 0 // the default
	}
	st, cleanup, err := newStack(ctx, *dir, stack.Options{Fsync: *fsync, Cluster: *cluster, MinReplicas: mr},
		"gateway", "keydirectory", "crawlctl", "loadgen")
	if err != nil {
		return err
	}
	defer cleanup()
	for _, step := range []func(context.Context) error{
		st.StartRedis,
		func(ctx context.Context) error { return st.StartOrigin(ctx, *size) },
		func(ctx context.Context) error {
			return st.StartKeydir(ctx, stack.KeydirOptions{SettlerAddress: benchSettler, TokenAddress: benchToken, ChainID: 1337})
		},
	} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	// The bench crawler's wallet proves it is the crawler's (no chain runs:
	// nothing is settled).
	walletKey, _, err := stack.NewKey()
	if err != nil {
		return err
	}
	walletFile, err := st.WalletKeyFile("bench-crawler", walletKey)
	if err != nil {
		return err
	}
	crawler, err := st.Register(ctx, "bench-crawler", "--rail", "evm", "--wallet-key", walletFile, "--daily-cap", "1000000", "--max-price", "1")
	if err != nil {
		return err
	}
	if err := st.StartGateway(ctx, ""); err != nil {
		return err
	}
	proxyAddr, err := st.StartBareProxy(ctx)
	if err != nil {
		return err
	}
	loadgen := func(args ...string) (*loadResult, error) {
		cmd := exec.CommandContext(ctx, st.Bin("loadgen"), append([]string{"run", "-json", "-n", fmt.Sprint(*n), "-c", fmt.Sprint(*c)}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("loadgen %v: %v\n%s%s", args, err, out.String(), errb.String())
		}
		var r loadResult
		return &r, json.Unmarshal(out.Bytes(), &r)
	}
	fmt.Printf("warming up…\n")
	if _, err := loadgen("-url", proxyAddr, "-n", "2000"); err != nil {
		return err
	}
	charged := []string{"-url", st.Gateway, "-path-prefix", "/articles/", "-key", crawler.KeyPath, "-agent", crawler.AgentURL}
	// measure runs loadgen against the process proc and returns its result
	// and the CPU time proc spent meanwhile; use, when not nil, gets the
	// whole machine's.
	measure := func(proc string, use *machineUse, args ...string) (*loadResult, time.Duration, error) {
		before := procsCPU(st)
		r, err := loadgen(args...)
		if err != nil {
			return nil, 0, err
		}
		after := procsCPU(st)
		if use != nil {
			*use = machineUse{run: r, procs: map[string]time.Duration{}}
			for name, t := range after {
				if t0, ok := before[name]; ok && t >= 0 && t0 >= 0 {
					use.procs[name] = t - t0
				}
			}
		}
		if after[proc] < 0 || before[proc] < 0 {
			return r, -1, nil
		}
		return r, after[proc] - before[proc], nil
	}
	var rounds []benchRound
	for i := range max(*runs, 1) {
		var rd benchRound
		if rd.bare, rd.bareCPU, err = measure("bare-proxy", &rd.bareUse, "-url", proxyAddr, "-path-prefix", "/bare/"); err != nil {
			return err
		}
		profDone := make(chan error, 1)
		if *profile != "" && i == 0 {
			go func() {
				// Skip the pre-signing, then sample the middle of the run.
				time.Sleep(time.Duration(*n/20) * time.Millisecond)
				profDone <- fetchProfile(ctx, st.GatewayAdmin+"/debug/pprof/profile?seconds=5", *profile)
			}()
		} else {
			profDone <- nil
		}
		m0, b0, memErr := memStats(ctx, st.GatewayAdmin)
		if rd.charged, rd.chargedCPU, err = measure("gateway", &rd.chargedUse, charged...); err != nil {
			return err
		}
		if m1, b1, err := memStats(ctx, st.GatewayAdmin); err == nil && memErr == nil {
			rd.chargedAllocs, rd.chargedBytes = float64(m1-m0)/float64(rd.charged.Requests), float64(b1-b0)/float64(rd.charged.Requests)
		}
		if err := <-profDone; err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		if rd.free, rd.freeCPU, err = measure("gateway", nil, "-url", st.Gateway, "-path-prefix", "/free/"); err != nil {
			return err
		}
		rounds = append(rounds, rd)
	}
	var half *halfLoadResult
	if *halfLoad {
		rates := make([]float64, len(rounds))
		for i, rd := range rounds {
			rates[i] = rd.charged.PerSecond
		}
		rate := median(rates) / 2
		pace := []string{"-rate", fmt.Sprintf("%.0f", rate), "-n", fmt.Sprint(max(*n/2, 1))}
		half = &halfLoadResult{rate: rate}
		if half.bare, err = loadgen(append([]string{"-url", proxyAddr, "-path-prefix", "/bare-half/"}, pace...)...); err != nil {
			return err
		}
		if half.charged, err = loadgen(append(append([]string{}, charged...), append(pace, "-path-prefix", "/articles-half/")...)...); err != nil {
			return err
		}
	}
	redisDesc := "one redis-server"
	if *cluster {
		redisDesc = "a 3+3 cluster, ledger.min_replicas " + fmt.Sprint(max(*minReplicas, 0))
		if *minReplicas < 0 {
			redisDesc = "a 3+3 cluster, ledger.min_replicas 1 (default)"
		}
	}
	fmt.Printf("\nMachine: %d CPUs (%s/%s), %s; origin page %d bytes; %d requests at concurrency %d; redis appendfsync %s, %s\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, time.Now().UTC().Format(time.DateOnly), *size, *n, *c, *fsync, redisDesc)
	printRounds(os.Stdout, rounds, half)
	return nil
}

// benchRound is one round of bench-gateway: the three runs, one after the
// other, and the CPU time of the process each one loaded (-1: unknown).
type benchRound struct {
	bare, charged, free          *loadResult
	bareCPU, chargedCPU, freeCPU time.Duration
	// chargedAllocs and chargedBytes are the gateway's heap allocations
	// per charged request (0: unknown).
	chargedAllocs, chargedBytes float64
	// bareUse and chargedUse are where the machine's CPU went in the bare
	// and the charged runs.
	bareUse, chargedUse machineUse
}

// machineUse is where the machine's CPU time went during one load run:
// each process of the stack, loadgen, idle, and the rest (the kernel's
// work for no process of ours, other programs).
type machineUse struct {
	run   *loadResult
	procs map[string]time.Duration
}

// procsCPU is the CPU time of each process of st so far (-1: unknown).
func procsCPU(st *stack.Stack) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, p := range st.Procs() {
		t, err := p.CPUTime()
		if err != nil {
			t = -1
		}
		out[p.Name] = t
	}
	return out
}

// String says, in µs of CPU per request, what each process, loadgen and
// idle took of the machine's CPUs during the run, and what is left.
func (u machineUse) String() string {
	if u.run == nil || u.run.Requests == 0 || u.run.MachineIdle < 0 {
		return "n/a"
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(u.run.Requests) }
	capacity := time.Duration(u.run.Seconds * float64(runtime.NumCPU()) * float64(time.Second))
	names := make([]string, 0, len(u.procs))
	for n := range u.procs {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	used := time.Duration(0)
	for _, n := range names {
		if per(u.procs[n]) >= 0.5 {
			fmt.Fprintf(&b, "%s %.0f, ", n, per(u.procs[n]))
		}
		used += u.procs[n]
	}
	lg := time.Duration(u.run.CPUSeconds * float64(time.Second))
	idle := time.Duration(u.run.MachineIdle * float64(capacity))
	fmt.Fprintf(&b, "loadgen %.0f, idle %.0f, other %.0f; of %.0f (%d CPUs)", per(lg), per(idle), per(capacity-used-lg-idle), per(capacity), runtime.NumCPU())
	return b.String()
}

// halfLoadResult is the latency of the bare proxy and of charged requests
// paced at half the charged throughput.
type halfLoadResult struct {
	rate          float64
	bare, charged *loadResult
}

func printRounds(w io.Writer, rounds []benchRound, half *halfLoadResult) {
	perRequest := func(cpu time.Duration, r *loadResult) string {
		if cpu < 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.0f", float64(cpu.Microseconds())/float64(r.Requests))
	}
	fmt.Fprintf(w, "%-6s %-38s %12s %10s %10s %14s\n", "round", "", "requests/s", "p50 ms", "p99 ms", "CPU µs/req")
	var charged, free []float64
	for i, rd := range rounds {
		for _, row := range []struct {
			name string
			r    *loadResult
			cpu  time.Duration
			proc string
		}{
			{"bare httputil.ReverseProxy", rd.bare, rd.bareCPU, "(proxy)"},
			{"paycrawl gateway, free path (unsigned)", rd.free, rd.freeCPU, "(gateway)"},
			{"paycrawl gateway (signed, charged)", rd.charged, rd.chargedCPU, "(gateway)"},
		} {
			fmt.Fprintf(w, "%-6d %-38s %12.0f %10.2f %10.2f %14s\n", i+1, row.name, row.r.PerSecond, row.r.P50ms, row.r.P99ms,
				perRequest(row.cpu, row.r)+" "+row.proc)
		}
		charged = append(charged, rd.charged.PerSecond/rd.bare.PerSecond)
		free = append(free, rd.free.PerSecond/rd.bare.PerSecond)
		fmt.Fprintf(w, "       charged run statuses %v, %d errors; gateway heap per charged request: %.0f allocations, %.1f KB\n",
			rd.charged.Statuses, rd.charged.Errors, rd.chargedAllocs, rd.chargedBytes/1024)
		fmt.Fprintf(w, "       machine CPU µs per request, bare run: %s\n", rd.bareUse)
		fmt.Fprintf(w, "       machine CPU µs per request, charged run: %s\n", rd.chargedUse)
	}
	list := func(xs []float64) string {
		parts := make([]string, len(xs))
		for i, x := range xs {
			parts[i] = fmt.Sprintf("%.2f", x)
		}
		return strings.Join(parts, ", ")
	}
	fmt.Fprintf(w, "ratio charged/bare: %.2f (%d runs: %s)\n", median(charged), len(charged), list(charged))
	fmt.Fprintf(w, "ratio free/bare: %.2f (%d runs: %s)\n", median(free), len(free), list(free))
	if half != nil {
		fmt.Fprintf(w, "p99 at half load (%.0f req/s paced): bare %.2f ms, charged %.2f ms: added %.2f ms\n",
			half.rate, half.bare.P99ms, half.charged.P99ms, half.charged.P99ms-half.bare.P99ms)
	}
}

// median of xs (not empty).
func median(xs []float64) float64 {
	xs = slices.Sorted(slices.Values(xs))
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

// Addresses for the benchmark's evm billing profile: nothing is settled.
const (
	benchSettler = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	benchToken   = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
)

// newStack builds the commands and prepares a stack in dir (a temporary
// directory when empty); cleanup stops it and removes a temporary dir.
func newStack(ctx context.Context, dir string, opts stack.Options, commands ...string) (*stack.Stack, func(), error) {
	mod, err := stack.ModuleDir()
	if err != nil {
		return nil, nil, err
	}
	temp := dir == ""
	if temp {
		if dir, err = os.MkdirTemp("", "paycrawl-stack-"); err != nil {
			return nil, nil, err
		}
	}
	bin := filepath.Join(dir, "bin")
	if len(commands) == 0 {
		commands = stack.Commands
	}
	fmt.Printf("building %s…\n", strings.Join(commands, ", "))
	if err := stack.Build(ctx, mod, bin, commands...); err != nil {
		return nil, nil, err
	}
	opts.Dir, opts.Bin, opts.Log = dir, bin, os.Stdout
	st, err := stack.New(opts)
	if err != nil {
		return nil, nil, err
	}
	return st, func() {
		st.Stop()
		if temp {
			_ = os.RemoveAll(dir)
		}
	}, nil
}

// memStats returns the gateway's heap allocation counters so far
// (runtime.MemStats Mallocs and TotalAlloc), as its pprof heap page prints
// them.
func memStats(ctx context.Context, admin string) (mallocs, bytes uint64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/debug/pprof/allocs?debug=1", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, err
	}
	var found int
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "# Mallocs = "); ok {
			mallocs, err = strconv.ParseUint(v, 10, 64)
			found++
		} else if v, ok := strings.CutPrefix(line, "# TotalAlloc = "); ok {
			bytes, err = strconv.ParseUint(v, 10, 64)
			found++
		}
		if err != nil {
			return 0, 0, err
		}
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("no allocation counters in the gateway's heap profile")
	}
	return mallocs, bytes, nil
}

func fetchProfile(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
