package s3store_test

import (
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/internal/tests3"
	"github.com/paycrawl/paycrawl/pkg/archive/s3store"
	"github.com/paycrawl/paycrawl/pkg/archive/storetest"
)

// TestContract runs the store contract against a real S3-compatible
// server on loopback, under a key prefix.
func TestContract(t *testing.T) {
	srv := tests3.Start(t)
	st, err := s3store.New(s3store.Config{Endpoint: srv.Endpoint, Insecure: true, PathStyle: true,
		Bucket: tests3.Bucket, Prefix: "paycrawl", AccessKey: tests3.AccessKey, SecretKey: tests3.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	storetest.Run(t, st)
}

// TestUnknownAccessKeyIsRefused: the store's requests carry its
// credentials (s3rver checks the access key id; it does not recompute v4
// signatures).
func TestUnknownAccessKeyIsRefused(t *testing.T) {
	srv := tests3.Start(t)
	st, err := s3store.New(s3store.Config{Endpoint: srv.Endpoint, Insecure: true, PathStyle: true,
		Bucket: tests3.Bucket, AccessKey: "NOBODY", SecretKey: tests3.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(t.Context(), "x", strings.NewReader("x"), 1); err == nil {
		t.Fatal("an unknown access key was accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	ok := s3store.Config{Endpoint: "s3.example:9000", Bucket: "b", AccessKey: "a", SecretKey: "s"}
	for name, c := range map[string]s3store.Config{
		"scheme":    {Endpoint: "https://s3.example", Bucket: "b", AccessKey: "a", SecretKey: "s"},
		"no bucket": {Endpoint: "s3.example", AccessKey: "a", SecretKey: "s"},
		"no keys":   {Endpoint: "s3.example", Bucket: "b"},
		"prefix":    {Endpoint: "s3.example", Bucket: "b", AccessKey: "a", SecretKey: "s", Prefix: "../x"},
	} {
		if c.Validate() == nil {
			t.Errorf("%s: validated", name)
		}
	}
	if err := ok.Validate(); err != nil {
		t.Error(err)
	}
}
