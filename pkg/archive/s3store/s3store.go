// Package s3store is an archive.Store on any S3-compatible object store,
// through github.com/minio/minio-go/v7. A PUT is atomic (readers see the
// old object or the new one) and durable once the server answered it; the
// client sends each object's MD5 so that the server refuses a body damaged
// in transit.
package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/paycrawl/paycrawl/pkg/archive"
)

// Config says where the archive lives.
type Config struct {
	// Endpoint is the server's host[:port], without a scheme.
	Endpoint string `yaml:"endpoint"`
	// Insecure uses plain HTTP (a loopback test server); default HTTPS.
	Insecure bool `yaml:"insecure"`
	// Region; "" lets the client ask the server.
	Region string `yaml:"region"`
	// Bucket is required and must exist; Prefix, if set, starts every
	// object's key (e.g. "paycrawl/").
	Bucket string `yaml:"bucket"`
	Prefix string `yaml:"prefix"`
	// AccessKey and SecretKey are the credentials (in configuration files,
	// better from the environment: see package stores).
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key"`
	// PathStyle addresses the bucket in the path (http://host/bucket/key)
	// rather than the host name; most self-hosted servers want it.
	PathStyle bool `yaml:"path_style"`
}

// Validate reports what is missing.
func (c Config) Validate() error {
	var errs []error
	if c.Endpoint == "" || strings.Contains(c.Endpoint, "://") || strings.Contains(c.Endpoint, "/") {
		errs = append(errs, fmt.Errorf("s3store: endpoint %q: want host[:port] without a scheme", c.Endpoint))
	}
	if c.Bucket == "" {
		errs = append(errs, errors.New("s3store: a bucket is required"))
	}
	if c.AccessKey == "" || c.SecretKey == "" {
		errs = append(errs, errors.New("s3store: an access key and a secret key are required"))
	}
	if c.Prefix != "" && archive.ValidName(strings.TrimSuffix(c.Prefix, "/")) != nil {
		errs = append(errs, fmt.Errorf("s3store: prefix %q is not a valid object name", c.Prefix))
	}
	return errors.Join(errs...)
}

// Store is a bucket (and prefix) of archive objects. Build it with New.
type Store struct {
	c      *minio.Client
	bucket string
	prefix string
}

var _ archive.Store = (*Store)(nil)

// New returns the store of cfg. It does not contact the server; Check
// does.
func New(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       !cfg.Insecure,
		Region:       cfg.Region,
		BucketLookup: lookup,
	})
	if err != nil {
		return nil, fmt.Errorf("s3store: %w", err)
	}
	p := cfg.Prefix
	if p != "" && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return &Store{c: c, bucket: cfg.Bucket, prefix: p}, nil
}

// Check reports whether the bucket exists and the credentials reach it.
func (s *Store) Check(ctx context.Context) error {
	ok, err := s.c.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("s3store: bucket %s: %w", s.bucket, err)
	}
	if !ok {
		return fmt.Errorf("s3store: bucket %s does not exist", s.bucket)
	}
	return nil
}

func (s *Store) key(name string) (string, error) {
	if err := archive.ValidName(name); err != nil {
		return "", err
	}
	return s.prefix + name, nil
}

// Put uploads the object in one PUT (multipart above minio-go's part
// size), with its MD5.
func (s *Store) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	k, err := s.key(name)
	if err != nil {
		return err
	}
	_, err = s.c.PutObject(ctx, s.bucket, k, &exactReader{r: r, left: size}, size, minio.PutObjectOptions{
		ContentType: contentType(name), SendContentMd5: true,
		// Not the aws-chunked streaming signature, which not every
		// S3-compatible server decodes: the MD5 protects the body.
		DisableContentSha256: true,
	})
	if err != nil {
		return fmt.Errorf("s3store: put %s: %w", name, err)
	}
	return nil
}

// exactReader fails a body that ends before its announced size, so that a
// short reader aborts the upload instead of storing a short object.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

func contentType(name string) string {
	switch {
	case strings.HasSuffix(name, ".json"):
		return "application/json"
	case strings.HasSuffix(name, ".zst"):
		return "application/zstd"
	}
	return "application/octet-stream"
}

// Get opens the object; a missing key wraps archive.ErrNotFound.
func (s *Store) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	k, err := s.key(name)
	if err != nil {
		return nil, err
	}
	obj, err := s.c.GetObject(ctx, s.bucket, k, minio.GetObjectOptions{})
	if err == nil {
		_, err = obj.Stat()
	}
	if err != nil {
		if obj != nil {
			obj.Close()
		}
		if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
			return nil, fmt.Errorf("%w: %s", archive.ErrNotFound, name)
		}
		return nil, fmt.Errorf("s3store: get %s: %w", name, err)
	}
	return obj, nil
}

// List lists the keys under the prefix, sorted.
func (s *Store) List(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("s3store: list %s: %w", prefix, o.Err)
		}
		name := strings.TrimPrefix(o.Key, s.prefix)
		if archive.ValidName(name) == nil {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}
