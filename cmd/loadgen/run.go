package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// Result is one load run.
type Result struct {
	URL         string         `json:"url"`
	Signed      bool           `json:"signed"`
	Requests    int            `json:"requests"`
	Concurrency int            `json:"concurrency"`
	Seconds     float64        `json:"seconds"`
	PerSecond   float64        `json:"requests_per_second"`
	P50ms       float64        `json:"p50_ms"`
	P90ms       float64        `json:"p90_ms"`
	P99ms       float64        `json:"p99_ms"`
	MaxMs       float64        `json:"max_ms"`
	Statuses    map[string]int `json:"statuses"`
	Errors      int            `json:"errors"`
	SignSeconds float64        `json:"sign_seconds,omitempty"`
	// CPUSeconds is loadgen's own CPU time (user and system) while it sent
	// the requests; MachineIdle the share of the machine's CPU time that
	// was idle meanwhile (all CPUs, from /proc/stat; -1 where unknown).
	CPUSeconds  float64 `json:"cpu_seconds"`
	MachineIdle float64 `json:"machine_idle"`
}

type runConfig struct {
	url, prefix, keyPath, agent, maxPrice string
	n, c                                  int
	expectOK                              bool
	// rate, when positive, paces the requests at that many a second
	// (open loop), for latency at a given load.
	rate float64
}

func cmdRun(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var rc runConfig
	fs.StringVar(&rc.url, "url", "http://127.0.0.1:8402", "base URL of the gateway or proxy")
	fs.StringVar(&rc.prefix, "path-prefix", "/bench/", "paths are <prefix><i>")
	fs.IntVar(&rc.n, "n", 20000, "requests")
	fs.IntVar(&rc.c, "c", 32, "concurrency")
	fs.StringVar(&rc.keyPath, "key", "", "private JWK (crawlctl keygen); empty sends unsigned requests")
	fs.StringVar(&rc.agent, "agent", "", "Signature-Agent URL of the key")
	fs.StringVar(&rc.maxPrice, "max-price", "USD 0.05", "crawler-max-price sent with signed requests")
	fs.BoolVar(&rc.expectOK, "expect-200", true, "fail when any response is not 200")
	fs.Float64Var(&rc.rate, "rate", 0, "requests per second, paced (0: as fast as the workers go)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	res, err := load(ctx, rc)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "%s signed=%v: %d requests, concurrency %d, %.2fs: %.0f req/s; latency p50 %.2fms p90 %.2fms p99 %.2fms max %.2fms; statuses %v; errors %d\n",
			res.URL, res.Signed, res.Requests, res.Concurrency, res.Seconds, res.PerSecond, res.P50ms, res.P90ms, res.P99ms, res.MaxMs, res.Statuses, res.Errors)
	}
	if rc.expectOK && (res.Errors > 0 || res.Statuses["200"] != res.Requests) {
		return fmt.Errorf("not every request answered 200: %v, %d errors", res.Statuses, res.Errors)
	}
	return nil
}

// presign builds n requests, each with its own path and, when signed, its
// own nonce.
func presign(rc runConfig) ([]*http.Request, time.Duration, error) {
	var signer *deferred.Signer
	var maxPrice money.Amount
	if rc.keyPath != "" {
		priv, _, err := deferred.ReadKeyFile(rc.keyPath)
		if err != nil {
			return nil, 0, err
		}
		if signer, err = deferred.NewSigner(priv, rc.agent); err != nil {
			return nil, 0, err
		}
		// Long enough for the slowest run; the gateway's maximum is one hour.
		signer.Validity = 30 * time.Minute
		if maxPrice, err = money.ParseAmount(rc.maxPrice); err != nil {
			return nil, 0, fmt.Errorf("-max-price: %w", err)
		}
	}
	start := time.Now()
	reqs := make([]*http.Request, rc.n)
	for i := range reqs {
		req, err := http.NewRequest(http.MethodGet, rc.url+rc.prefix+strconv.Itoa(i), nil)
		if err != nil {
			return nil, 0, err
		}
		if signer != nil {
			req.Header.Set(deferred.HeaderCrawlerMaxPrice, maxPrice.String())
			if err := signer.Sign(req, deferred.HeaderCrawlerMaxPrice); err != nil {
				return nil, 0, err
			}
		}
		reqs[i] = req
	}
	return reqs, time.Since(start), nil
}

func load(ctx context.Context, rc runConfig) (*Result, error) {
	if rc.n <= 0 || rc.c <= 0 {
		return nil, fmt.Errorf("-n and -c must be positive")
	}
	reqs, signTime, err := presign(rc)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{MaxIdleConns: rc.c * 2, MaxIdleConnsPerHost: rc.c * 2, DisableCompression: true, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	latencies := make([]time.Duration, len(reqs))
	statuses := make([]int, len(reqs))
	next := make(chan int)
	var wg sync.WaitGroup
	cpu0, stat0 := selfCPU(), readCPUStat()
	start := time.Now()
	for w := 0; w < rc.c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				resp, err := client.Do(reqs[i].WithContext(ctx))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					statuses[i] = resp.StatusCode
				}
				latencies[i] = time.Since(t0)
			}
		}()
	}
	var interval time.Duration
	if rc.rate > 0 {
		interval = time.Duration(float64(time.Second) / rc.rate)
	}
	for i := range reqs {
		if interval > 0 {
			// Each request at its slot: a late one is sent at once, so the
			// pace holds on average.
			time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		}
		select {
		case next <- i:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	res := &Result{URL: rc.url, Signed: rc.keyPath != "", Requests: len(reqs), Concurrency: rc.c,
		Seconds: elapsed.Seconds(), PerSecond: float64(len(reqs)) / elapsed.Seconds(), Statuses: map[string]int{},
		CPUSeconds: (selfCPU() - cpu0).Seconds(), MachineIdle: readCPUStat().idleSince(stat0)}
	if rc.keyPath != "" {
		res.SignSeconds = signTime.Seconds()
	}
	for _, s := range statuses {
		if s == 0 {
			res.Errors++
			continue
		}
		res.Statuses[strconv.Itoa(s)]++
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Microseconds()) / 1000
	}
	res.P50ms, res.P90ms, res.P99ms, res.MaxMs = pct(0.50), pct(0.90), pct(0.99), pct(1)
	return res, ctx.Err()
}
