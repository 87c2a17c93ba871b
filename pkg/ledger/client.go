package ledger

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClientConfig describes the Redis the ledger runs on. Zero durations take the
// defaults documented on each field; there is no "no timeout".
type ClientConfig struct {
	// Addrs: one host:port for a single server, several (seed nodes) for a
	// cluster. Default 127.0.0.1:6380, the project-local server.
	Addrs []string
	// Cluster forces a cluster client even with a single seed address.
	Cluster bool
	// Username and Password authenticate (ACL); empty for none.
	Username, Password string
	// DB selects a database on a single server.
	DB int
	// DialTimeout bounds connecting. Default 500ms.
	DialTimeout time.Duration
	// ReadTimeout and WriteTimeout bound each socket read and write.
	// Default 1s each.
	ReadTimeout, WriteTimeout time.Duration
	// PoolSize is the number of connections per node. Default go-redis's
	// (10 per GOMAXPROCS).
	PoolSize int
}

// NewClient builds a go-redis client with bounded timeouts, so that a dead
// Redis gives a clear error (ErrUnavailable from the ledger) within about a
// second instead of hanging. Context deadlines apply to socket I/O.
//
// Retries: go-redis resends a command after a network error, even one whose
// reply was lost after Redis applied it. Every ledger write is idempotent by
// an id it checks itself (request id for appends, a per-call transition id for
// invoice changes, invoice id for creation, holder id for locks), so a small
// retry budget is kept (2 retries, short backoff) to ride out a dropped
// connection without double-charging.
func NewClient(cfg ClientConfig) (redis.UniversalClient, error) {
	addrs := cfg.Addrs
	if len(addrs) == 0 {
		addrs = []string{"127.0.0.1:6380"}
	}
	for _, a := range addrs {
		if a == "" {
			return nil, fmt.Errorf("%w: empty redis address", ErrInvalid)
		}
	}
	dial := orDefault(cfg.DialTimeout, 500*time.Millisecond)
	rd := orDefault(cfg.ReadTimeout, time.Second)
	wr := orDefault(cfg.WriteTimeout, time.Second)
	uo := &redis.UniversalOptions{
		Addrs:                 addrs,
		IsClusterMode:         cfg.Cluster,
		Username:              cfg.Username,
		Password:              cfg.Password,
		DB:                    cfg.DB,
		DialTimeout:           dial,
		DialerRetries:         1,
		ReadTimeout:           rd,
		WriteTimeout:          wr,
		PoolTimeout:           rd + wr,
		ContextTimeoutEnabled: true,
		MaxRetries:            2,
		MinRetryBackoff:       8 * time.Millisecond,
		MaxRetryBackoff:       64 * time.Millisecond,
		PoolSize:              cfg.PoolSize,
		Protocol:              2,
	}
	if !cfg.Cluster && len(addrs) == 1 {
		return redis.NewClient(uo.Simple()), nil
	}
	// go-redis refreshes its slot map only on MOVED or every 60s: after a
	// failover it would keep dialling the dead master for up to a minute.
	// A short interval (one CLUSTER SLOTS per interval, only while the
	// client is used) bounds that; the ledger also reloads at once when an
	// append fails on a node (see batcher).
	co := uo.Cluster()
	co.ClusterStateReloadInterval = ClusterReloadInterval
	return redis.NewClusterClient(co), nil
}

// ClusterReloadInterval is how old a cluster client's slot map may get
// before it is read again (ClusterOptions.ClusterStateReloadInterval).
const ClusterReloadInterval = 2 * time.Second

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// RedisConfig is how paycrawl's configuration files name a Redis, with the
// fields every service shares (YAML keys addrs, cluster, username, password,
// db). ClientConfig turns it into NewClient's configuration.
type RedisConfig struct {
	// Addrs: one host:port, or several seed nodes of a cluster.
	Addrs []string `yaml:"addrs"`
	// Cluster forces a cluster client with a single seed.
	Cluster  bool   `yaml:"cluster"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	DB       int    `yaml:"db"`
	// MinReplicas (min_replicas) is read by the services that write the
	// ledger (gateway, settler): how many replicas each append must reach
	// before a page is served, and each settler write before it counts
	// (Options.MinReplicas). Absent:
	// 1 on a cluster, 0 on a single server (Options.MinReplicas); 0 turns the
	// wait off.
	MinReplicas *int `yaml:"min_replicas"`
	// Prefix (prefix) starts the ledger's keys (Options.Prefix; default
	// "pc"). Every service on one ledger must name the same: the gateways
	// that write it, the settler and the key directory that read it. A
	// registry's Redis has no prefix.
	Prefix string `yaml:"prefix"`
}

// KeyPrefix is c.Prefix, or DefaultPrefix.
func (c RedisConfig) KeyPrefix() string {
	if c.Prefix == "" {
		return DefaultPrefix
	}
	return c.Prefix
}

// MinReplicasOption is c.MinReplicas as Options.MinReplicas takes it.
func (c RedisConfig) MinReplicasOption() int {
	switch {
	case c.MinReplicas == nil:
		return 0
	case *c.MinReplicas <= 0:
		return -1
	}
	return *c.MinReplicas
}

// ClientConfig is c with NewClient's default timeouts.
func (c RedisConfig) ClientConfig() ClientConfig {
	return ClientConfig{Addrs: c.Addrs, Cluster: c.Cluster, Username: c.Username, Password: c.Password, DB: c.DB}
}
