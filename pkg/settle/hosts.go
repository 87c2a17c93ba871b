package settle

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

// Host claims (Options.Hosts). The registry refuses to offer, or to accept,
// an agreement whose scope names a host that is not its publisher's; but
// the platform's admin may move or remove a host after an agreement was
// accepted. The crawler then keeps paying a subscription's fee, or buying
// prepaid credit, for a site where no gateway applies the agreement any
// more (a gateway applies only the agreements of the site's own publisher),
// or the publisher keeps collecting for a site that is now another's. The
// settler does not decide that alone, and changes no invoice's lines (they
// stay what the agreements imply, as LinesCheck re-derives them):
//
//   - an invoice with a fee line of such an agreement is held, once, when
//     it is built, with a reason naming the agreement and the host, for
//     finance to credit or void the fee line, or release it (a released
//     invoice is not held again);
//   - no top-up of such an agreement is bought: the run logs it as an
//     error and skips it, and TopUp and OrderTopUp refuse it with
//     ErrHostUnclaimed;
//   - usage lines are left alone: a gateway priced those requests under the
//     agreement because the site was its publisher's.
//
// Invoices already approved, charging or final are never touched.

// HostClaims says which publisher holds each host now (*registry.Store).
type HostClaims interface {
	// HostOwners returns each host's publisher, "" for none.
	HostOwners(ctx context.Context, hosts []string) (map[string]string, error)
}

var _ HostClaims = (*registry.Store)(nil)

// ErrHostUnclaimed reports a top-up of an agreement whose scope names a
// host its publisher no longer holds.
var ErrHostUnclaimed = errors.New("settle: an agreement's host is no longer its publisher's")

// unclaimed returns why v's scope is no longer all its publisher's, "" when
// it is or when the settler checks no host claims.
func (s *Settler) unclaimed(ctx context.Context, v *agreement.Agreement) (string, error) {
	if s.hosts == nil {
		return "", nil
	}
	hosts := make([]string, len(v.Scope))
	for i, site := range v.Scope {
		hosts[i] = site.Host
	}
	owners, err := s.hosts.HostOwners(ctx, hosts)
	if err != nil {
		return "", fmt.Errorf("settle: host claims of %s: %w", v.ID, err)
	}
	for _, h := range hosts {
		switch o := owners[h]; o {
		case v.Publisher:
		case "":
			return fmt.Sprintf("host %s of agreement %s v%d is no longer publisher %s's (no publisher holds it)", h, v.ID, v.Version, v.Publisher), nil
		default:
			return fmt.Sprintf("host %s of agreement %s v%d is no longer publisher %s's (publisher %s holds it)", h, v.ID, v.Version, v.Publisher, o), nil
		}
	}
	return "", nil
}

// checkTopUpHosts refuses a top-up of v whose host claim is gone.
func (s *Settler) checkTopUpHosts(ctx context.Context, v *version) error {
	why, err := s.unclaimed(ctx, v.Agreement)
	if err != nil || why == "" {
		return err
	}
	return fmt.Errorf("%w: %s; no credit is bought for it: finance decides with the operator and the publisher", ErrHostUnclaimed, why)
}

// hostHoldReason starts the reason of a hold for an unclaimed host.
const hostHoldReason = "held: a subscription fee for a host its publisher no longer holds: "

// hostHeld reports whether inv was ever held for an unclaimed host (a hold
// for another reason, released, does not count: finance has not seen the
// host's).
func hostHeld(inv *ledger.Invoice) bool {
	for _, e := range inv.History {
		if e.Kind == "transition" && e.To == ledger.StatusHeld && strings.HasPrefix(e.Reason, hostHoldReason) {
			return true
		}
	}
	return false
}

// holdUnclaimedFees holds each draft among invs, never held before for a
// host, with a fee line of an agreement among agrs whose host claim is
// gone. One held for another reason (a mismatch) is held for its host at
// the first close after its release, before it can be approved.
func (s *Settler) holdUnclaimedFees(ctx context.Context, ss *session, r *accountClose, agrs []agreement.Agreement, invs []*ledger.Invoice) error {
	if s.hosts == nil {
		return nil
	}
	versions := map[agreement.Ref]*agreement.Agreement{}
	for i := range agrs {
		versions[agreement.Ref{ID: agrs[i].ID, Version: agrs[i].Version}] = &agrs[i]
	}
	for _, inv := range invs {
		inv, err := s.l.Invoice(ctx, inv.ID) // checkInvoices may have held it
		if err != nil {
			return err
		}
		if inv.Status != ledger.StatusDraft || hostHeld(inv) {
			continue
		}
		var why string
		for _, l := range inv.Lines {
			v := versions[agreement.Ref{ID: l.AgreementID, Version: int(l.AgreementVersion)}]
			if l.Kind != ledger.LineFee || v == nil {
				continue
			}
			w, err := s.unclaimed(ctx, v)
			if err != nil {
				return err
			}
			if w != "" {
				why = w
				break
			}
		}
		if why == "" {
			continue
		}
		err = s.l.Transition(ctx, inv.ID, ledger.Transition{To: ledger.StatusHeld, Token: ss.token, Actor: s.cfg.Actor,
			Reason: clip(hostHoldReason + why +
				"; finance decides: credit or void the fee line, or release the invoice")})
		if err != nil {
			return err
		}
		r.held++
		s.log.Error("settle: invoice held, it bills a fee for a host its publisher no longer holds; needs finance",
			"invoice", inv.ID, "reason", why)
	}
	return nil
}
