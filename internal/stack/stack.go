package stack

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/paycrawl/paycrawl/internal/aofrepair"
	"github.com/paycrawl/paycrawl/internal/teststripe"
)

// Options configure a Stack.
type Options struct {
	// Dir holds data, configuration files and logs. Required.
	Dir string
	// Bin holds the built commands (see Build). Required.
	Bin string
	// Log receives one line per step; nil discards.
	Log io.Writer
	// Fsync is redis-server's appendfsync; "" means always, the ledger's
	// default.
	Fsync string
	// Cluster runs Redis as a cluster of 3 masters with a replica each
	// (StartRedis); every service's configuration names all six nodes with
	// cluster: true, and appends wait for a replica (ledger.min_replicas's
	// default on a cluster).
	Cluster bool
	// MinReplicas sets the gateways' ledger.min_replicas: 0 leaves the
	// default (1 on a cluster, none on a single server), negative turns the
	// wait off, positive asks for that many replicas.
	MinReplicas int
}

// Stack is a set of paycrawl processes on loopback.
type Stack struct {
	opts  Options
	mu    sync.Mutex
	procs map[string]*Proc
	order []string // names in launch order

	// Addresses and URLs of what runs, set by the Start methods.
	Redis string
	// RedisAddrs lists the cluster's nodes in cluster mode (Redis is the
	// first); empty otherwise.
	RedisAddrs     []string
	StripeURL      string
	Stripe         *teststripe.Proxy
	Keydir         string
	AdminToken     string
	Origin         string
	Gateway        string
	GatewayAdmin   string
	GatewayConfig  string
	PublisherToken string
	OfferKey       string
	SettlerURL     string
	FinanceToken   string
	// APISite is the middleware-metered site of StartAPISite.
	APISite string

	settlerAddr string

	stripeSrv *http.Server
	stopAPI   func()
}

// New prepares a stack in opts.Dir.
func New(opts Options) (*Stack, error) {
	if opts.Dir == "" || opts.Bin == "" {
		return nil, fmt.Errorf("stack: Dir and Bin are required")
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Fsync == "" {
		opts.Fsync = "always"
	}
	for _, d := range []string{"logs", "redis", "config"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	return &Stack{opts: opts, procs: map[string]*Proc{}, AdminToken: randomHex(24), PublisherToken: randomHex(16), OfferKey: randomHex(32), FinanceToken: randomHex(32)}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Stack) logf(format string, args ...any) {
	fmt.Fprintf(s.opts.Log, format+"\n", args...)
}

// Bin returns the path of a built command.
func (s *Stack) Bin(name string) string { return filepath.Join(s.opts.Bin, name) }

// Proc returns a started process by name.
func (s *Stack) Proc(name string) *Proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.procs[name]
}

// Procs returns the started processes, sorted by name.
func (s *Stack) Procs() []*Proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Proc, 0, len(s.procs))
	for _, p := range s.procs {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *Proc) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (s *Stack) launch(name string, env []string, args ...string) (*Proc, error) {
	p := &Proc{Name: name, Args: args, Env: env, Log: filepath.Join(s.opts.Dir, "logs", name+".log")}
	if err := p.start(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if _, again := s.procs[name]; !again {
		s.order = append(s.order, name)
	}
	s.procs[name] = p
	s.mu.Unlock()
	return p, nil
}

// Restart starts a stopped or killed process again with the same arguments.
func (s *Stack) Restart(ctx context.Context, name string, ready string) error {
	p := s.Proc(name)
	if p == nil {
		return fmt.Errorf("no process %s", name)
	}
	p.Stop(10 * time.Second)
	if name == "redis" {
		if err := s.repairRedis(); err != nil {
			return err
		}
	}
	if n, ok := strings.CutPrefix(name, "redis-"); ok {
		if err := s.repairAOF(filepath.Join(s.opts.Dir, "redis", n)); err != nil {
			return err
		}
	}
	if err := p.start(); err != nil {
		return err
	}
	if ready == "" {
		return nil
	}
	return waitHTTP(ctx, p, ready, 20*time.Second)
}

// Stop stops every process, the last started first.
func (s *Stack) Stop() {
	s.mu.Lock()
	order := append([]string(nil), s.order...)
	stopAPI := s.stopAPI
	s.mu.Unlock()
	if stopAPI != nil {
		stopAPI()
	}
	for i := len(order) - 1; i >= 0; i-- {
		if p := s.Proc(order[i]); p != nil {
			p.Stop(10 * time.Second)
		}
	}
	if s.stripeSrv != nil {
		_ = s.stripeSrv.Close()
	}
}

func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	dirs := []string{"/usr/bin", "/usr/local/bin", "/usr/sbin"}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		dirs = append(dirs, filepath.Join(strings.TrimSpace(string(out)), "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found: run scripts/deps.sh (make demo and make test do)", name)
}

// StartRedis starts the project's redis-server (configs/redis.conf's
// settings: AOF on, aof-load-truncated no) on a free port, with its data in
// Dir/redis, after repairing its AOF (internal/aofrepair). Restart of "redis"
// repairs it too.
//
// With Options.Cluster it starts a cluster of 3 masters and 3 replicas
// instead (processes redis-0 … redis-5).
func (s *Stack) StartRedis(ctx context.Context) error {
	if s.opts.Cluster {
		return s.startRedisCluster(ctx)
	}
	bin, err := lookPath("redis-server")
	if err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(addr)
	if err := s.repairRedis(); err != nil {
		return err
	}
	p, err := s.launch("redis", nil, bin, "--bind", "127.0.0.1", "--port", port, "--dir", filepath.Join(s.opts.Dir, "redis"),
		"--appendonly", "yes", "--appendfsync", s.opts.Fsync, "--save", "", "--maxmemory-policy", "noeviction",
		"--auto-aof-rewrite-min-size", "1gb", "--protected-mode", "yes",
		"--aof-load-truncated", "no", "--aof-use-rdb-preamble", "yes")
	if err != nil {
		return err
	}
	s.Redis = addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			break
		}
		if !p.Running() || time.Now().After(deadline) {
			return fmt.Errorf("redis-server did not start:\n%s", p.Tail(2000))
		}
		time.Sleep(30 * time.Millisecond)
	}
	s.logf("redis-server      %s (appendfsync %s, data in %s)", addr, s.opts.Fsync, filepath.Join(s.opts.Dir, "redis"))
	return nil
}

// repairRedis runs aofrepair on the stopped redis-server's AOF, as
// configs/redis.conf asks before every start: with aof-load-truncated no, a
// crash-cut AOF would stop redis-server, and aof-load-truncated yes could
// apply half of a ledger script's block.
func (s *Stack) repairRedis() error {
	return s.repairAOF(filepath.Join(s.opts.Dir, "redis"))
}

// repairAOF runs aofrepair on the AOF of the server whose data is in dir.
func (s *Stack) repairAOF(dir string) error {
	rep, err := aofrepair.Repair(filepath.Join(dir, aofrepair.DirName), aofrepair.Options{})
	if err != nil {
		return fmt.Errorf("redis AOF repair: %w", err)
	}
	if rep.Changed() {
		s.logf("redis AOF repaired before start:\n%s", rep)
	}
	return nil
}

// StartStripe starts stripe-mock and, in this process, the Stripe test
// double in front of it (internal/teststripe): stripe-mock validates every
// request against Stripe's API; the double applies Stripe's test payment
// methods and idempotency keys, which a stateless mock cannot.
func (s *Stack) StartStripe(ctx context.Context) error {
	bin, err := lookPath("stripe-mock")
	if err != nil {
		return err
	}
	mockAddr, err := freeAddr()
	if err != nil {
		return err
	}
	p, err := s.launch("stripe-mock", nil, bin, "-http-addr", mockAddr, "-https-addr", "127.0.0.1:")
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, p, "http://"+mockAddr+"/v1/customers/cus_ready", 20*time.Second); err != nil {
		return err
	}
	s.Stripe, err = teststripe.NewProxy("http://" + mockAddr)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.stripeSrv = &http.Server{Handler: s.Stripe, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.stripeSrv.Serve(ln) }()
	s.StripeURL = "http://" + ln.Addr().String()
	s.logf("stripe-mock       %s, behind the Stripe test double at %s", mockAddr, s.StripeURL)
	return nil
}

func (s *Stack) writeConfig(name, content string) (string, error) {
	path := filepath.Join(s.opts.Dir, "config", name)
	return path, os.WriteFile(path, []byte(content), 0o600)
}

// KeydirOptions are the key directory's EVM settings.
type KeydirOptions struct {
	SettlerAddress, TokenAddress string
	ChainID                      int64
}

// StartKeydir starts the key directory on a free port.
func (s *Stack) StartKeydir(ctx context.Context, o KeydirOptions) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	s.Keydir = "http://" + addr
	cfg := fmt.Sprintf(`listen: %s
public_url: %s
hosted_agents_base: %s
redis: {%s}
ledger: {%s}
allow_http_loopback_agents: true
signups_per_minute: -1
directory_max_age: 30s
stripe: {api_key: %q, api_url: %q}
evm: {settler_address: %q, token_address: %q, chain_id: %d}
facilitator: {enabled: true}
log_level: warn
`, addr, s.Keydir, s.hostedAgentsBase(), s.redisYAML(), s.redisYAML(), teststripe.APIKey, s.StripeURL, o.SettlerAddress, o.TokenAddress, o.ChainID)
	path, err := s.writeConfig("keydirectory.yaml", cfg)
	if err != nil {
		return err
	}
	p, err := s.launch("keydirectory", []string{"PAYCRAWL_ADMIN_TOKEN=" + s.AdminToken}, s.Bin("keydirectory"), "-config", path)
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, p, s.Keydir+"/healthz", 20*time.Second); err != nil {
		return err
	}
	s.logf("keydirectory      %s", s.Keydir)
	return nil
}

// hostedAgentsBase gives each operator its own loopback origin,
// op-<id>.localhost:<keydir port>: names under .localhost are loopback by
// definition, so verifiers reach them without DNS.
func (s *Stack) hostedAgentsBase() string {
	_, port, _ := strings.Cut(strings.TrimPrefix(s.Keydir, "http://"), ":")
	return "http://localhost:" + port
}

// StartOrigin starts a static origin site (loadgen origin).
func (s *Stack) StartOrigin(ctx context.Context, size int) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	p, err := s.launch("origin", nil, s.Bin("loadgen"), "origin", "-listen", addr, "-size", fmt.Sprint(size))
	if err != nil {
		return err
	}
	s.Origin = "http://" + addr
	if err := waitHTTP(ctx, p, s.Origin+"/", 20*time.Second); err != nil {
		return err
	}
	s.logf("origin site       %s", s.Origin)
	return nil
}

// GatewayPublisher is the publisher of the gateway's site.
const GatewayPublisher = "pub_demo_news"

// GatewayHost is the host of the gateway's site: the host its publisher
// holds in the key directory (the only host its agreements may name).
const GatewayHost = "127.0.0.1"

// GatewaySite is the publisher site the stack's gateway serves, in the
// gateway's YAML (sites: list item, indented by four spaces).
const GatewaySite = `  - host: ` + GatewayHost + `
    origin: %s
    publisher: ` + GatewayPublisher + `
    currency: USD
    default_price: "0.01"
    terms_url: http://127.0.0.1/terms
    description: Demo news site
    rules:
      - prefix: /free/
        free: true
      - glob: /premium/*
        price: "0.05"
%s`

// StartGateway starts the gateway in front of the origin. crawlers is
// extra YAML for the site's crawlers: list ("" for none).
func (s *Stack) StartGateway(ctx context.Context, crawlers string) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	admin, err := freeAddr()
	if err != nil {
		return err
	}
	s.Gateway, s.GatewayAdmin = "http://"+addr, "http://"+admin
	if err := s.WriteGatewayConfig(crawlers); err != nil {
		return err
	}
	p, err := s.launch("gateway", nil, s.Bin("gateway"), "-config", s.GatewayConfig, "-log-level", "warn")
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, p, s.GatewayAdmin+"/healthz", 20*time.Second); err != nil {
		return err
	}
	s.logf("gateway           %s (admin %s)", s.Gateway, s.GatewayAdmin)
	return nil
}

// WriteGatewayConfig (re)writes the gateway's configuration; send the
// gateway SIGHUP to reload it.
func (s *Stack) WriteGatewayConfig(crawlers string) error {
	path, err := s.writeConfig("gateway.yaml", s.gatewayConfig(s.Gateway, s.GatewayAdmin, crawlers))
	s.GatewayConfig = path
	return err
}

// StartGatewayReplica starts another gateway, process name, with the same
// sites, keys and ledger as the first (gateways are stateless), and returns
// its proxy URL.
func (s *Stack) StartGatewayReplica(ctx context.Context, name string) (string, error) {
	addr, err := freeAddr()
	if err != nil {
		return "", err
	}
	admin, err := freeAddr()
	if err != nil {
		return "", err
	}
	path, err := s.writeConfig(name+".yaml", s.gatewayConfig("http://"+addr, "http://"+admin, ""))
	if err != nil {
		return "", err
	}
	p, err := s.launch(name, nil, s.Bin("gateway"), "-config", path, "-log-level", "warn")
	if err != nil {
		return "", err
	}
	if err := waitHTTP(ctx, p, "http://"+admin+"/healthz", 20*time.Second); err != nil {
		return "", err
	}
	s.logf("%-17s http://%s (admin http://%s)", name, addr, admin)
	return "http://" + addr, nil
}

// gatewayConfig is a gateway's configuration file listening on the URLs
// proxy and admin.
func (s *Stack) gatewayConfig(proxy, admin, crawlers string) string {
	if crawlers != "" {
		crawlers = "    crawlers:\n" + crawlers
	}
	sum := sha256.Sum256([]byte(s.PublisherToken))
	cfg := fmt.Sprintf(`listen: %s
admin_listen: %s
scheme: http
registration_url: %s/v1/operators
offer_keys: [%q]
ledger: {%s%s}
registry: {%s, public_url: %q, hosted_agents_base: %q, allow_http_loopback: true, cache_ttl: 30s}
ledger_timeout: 1s
origin_timeout: 10s
shutdown_grace: 10s
publishers:
  - id: %s
    token_sha256: %s
sites:
`, strings.TrimPrefix(proxy, "http://"), strings.TrimPrefix(admin, "http://"), s.Keydir, s.OfferKey,
		s.redisYAML(), s.minReplicasYAML(), s.redisYAML(), s.Keydir, s.hostedAgentsBase(), GatewayPublisher, hex.EncodeToString(sum[:]))
	return cfg + fmt.Sprintf(GatewaySite, s.Origin, crawlers)
}

// ReadyzOK reports whether a service's /readyz answers 200.
func ReadyzOK(base string) bool {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(base + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// StartBareProxy starts the benchmark's baseline, a plain reverse proxy in
// front of the origin (loadgen proxy), and returns its URL.
func (s *Stack) StartBareProxy(ctx context.Context) (string, error) {
	addr, err := freeAddr()
	if err != nil {
		return "", err
	}
	p, err := s.launch("bare-proxy", nil, s.Bin("loadgen"), "proxy", "-listen", addr, "-target", s.Origin)
	if err != nil {
		return "", err
	}
	if err := waitHTTP(ctx, p, "http://"+addr+"/", 20*time.Second); err != nil {
		return "", err
	}
	s.logf("bare proxy        http://%s", addr)
	return "http://" + addr, nil
}
