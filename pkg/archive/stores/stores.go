// Package stores opens the archive store a configuration names: a local
// directory (localstore) or an S3-compatible bucket (s3store). The
// settler, which writes the archive, and the key directory, which serves
// archived days to crawlers, share it.
package stores

import (
	"context"
	"errors"
	"fmt"

	"github.com/paycrawl/paycrawl/pkg/archive"
	"github.com/paycrawl/paycrawl/pkg/archive/localstore"
	"github.com/paycrawl/paycrawl/pkg/archive/s3store"
)

// Kinds of store.
const (
	// KindNone: no cold tier; streams stay in Redis until retention.
	KindNone = ""
	// KindLocal is a directory (Config.Dir).
	KindLocal = "local"
	// KindS3 is a bucket of an S3-compatible object store (Config.S3).
	KindS3 = "s3"
)

// Environment variables that override the S3 credentials of a file.
const (
	EnvS3AccessKey = "PAYCRAWL_ARCHIVE_S3_ACCESS_KEY"
	EnvS3SecretKey = "PAYCRAWL_ARCHIVE_S3_SECRET_KEY"
)

// Config says where the archive lives. The zero value is no archive.
type Config struct {
	// Store is "" (none), "local" or "s3".
	Store string `yaml:"store"`
	// Dir is the local store's directory.
	Dir string `yaml:"dir"`
	// S3 is the S3 store's endpoint, bucket and credentials.
	S3 s3store.Config `yaml:"s3"`
	// TempDir holds a segment while the settler writes it; "" is the
	// system's temporary directory.
	TempDir string `yaml:"temp_dir"`
}

// Enabled reports whether an archive is configured.
func (c Config) Enabled() bool { return c.Store != KindNone }

// FromEnv sets the S3 credentials from getenv where it has them.
func (c *Config) FromEnv(getenv func(string) string) {
	if v := getenv(EnvS3AccessKey); v != "" {
		c.S3.AccessKey = v
	}
	if v := getenv(EnvS3SecretKey); v != "" {
		c.S3.SecretKey = v
	}
}

// Validate reports what is wrong with the configuration.
func (c Config) Validate() error {
	switch c.Store {
	case KindNone:
		return nil
	case KindLocal:
		if c.Dir == "" {
			return errors.New("archive: store local needs a dir")
		}
		return nil
	case KindS3:
		return c.S3.Validate()
	}
	return fmt.Errorf("archive: store %q: want local, s3 or nothing", c.Store)
}

// Open returns the configured store, nil for none. An S3 store is checked
// (its bucket must exist and the credentials reach it).
func Open(ctx context.Context, c Config) (archive.Store, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	switch c.Store {
	case KindLocal:
		return localstore.Open(c.Dir)
	case KindS3:
		st, err := s3store.New(c.S3)
		if err != nil {
			return nil, err
		}
		if err := st.Check(ctx); err != nil {
			return nil, err
		}
		return st, nil
	}
	return nil, nil
}
