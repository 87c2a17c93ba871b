package stripecust

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/internal/teststripe"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

func TestCustomersAgainstStripeMock(t *testing.T) {
	ctx := context.Background()
	c, err := New(Config{APIKey: teststripe.APIKey, BaseURL: teststripe.Start(t)})
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.CreateCustomer(ctx, registry.Operator{ID: "op_abcdefghijklmnop", Name: "Example", Contact: "Ops <ops@crawler.example>"})
	if err != nil || !strings.HasPrefix(id, "cus_") {
		t.Fatalf("CreateCustomer = %q, %v", id, err)
	}
	// stripe-mock answers any customer with a fixture that has no metadata:
	// an untagged customer.
	owner, err := c.CustomerOwner(ctx, "cus_somebodyelse")
	if err != nil || owner != "" {
		t.Fatalf("CustomerOwner = %q, %v", owner, err)
	}
}

func TestProviderFailureIsReported(t *testing.T) {
	// Nothing listens on port 1: the failure must come back as
	// ErrBillingProvider, not as a refusal of the operator's input.
	c, err := New(Config{APIKey: teststripe.APIKey, BaseURL: "http://127.0.0.1:1", MaxNetworkRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateCustomer(context.Background(), registry.Operator{ID: "op_abcdefghijklmnop", Name: "x", Contact: "y"})
	if !errors.Is(err, registry.ErrBillingProvider) {
		t.Fatalf("error = %v, want ErrBillingProvider", err)
	}
	if _, err := New(Config{}); err == nil {
		t.Fatal("a config without API key was accepted")
	}
}
