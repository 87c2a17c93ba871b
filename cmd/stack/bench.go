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
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/internal/stack"
)

// loadResult is loadgen run's JSON.
type loadResult struct {
	PerSecond float64        `json:"requests_per_second"`
	P50ms     float64        `json:"p50_ms"`
	P99ms     float64        `json:"p99_ms"`
	Statuses  map[string]int `json:"statuses"`
	Errors    int            `json:"errors"`
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
	base, err := loadgen("-url", proxyAddr, "-path-prefix", "/bare/")
	if err != nil {
		return err
	}
	profDone := make(chan error, 1)
	if *profile != "" {
		go func() {
			// Skip the pre-signing, then sample the middle of the run.
			time.Sleep(time.Duration(*n/20) * time.Millisecond)
			profDone <- fetchProfile(ctx, st.GatewayAdmin+"/debug/pprof/profile?seconds=5", *profile)
		}()
	} else {
		profDone <- nil
	}
	gw, err := loadgen("-url", st.Gateway, "-path-prefix", "/articles/", "-key", crawler.KeyPath, "-agent", crawler.AgentURL)
	if err != nil {
		return err
	}
	if err := <-profDone; err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	free, err := loadgen("-url", st.Gateway, "-path-prefix", "/free/")
	if err != nil {
		return err
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
	fmt.Printf("%-36s %12s %10s %10s\n", "", "requests/s", "p50 ms", "p99 ms")
	fmt.Printf("%-36s %12.0f %10.2f %10.2f\n", "bare httputil.ReverseProxy", base.PerSecond, base.P50ms, base.P99ms)
	fmt.Printf("%-36s %12.0f %10.2f %10.2f\n", "paycrawl gateway, free path (unsigned)", free.PerSecond, free.P50ms, free.P99ms)
	fmt.Printf("%-36s %12.0f %10.2f %10.2f\n", "paycrawl gateway (signed, charged)", gw.PerSecond, gw.P50ms, gw.P99ms)
	fmt.Printf("ratio gateway / bare proxy: %.2f charged, %.2f free paths\n", gw.PerSecond/base.PerSecond, free.PerSecond/base.PerSecond)
	fmt.Printf("charged run statuses %v, %d errors\n", gw.Statuses, gw.Errors)
	return nil
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
