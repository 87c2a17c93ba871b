package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/botauth"
	"github.com/redis/go-redis/v9"
)

// Agreements between publishers and crawler operators (pkg/agreement) are
// stored by id and version. A version's content (parties, scope, validity,
// terms) is written once, when it is offered, and never again; only its
// state fields change as it is decided. A new version of an id is a new
// record that supersedes the accepted one from its own start.
//
//	pc:reg:{reg}:agr:<id>                     hash   id, publisher, account, latest, accepted (version, 0 for none), created
//	pc:reg:{reg}:agr:<id>:v:<n>               hash   content (JSON, written once; dropped when declined or withdrawn), content_sha256,
//	                                                 state, offered_at, decided_at, acceptance (JSON)
//	pc:reg:{reg}:agrs                         zset   agreement ids, scored by creation (ms)
//	pc:reg:{reg}:agrs:accepted                set    every accepted version, "<id>:<n>", and the marker "*"
//	pc:reg:{reg}:op:<op id>:agrs              set    agreement ids of an account
//	pc:reg:{reg}:op:<op id>:agrs:accepted     set    accepted versions of an account, "<id>:<n>", and "*"
//	pc:reg:{reg}:op:<op id>:agrs:gen          string bumped by every acceptance of the account
//	pc:reg:{reg}:pub:<publisher id>:agrs      set    agreement ids of a publisher
//	pc:reg:{reg}:pub:<publisher id>:agrs:accepted set accepted versions of a publisher, "<id>:<n>", and "*"
//	pc:reg:{reg}:pub:<publisher id>:agrs:<op> set    agreement ids of one publisher with one account
//
// Rules the store adds to the model's (decided here, where the shared
// design is silent):
//   - One agreement id binds one publisher and one account: a new version
//     may change scope, validity and terms, never the parties.
//   - Only the latest version can be decided; offering version n+1 withdraws
//     version n if it is still offered. An accepted version stays in force
//     until the next version is accepted and starts (declining version n+1
//     leaves version n in force).
//   - To end an accepted agreement early, the publisher offers a new version
//     with an earlier valid_until and the operator accepts it; nobody ends
//     an agreement alone: it is a contract.
//   - An offer must still be valid when made and when accepted (valid_until
//     after now), and its acceptance is checked for overlap with every other
//     accepted agreement of the pair (agreement.CheckOverlap) atomically
//     with the write.
//   - A publisher holds at most MaxAgreementsPerPair agreement ids with one
//     account, and an agreement at most MaxAgreementVersions versions.
//   - A publisher has at most MaxPendingOffers offers pending with one
//     account (latest versions still offered, neither accepted, declined
//     nor withdrawn); another is refused with ErrTooManyOffers until the
//     account decides one or the publisher withdraws one. A new version of
//     an agreement takes the place of its pending previous version, which
//     it withdraws. An offer whose validity has ended stays pending (it can
//     no longer be accepted) until withdrawn or declined.
//   - A version declined or withdrawn (by hand, or by the offer of the next
//     version) was never in force: the store drops its content and keeps
//     its parties, state, times and content_sha256 (the SHA-256 of its
//     canonical bytes, agreement.Agreement.ContentDigest), so that what a
//     pair of publisher and account stores is bounded by the versions of
//     MaxAgreementsPerPair agreements of a few hundred bytes each, and at
//     most MaxPendingOffers full contents besides the accepted ones.
//     Accepted versions keep their content for ever: the settler and the
//     finance audit re-derive charges from them.
//   - What decides money reads accepted versions only, from an index per
//     account (AcceptedAgreements; per publisher and in all, likewise)
//     that acceptances maintain in the same script that records them, so
//     that its cost depends on what the account accepted, never on what it
//     was offered. Offers are listed apart (Offers), paged.
//   - Only acceptances change what is in force, so only they publish
//     "agreements <account>" on InvalidateChannel (gateways drop their copy
//     of the account's agreements); an offer, a decline or a withdrawal
//     publishes nothing and leaves every gateway's cache alone. The end of
//     an accepted version's validity needs no message: the windows it is
//     in force in are part of what the gateways cache.

// Limits of the agreement store.
const (
	// MaxAgreementsPerPair is the most agreement ids one publisher may hold
	// with one account.
	MaxAgreementsPerPair = 64
	// MaxAgreementVersions is the most versions of one agreement.
	MaxAgreementVersions = 1000
	// MaxPendingOffers is the most offers one publisher may have pending
	// with one account.
	MaxPendingOffers = 8
)

func agrKey(id string) string { return keyPrefix + "agr:" + id }
func agrVersionKey(id string, n int) string {
	return keyPrefix + "agr:" + id + ":v:" + strconv.Itoa(n)
}
func agrsKey() string                   { return keyPrefix + "agrs" }
func opAgrsKey(op string) string        { return keyPrefix + "op:" + op + ":agrs" }
func opAgrsGenKey(op string) string     { return keyPrefix + "op:" + op + ":agrs:gen" }
func pubAgrsKey(pub string) string      { return keyPrefix + "pub:" + pub + ":agrs" }
func pairAgrsKey(pub, op string) string { return keyPrefix + "pub:" + pub + ":agrs:" + op }
func allAccKey() string                 { return keyPrefix + "agrs:accepted" }
func opAccKey(op string) string         { return keyPrefix + "op:" + op + ":agrs:accepted" }
func pubAccKey(pub string) string       { return keyPrefix + "pub:" + pub + ":agrs:accepted" }

// OfferAgreement stores publisher's offer a and returns it as stored. With
// a.ID empty it is version 1 of a new agreement (its id drawn here); with
// a.ID set it is the next version of that agreement, which must be
// publisher's and name the same account. a.Version, the state fields and
// a.Publisher are set here (a.Publisher, when given, must be publisher).
// Errors wrap agreement.ErrInvalid (content, or an offer already expired),
// agreement.ErrOverlap (it would overlap an accepted agreement of the pair),
// ErrForbidden (another publisher's agreement, or another account than the
// agreement's; with ErrHostNotYours, a scope host that is not publisher's,
// hosts.go), ErrNotFound (unknown account, publisher or agreement),
// ErrTooManyOffers (MaxPendingOffers pending with the account), ErrLimit or
// ErrUnavailable. An offer changes nothing in force and publishes no
// invalidation.
func (s *Store) OfferAgreement(ctx context.Context, publisher string, a agreement.Agreement) (*agreement.Agreement, error) {
	if a.Publisher != "" && a.Publisher != publisher {
		return nil, fmt.Errorf("%w: a publisher offers agreements for itself only (%s), not for %s", ErrForbidden, publisher, truncate(a.Publisher, 64))
	}
	if !ValidOperatorID(a.Account) {
		return nil, fmt.Errorf("%w: account %q is not an operator id", agreement.ErrInvalid, truncate(a.Account, 64))
	}
	a.Publisher = publisher
	a.State, a.OfferedAt, a.DecidedAt, a.Acceptance = "", time.Time{}, time.Time{}, nil
	a.ContentSHA256, a.ContentDropped = "", false
	newID := a.ID == ""
	for attempt := 0; attempt < 5; attempt++ {
		now := s.opts.Now().UTC().Truncate(time.Second)
		if newID {
			id, err := agreement.NewID(s.opts.Rand)
			if err != nil {
				return nil, err
			}
			a.ID, a.Version = id, 1
		} else {
			if !agreement.ValidID(a.ID) {
				return nil, fmt.Errorf("%w: agreement %q", ErrNotFound, truncate(a.ID, 64))
			}
			head, err := s.rdb.HMGet(ctx, agrKey(a.ID), "latest").Result()
			if err != nil {
				return nil, unavailable(err)
			}
			latest, _ := head[0].(string)
			if latest == "" {
				return nil, fmt.Errorf("%w: agreement %s", ErrNotFound, a.ID)
			}
			n, _ := strconv.Atoi(latest)
			a.Version = n + 1
		}
		v, err := a.Validate()
		if err != nil {
			return nil, err
		}
		if err := s.checkOfferHosts(ctx, publisher, v.Scope); err != nil {
			return nil, err
		}
		if !v.ValidUntil.IsZero() && !v.ValidUntil.After(now) {
			return nil, fmt.Errorf("%w: valid_until %s has passed; offer a validity that has not ended", agreement.ErrInvalid, v.ValidUntil.Format(time.RFC3339))
		}
		existing, err := s.AcceptedAgreements(ctx, v.Account)
		if err != nil {
			return nil, err
		}
		if err := agreement.CheckOverlap(v, existing); err != nil {
			return nil, err
		}
		content, err := contentJSON(v)
		if err != nil {
			return nil, err
		}
		pair, err := s.pairLatest(ctx, publisher, v.Account)
		if err != nil {
			return nil, err
		}
		keys := []string{agrKey(v.ID), agrVersionKey(v.ID, v.Version), agrVersionKey(v.ID, v.Version-1), agrsKey(),
			opAgrsKey(v.Account), pubAgrsKey(publisher), pairAgrsKey(publisher, v.Account), opKey(v.Account), pubKey(publisher),
			opAccKey(v.Account), pubAccKey(publisher), allAccKey()}
		args := []any{v.ID, v.Version, publisher, v.Account, content, ms(now),
			MaxAgreementsPerPair, MaxAgreementVersions, v.ContentDigest(), MaxPendingOffers, len(pair)}
		for _, p := range pair {
			keys = append(keys, agrKey(p.id), agrVersionKey(p.id, p.latest))
			args = append(args, p.id, p.latest)
		}
		res, err := offerAgreementScript.Run(ctx, s.rdb, keys, args...).Text()
		if err != nil {
			return nil, unavailable(err)
		}
		switch res {
		case "ok":
			return s.AgreementVersion(ctx, v.ID, v.Version)
		case "exists":
			continue // a random id collided: draw again
		case "stale":
			continue // another version was offered meanwhile
		case "noaccount":
			return nil, fmt.Errorf("%w: account %s", ErrNotFound, v.Account)
		case "nopublisher":
			return nil, fmt.Errorf("%w: publisher %s", ErrNotFound, publisher)
		case "notfound":
			return nil, fmt.Errorf("%w: agreement %s", ErrNotFound, v.ID)
		case "forbidden":
			return nil, fmt.Errorf("%w: agreement %s is another publisher's", ErrForbidden, v.ID)
		case "account":
			return nil, fmt.Errorf("%w: agreement %s is with another account than %s; offer a new agreement instead", ErrForbidden, v.ID, v.Account)
		case "limit":
			return nil, fmt.Errorf("%w: %s already holds %d agreements with %s", ErrLimit, publisher, MaxAgreementsPerPair, v.Account)
		case "versions":
			return nil, fmt.Errorf("%w: agreement %s has %d versions; offer a new agreement", ErrLimit, v.ID, MaxAgreementVersions)
		case "pending":
			return nil, fmt.Errorf("%w: %s already has %d offers pending with %s; withdraw one, or wait until %s decides one",
				ErrTooManyOffers, publisher, MaxPendingOffers, v.Account, v.Account)
		default:
			return nil, fmt.Errorf("registry: offer_agreement answered %q", res)
		}
	}
	return nil, fmt.Errorf("%w: agreement %s kept changing; try again", ErrUnavailable, a.ID)
}

// AcceptAgreement records account's acceptance of version of agreement id,
// signed by one of its registered keys over the version's canonical bytes
// (agreement.AcceptanceMessage). Errors wrap agreement.ErrBadAcceptance (a
// signature that does not verify over this version for this account, or
// a key that is not the account's), agreement.ErrAcceptanceStale (signed
// outside agreement.AcceptanceWindow of now), ErrKeyUnusable (a revoked or
// expired key of the account), agreement.ErrInvalid (an offer whose
// validity has ended), agreement.ErrOverlap, ErrAgreementState (not the
// latest version, or no longer offered: accepted, declined, withdrawn; a
// replayed acceptance lands here), ErrForbidden (another account's
// agreement), ErrHostMoved (a scope host its publisher no longer holds),
// ErrSuspended, ErrNotFound or ErrUnavailable. The acceptance joins the
// indexes of accepted versions in the script that records it, and
// "agreements <account>" is published: gateways re-read the account's
// agreements at once.
func (s *Store) AcceptAgreement(ctx context.Context, account, id string, version int, acc agreement.Acceptance) (*agreement.Agreement, error) {
	for attempt := 0; attempt < 5; attempt++ {
		gen, err := s.rdb.Get(ctx, opAgrsGenKey(account)).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, unavailable(err)
		}
		if gen == "" {
			gen = "0"
		}
		v, head, err := s.latestVersion(ctx, id)
		if err != nil {
			return nil, err
		}
		if v.Account != account {
			return nil, fmt.Errorf("%w: agreement %s is another account's", ErrForbidden, id)
		}
		if v.Version != version {
			return nil, fmt.Errorf("%w: version %d of %s is not its latest (%d); review and accept the latest", ErrAgreementState, version, id, v.Version)
		}
		if v.State != agreement.StateOffered {
			return nil, fmt.Errorf("%w: version %d of %s is %s, not offered", ErrAgreementState, version, id, v.State)
		}
		now := s.opts.Now().UTC()
		if err := s.verifyAcceptance(ctx, v, acc, now); err != nil {
			return nil, err
		}
		if !v.ValidUntil.IsZero() && !v.ValidUntil.After(now) {
			return nil, fmt.Errorf("%w: version %d of %s ended at %s; ask the publisher for a new offer", agreement.ErrInvalid, version, id, v.ValidUntil.Format(time.RFC3339))
		}
		if err := s.checkAcceptHosts(ctx, v); err != nil {
			return nil, err
		}
		decided := acceptedAt(now)
		cand := *v
		cand.State, cand.DecidedAt = agreement.StateAccepted, decided
		cand.Acceptance = &agreement.Acceptance{KeyID: acc.KeyID, SignedAt: acc.SignedAt.UTC().Truncate(time.Second), Signature: acc.Signature}
		existing, err := s.AcceptedAgreements(ctx, account)
		if err != nil {
			return nil, err
		}
		if err := agreement.CheckOverlap(cand, existing); err != nil {
			return nil, err
		}
		prev, _ := strconv.Atoi(head["accepted"])
		accJSON, err := json.Marshal(cand.Acceptance.JSON())
		if err != nil {
			return nil, err
		}
		res, err := s.decide(ctx, "accept", id, version, account, prev, string(accJSON), gen, decided)
		if err != nil {
			return nil, err
		}
		if res == "stale" {
			continue
		}
		if err := decideResult(res, id, version); err != nil {
			return nil, err
		}
		s.publish(ctx, "agreements", account)
		return s.AgreementVersion(ctx, id, version)
	}
	return nil, fmt.Errorf("%w: the agreements of %s kept changing; try again", ErrUnavailable, account)
}

// acceptedAt is the DecidedAt an acceptance at now records: now rounded UP
// to the whole second. A version comes into force at the later of its
// ValidFrom and its DecidedAt (agreement.Agreement.Start), and agreement
// times are whole seconds (their JSON has no fraction). Rounded down, a
// version accepted at 12:00:00.9 would look in force from 12:00:00.0,
// while gateways priced the requests of 12:00:00.0-.9 under the previous
// version (they cannot know of one not yet recorded); rounded up, its
// record never starts before the acceptance existed.
func acceptedAt(now time.Time) time.Time {
	t := now.UTC().Truncate(time.Second)
	if t.Before(now) {
		t = t.Add(time.Second)
	}
	return t
}

// verifyAcceptance checks acc's key (one of v.Account's, usable now) and
// signature over v.
func (s *Store) verifyAcceptance(ctx context.Context, v *agreement.Agreement, acc agreement.Acceptance, now time.Time) error {
	k, err := s.Key(ctx, acc.KeyID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if err != nil || k.Operator != v.Account {
		return fmt.Errorf("%w: key %s is not a registered key of %s; sign with one of its own keys", agreement.ErrBadAcceptance, truncate(acc.KeyID, 64), v.Account)
	}
	if !k.Usable(now) {
		return fmt.Errorf("%w: key %s is %s; sign with an active key", ErrKeyUnusable, k.ID, k.Status)
	}
	key, err := botauth.ParseKey(k.JWK)
	if err != nil {
		return fmt.Errorf("registry: stored key %s: %w", k.ID, err)
	}
	return agreement.VerifyAcceptance(v, acc, key.Public, now)
}

// DeclineAgreement records account's refusal of the latest version of
// agreement id, still offered; the version's content is dropped (see the
// store's rules above). Errors as AcceptAgreement's, without the
// signature's. Nothing in force changes: no invalidation is published.
func (s *Store) DeclineAgreement(ctx context.Context, account, id string, version int) (*agreement.Agreement, error) {
	return s.decideSimple(ctx, "decline", account, id, version)
}

// WithdrawAgreement withdraws publisher's offer of the latest version of
// agreement id, still offered (accepted versions are never withdrawn: offer
// a new version to change or end them); the version's content is dropped.
// Errors wrap ErrForbidden (another publisher's agreement),
// ErrAgreementState, ErrNotFound or ErrUnavailable. Nothing in force
// changes: no invalidation is published.
func (s *Store) WithdrawAgreement(ctx context.Context, publisher, id string, version int) (*agreement.Agreement, error) {
	return s.decideSimple(ctx, "withdraw", publisher, id, version)
}

func (s *Store) decideSimple(ctx context.Context, action, who, id string, version int) (*agreement.Agreement, error) {
	res, err := s.decide(ctx, action, id, version, who, 0, "", "", s.opts.Now().UTC().Truncate(time.Second))
	if err != nil {
		return nil, err
	}
	if err := decideResult(res, id, version); err != nil {
		return nil, err
	}
	return s.AgreementVersion(ctx, id, version)
}

func (s *Store) decide(ctx context.Context, action, id string, version int, who string, prev int, accJSON, gen string, now time.Time) (string, error) {
	if !agreement.ValidID(id) {
		return "notfound", nil
	}
	head, err := s.rdb.HMGet(ctx, agrKey(id), "publisher", "account").Result()
	if err != nil {
		return "", unavailable(err)
	}
	publisher, _ := head[0].(string)
	account, _ := head[1].(string)
	if publisher == "" || account == "" {
		return "notfound", nil
	}
	keys := []string{agrKey(id), agrVersionKey(id, version), agrVersionKey(id, prev), opAgrsGenKey(account), opKey(account),
		opAccKey(account), pubAccKey(publisher), allAccKey()}
	res, err := decideAgreementScript.Run(ctx, s.rdb, keys, action, version, who, ms(now), accJSON, gen, strconv.Itoa(prev), id).Text()
	if err != nil {
		return "", unavailable(err)
	}
	return res, nil
}

func decideResult(res, id string, version int) error {
	switch {
	case res == "ok":
		return nil
	case res == "notfound":
		return fmt.Errorf("%w: agreement %s", ErrNotFound, id)
	case res == "forbidden":
		return fmt.Errorf("%w: agreement %s is not yours", ErrForbidden, id)
	case res == "notlatest":
		return fmt.Errorf("%w: version %d of %s is not its latest", ErrAgreementState, version, id)
	case strings.HasPrefix(res, "state:"):
		return fmt.Errorf("%w: version %d of %s is %s, not offered", ErrAgreementState, version, id, strings.TrimPrefix(res, "state:"))
	case res == "suspended":
		return fmt.Errorf("%w: a suspended account accepts no agreement", ErrSuspended)
	}
	return fmt.Errorf("registry: decide_agreement answered %q", res)
}

// Agreement returns every version of agreement id, oldest first (declined
// and withdrawn ones with their content dropped, see
// agreement.Agreement.ContentDropped); an unknown id wraps ErrNotFound.
func (s *Store) Agreement(ctx context.Context, id string) ([]agreement.Agreement, error) {
	all, err := s.agreements(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("%w: agreement %s", ErrNotFound, truncate(id, 64))
	}
	return all, nil
}

// AgreementVersion returns one version of agreement id; unknown wraps
// ErrNotFound. It reads that version only.
func (s *Store) AgreementVersion(ctx context.Context, id string, version int) (*agreement.Agreement, error) {
	if !agreement.ValidID(id) || version < 1 || version > MaxAgreementVersions {
		return nil, fmt.Errorf("%w: version %d of agreement %s", ErrNotFound, version, truncate(id, 64))
	}
	hs, err := s.hashes(ctx, []string{agrKey(id), agrVersionKey(id, version)})
	if err != nil {
		return nil, err
	}
	if len(hs[0]) == 0 || len(hs[1]) == 0 {
		return nil, fmt.Errorf("%w: version %d of agreement %s", ErrNotFound, version, id)
	}
	a, err := agreementFromHash(hs[0], version, hs[1])
	if err != nil {
		return nil, fmt.Errorf("registry: stored %s: %w", agrVersionKey(id, version), err)
	}
	return &a, nil
}

// latestVersion returns the latest version of agreement id and its head.
func (s *Store) latestVersion(ctx context.Context, id string) (*agreement.Agreement, map[string]string, error) {
	if !agreement.ValidID(id) {
		return nil, nil, fmt.Errorf("%w: agreement %s", ErrNotFound, truncate(id, 64))
	}
	head, err := s.rdb.HGetAll(ctx, agrKey(id)).Result()
	if err != nil {
		return nil, nil, unavailable(err)
	}
	n, _ := strconv.Atoi(head["latest"])
	if n < 1 {
		return nil, nil, fmt.Errorf("%w: agreement %s", ErrNotFound, id)
	}
	v, err := s.AgreementVersion(ctx, id, n)
	return v, head, err
}

// ListAgreements returns every version of the agreements in creation order
// from offset (0 to MaxListOffset), at most limit (1 to 1000) agreements,
// and the total number of agreements: the finance view. It reads every
// version of the agreements of its page; what decides money reads
// AcceptedAgreements instead.
func (s *Store) ListAgreements(ctx context.Context, offset, limit int) ([]agreement.Agreement, int64, error) {
	if offset < 0 || offset > MaxListOffset || limit < 1 || limit > 1000 {
		return nil, 0, fmt.Errorf("%w: offset must be in [0, %d] and limit in [1, 1000]", ErrInvalid, MaxListOffset)
	}
	total, err := s.rdb.ZCard(ctx, agrsKey()).Result()
	if err != nil {
		return nil, 0, unavailable(err)
	}
	ids, err := s.rdb.ZRange(ctx, agrsKey(), int64(offset), int64(offset+limit-1)).Result()
	if err != nil {
		return nil, 0, unavailable(err)
	}
	out, err := s.agreements(ctx, ids)
	return out, total, err
}

// AgreementsInForce returns the versions of account's agreements that are
// in force at or after at: accepted (or superseded) versions whose window
// (agreement.Windows) has not ended by at. It reads the account's accepted
// versions only (AcceptedAgreements), and every acceptance is announced
// as "agreements <account>" on InvalidateChannel.
func (s *Store) AgreementsInForce(ctx context.Context, account string, at time.Time) ([]agreement.Agreement, error) {
	all, err := s.AcceptedAgreements(ctx, account)
	if err != nil {
		return nil, err
	}
	windows := agreement.Windows(all)
	var out []agreement.Agreement
	for _, v := range all {
		w, ok := windows[agreement.Ref{ID: v.ID, Version: v.Version}]
		if ok && !w.Empty() && (w.Until.IsZero() || w.Until.After(at)) {
			out = append(out, v)
		}
	}
	return out, nil
}

// agreementHeads returns the valid agreement ids among ids, in their
// order, and the keys of their heads.
func agreementHeads(ids []string) (valid, heads []string) {
	for _, id := range ids {
		if agreement.ValidID(id) {
			valid = append(valid, id)
			heads = append(heads, agrKey(id))
		}
	}
	return valid, heads
}

// agreements reads every version of each id, in the order of ids, versions
// oldest first; unknown ids are skipped.
func (s *Store) agreements(ctx context.Context, ids []string) ([]agreement.Agreement, error) {
	valid, heads := agreementHeads(ids)
	hs, err := s.hashes(ctx, heads)
	if err != nil {
		return nil, err
	}
	var keys []string
	var headOf []map[string]string
	var nums []int
	for i, h := range hs {
		n, _ := strconv.Atoi(h["latest"])
		for v := 1; v <= n && v <= MaxAgreementVersions; v++ {
			keys = append(keys, agrVersionKey(valid[i], v))
			headOf, nums = append(headOf, h), append(nums, v)
		}
	}
	vs, err := s.hashes(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make([]agreement.Agreement, 0, len(vs))
	for i, h := range vs {
		if len(h) == 0 {
			continue
		}
		a, err := agreementFromHash(headOf[i], nums[i], h)
		if err != nil {
			return nil, fmt.Errorf("registry: stored %s: %w", keys[i], err)
		}
		out = append(out, a)
	}
	return out, nil
}

// contentJSON is the stored content of a version: its JSON without the
// state fields.
func contentJSON(a agreement.Agreement) (string, error) {
	a.State, a.OfferedAt, a.DecidedAt, a.Acceptance = "", time.Time{}, time.Time{}, nil
	a.ContentSHA256, a.ContentDropped = "", false
	b, err := json.Marshal(a)
	return string(b), err
}

// agreementFromHash builds version n of the agreement whose head is head
// from its hash h. A version without content (dropped) has the head's
// parties and h's state, times and digest only.
func agreementFromHash(head map[string]string, n int, h map[string]string) (agreement.Agreement, error) {
	var a agreement.Agreement
	if raw, ok := h["content"]; ok {
		if err := json.Unmarshal([]byte(raw), &a); err != nil {
			return agreement.Agreement{}, err
		}
	} else {
		a = agreement.Agreement{ID: head["id"], Version: n, Publisher: head["publisher"], Account: head["account"], ContentDropped: true}
	}
	a.State = agreement.State(h["state"])
	a.OfferedAt, a.DecidedAt = parseMS(h["offered_at"]), parseMS(h["decided_at"])
	a.ContentSHA256 = h["content_sha256"]
	if raw := h["acceptance"]; raw != "" {
		var j agreement.AcceptanceJSON
		if err := json.Unmarshal([]byte(raw), &j); err != nil {
			return agreement.Agreement{}, err
		}
		acc, err := j.Parse()
		if err != nil {
			return agreement.Agreement{}, err
		}
		a.Acceptance = &acc
	}
	return a, nil
}

// SetSettlementPeriod sets how often account (an operator id) is invoiced:
// daily (the default), weekly or monthly. It is kept on the operator's
// record beside its billing profile, which reports it
// (Billing.SettlementPeriod), and setting a billing profile does not reset
// it, with when it was set (Billing.SettlementPeriodChanged). The settler
// reads it at each close: a day closes into its period as set then, and
// days a change left waiting for a period end that no longer comes are
// invoiced at the next close; no day is invoiced twice. Errors wrap
// ErrInvalid, ErrNotFound, ErrSuspended or ErrUnavailable.
func (s *Store) SetSettlementPeriod(ctx context.Context, account string, p agreement.SettlementPeriod) (agreement.SettlementPeriod, error) {
	p, err := agreement.ParseSettlementPeriod(string(p))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	op, err := s.Operator(ctx, account)
	if err != nil {
		return "", err
	}
	if op.Status != StatusActive {
		return "", fmt.Errorf("%w: %s cannot change its settlement period", ErrSuspended, account)
	}
	n, err := hsetExistingScript.Run(ctx, s.rdb, []string{opKey(account)}, "settlement_period", string(p),
		"settlement_period_changed", ms(s.opts.Now())).Int()
	if err != nil {
		return "", unavailable(err)
	}
	if n == 0 {
		return "", fmt.Errorf("%w: operator %s", ErrNotFound, account)
	}
	s.publish(ctx, "op", account)
	return p, nil
}
