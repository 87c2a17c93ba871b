package finance

import (
	"context"
	"errors"

	"github.com/paycrawl/paycrawl/pkg/registry"
)

// Operators is what the finance interface reads of the operator registry
// (*registry.Store) to show who a crawler account is: the same lookup the
// settler makes to find a payer.
type Operators interface {
	Operator(ctx context.Context, id string) (*registry.Operator, error)
}

var _ Operators = (*registry.Store)(nil)

// operatorInfo is the name and contact of a crawler account.
type operatorInfo struct {
	Name, Contact string
}

// names looks up the operators of accounts, once each. Without a
// registry, or for an account it does not know (or cannot be read now),
// the entry is empty and the id alone is shown: a name is a help to
// people, never a reason to fail a page.
func (s *Server) names(ctx context.Context, accounts []string) map[string]operatorInfo {
	out := make(map[string]operatorInfo, len(accounts))
	for _, a := range accounts {
		if _, ok := out[a]; ok {
			continue
		}
		out[a] = operatorInfo{}
		if s.operators == nil {
			continue
		}
		op, err := s.operators.Operator(ctx, a)
		if err != nil {
			if !errors.Is(err, registry.ErrNotFound) {
				s.log.Warn("finance: operator lookup failed", "account", a, "err", err)
			}
			continue
		}
		out[a] = operatorInfo{Name: op.Name, Contact: op.Contact}
	}
	return out
}
