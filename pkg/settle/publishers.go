package settle

import (
	"context"
	"errors"
	"fmt"

	"github.com/paycrawl/paycrawl/pkg/earnings"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

// Publishers is what the settler needs of the publisher registry
// (*registry.Store).
type Publishers interface {
	Publisher(ctx context.Context, id string) (*registry.Publisher, error)
}

var _ Publishers = (*registry.Store)(nil)

// RegistryFees reads publishers' platform fees from their accounts in the
// registry (registry.Publisher.FeeBPS). A site's publisher without an
// account (the gateway names it, the admin has not created it yet) is
// charged Default, so that its earnings are kept and paid once it has one.
type RegistryFees struct {
	Store Publishers
	// Default is the fee, in basis points, of a publisher without an
	// account.
	Default int64
}

var _ earnings.Fees = RegistryFees{}

// FeeBPS implements earnings.Fees.
func (f RegistryFees) FeeBPS(ctx context.Context, publisher string) (int64, error) {
	p, err := f.Store.Publisher(ctx, publisher)
	if errors.Is(err, registry.ErrNotFound) {
		return f.Default, nil
	}
	if err != nil {
		return 0, fmt.Errorf("settle: publisher %s: %w", publisher, err)
	}
	return p.FeeBPS, nil
}
