package registry

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/paycrawl/paycrawl/pkg/agreement"
)

// The indexes of accepted versions. An acceptance adds "<id>:<n>" to the
// account's, the publisher's and the global index in the script that
// records it (decide_agreement.lua); nothing ever removes a member, since
// an accepted version stays accepted (or superseded) for ever. The member
// indexMarker says an index is complete: an index without it (data stored
// before the indexes existed, or by a key directory that predates them) is
// rebuilt from the versions stored the first time it is read, by adding
// every accepted version found and then the marker. The first offer to an
// account (from a publisher; to anyone) writes the marker of its index
// (of the publisher's; of the global one): there is nothing older to
// rebuild it from. Adding only, the
// rebuild needs no lock: what an acceptance adds meanwhile is added by the
// acceptance itself. Every key directory must run this code before any
// accepts again (an older one records acceptances without indexing them);
// deleting an index makes the next read rebuild it.

// indexMarker is the member that marks an index of accepted versions
// complete; it is never an "<id>:<n>".
const indexMarker = "*"

// rebuildChunk is how many members one SADD of a rebuild adds.
const rebuildChunk = 1000

// AcceptedAgreements returns every version account (an operator id) ever
// accepted, with every publisher: accepted, superseded and ended ones, by
// id then version. It is what decides money (gateways price with it, the
// settler and the finance audit re-derive charges from it): it reads the
// account's index of accepted versions and those versions only, so its
// cost does not depend on how many offers the account was made.
func (s *Store) AcceptedAgreements(ctx context.Context, account string) ([]agreement.Agreement, error) {
	return s.acceptedIn(ctx, opAccKey(account), func(ctx context.Context) ([]string, error) {
		return s.rdb.SMembers(ctx, opAgrsKey(account)).Result()
	})
}

// AcceptedAgreementsOfPublisher returns every version of publisher's
// agreements that was ever accepted, with every account, by id then
// version.
func (s *Store) AcceptedAgreementsOfPublisher(ctx context.Context, publisher string) ([]agreement.Agreement, error) {
	return s.acceptedIn(ctx, pubAccKey(publisher), func(ctx context.Context) ([]string, error) {
		return s.rdb.SMembers(ctx, pubAgrsKey(publisher)).Result()
	})
}

// EachAcceptedAgreement calls fn with every accepted version of every
// agreement, a batch at a time (every accepted version of one id in the
// same batch, ids in order, at most about 1000 versions a batch), and stops
// at fn's first error, which it returns. The settler finds the accounts to
// invoice with it.
func (s *Store) EachAcceptedAgreement(ctx context.Context, fn func([]agreement.Agreement) error) error {
	refs, err := s.acceptedRefs(ctx, allAccKey(), func(ctx context.Context) ([]string, error) {
		return s.rdb.ZRange(ctx, agrsKey(), 0, -1).Result()
	})
	if err != nil {
		return err
	}
	for len(refs) > 0 {
		n := min(len(refs), rebuildChunk)
		for n < len(refs) && refs[n].ID == refs[n-1].ID {
			n++
		}
		batch, err := s.versions(ctx, refs[:n])
		if err != nil {
			return err
		}
		if err := fn(batch); err != nil {
			return err
		}
		refs = refs[n:]
	}
	return nil
}

// acceptedIn reads the accepted versions an index names (see acceptedRefs).
func (s *Store) acceptedIn(ctx context.Context, index string, ids func(context.Context) ([]string, error)) ([]agreement.Agreement, error) {
	refs, err := s.acceptedRefs(ctx, index, ids)
	if err != nil {
		return nil, err
	}
	return s.versions(ctx, refs)
}

// acceptedRefs returns the versions in index, by id then version,
// rebuilding the index from the agreements ids lists when it lacks its
// marker.
func (s *Store) acceptedRefs(ctx context.Context, index string, ids func(context.Context) ([]string, error)) ([]agreement.Ref, error) {
	members, err := s.rdb.SMembers(ctx, index).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	complete := false
	for _, m := range members {
		if m == indexMarker {
			complete = true
			break
		}
	}
	if !complete {
		if members, err = s.rebuildAccepted(ctx, index, ids); err != nil {
			return nil, err
		}
	}
	refs := make([]agreement.Ref, 0, len(members))
	for _, m := range members {
		if ref, ok := parseRef(m); ok {
			refs = append(refs, ref)
		}
	}
	sort.Slice(refs, func(i, j int) bool {
		if refs[i].ID != refs[j].ID {
			return refs[i].ID < refs[j].ID
		}
		return refs[i].Version < refs[j].Version
	})
	return refs, nil
}

// rebuildAccepted completes index from every version of the agreements ids
// lists, and returns its members.
func (s *Store) rebuildAccepted(ctx context.Context, index string, ids func(context.Context) ([]string, error)) ([]string, error) {
	list, err := ids(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	if len(list) == 0 {
		return nil, nil // nothing to index yet; the first offer marks it
	}
	sort.Strings(list)
	var found []any
	for len(list) > 0 {
		n := min(len(list), 100)
		all, err := s.agreements(ctx, list[:n])
		if err != nil {
			return nil, err
		}
		for i := range all {
			if all[i].Accepted() {
				found = append(found, refMember(all[i].ID, all[i].Version))
			}
		}
		list = list[n:]
	}
	for len(found) > 0 {
		n := min(len(found), rebuildChunk)
		if err := s.rdb.SAdd(ctx, index, found[:n]...).Err(); err != nil {
			return nil, unavailable(err)
		}
		found = found[n:]
	}
	if err := s.rdb.SAdd(ctx, index, indexMarker).Err(); err != nil {
		return nil, unavailable(err)
	}
	s.opts.Logger.Info("registry: index of accepted agreement versions rebuilt", "index", index)
	members, err := s.rdb.SMembers(ctx, index).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	return members, nil
}

// versions reads the versions refs name, in their order; missing ones and
// ones not accepted are skipped.
func (s *Store) versions(ctx context.Context, refs []agreement.Ref) ([]agreement.Agreement, error) {
	keys := make([]string, 0, 2*len(refs))
	for _, r := range refs {
		keys = append(keys, agrKey(r.ID), agrVersionKey(r.ID, r.Version))
	}
	hs, err := s.hashes(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make([]agreement.Agreement, 0, len(refs))
	for i, r := range refs {
		head, h := hs[2*i], hs[2*i+1]
		if len(head) == 0 || len(h) == 0 {
			continue
		}
		a, err := agreementFromHash(head, r.Version, h)
		if err != nil {
			return nil, fmt.Errorf("registry: stored %s: %w", agrVersionKey(r.ID, r.Version), err)
		}
		if a.Accepted() {
			out = append(out, a)
		}
	}
	return out, nil
}

func refMember(id string, version int) string { return id + ":" + strconv.Itoa(version) }

// parseRef reads an index member "<id>:<n>".
func parseRef(m string) (agreement.Ref, bool) {
	id, v, ok := strings.Cut(m, ":")
	n, err := strconv.Atoi(v)
	if !ok || err != nil || n < 1 || n > MaxAgreementVersions || !agreement.ValidID(id) {
		return agreement.Ref{}, false
	}
	return agreement.Ref{ID: id, Version: n}, true
}
