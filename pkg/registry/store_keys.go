package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/paycrawl/paycrawl/pkg/botauth"
)

func keyFromHash(h map[string]string) KeyRecord {
	return KeyRecord{
		ID: h["id"], Operator: h["operator"], JWK: json.RawMessage(h["jwk"]), Status: KeyStatus(h["status"]),
		Created: parseMS(h["created"]), ValidUntil: parseMS(h["valid_until"]), Revoked: parseMS(h["revoked"]),
		DirectoryProof: decodeDirectoryProof(h["dir_proof"]),
	}
}

// DirectoryAuthority is the authority (host[:port]) that operator opID's
// keys sign their directory proofs for: the host of its hosted agent URL,
// which is its own origin under HostedAgentsBase, or else this service's
// own authority (the hosted agent is AgentBase/agents/<id>, a jwks_uri
// agent fetched from this authority).
func (s *Store) DirectoryAuthority(opID string) string {
	a, err := DirectoryAuthorityOf(s.HostedAgentURL(opID))
	if err != nil {
		return ""
	}
	return a
}

// checkDirectoryProof verifies an optional directory proof of key for
// operator opID and returns its stored form ("" for none).
func (s *Store) checkDirectoryProof(opID string, key botauth.Key, p *DirectoryProof, now time.Time) (string, error) {
	if p == nil {
		return "", nil
	}
	authority := s.DirectoryAuthority(opID)
	if err := p.Verify(key, authority, now); err != nil {
		return "", err
	}
	return encodeDirectoryProof(*p, authority)
}

// RegisterKey verifies a proof of possession for operator opID and registers
// its key as active. Errors wrap ErrInvalidJWK, ErrNotEd25519, ErrBadProof,
// ErrDuplicateKey (the keyid was ever registered, by anyone), ErrNotFound,
// ErrSuspended or ErrLimit.
func (s *Store) RegisterKey(ctx context.Context, opID string, p Proof) (*KeyRecord, error) {
	k, _, err := s.addKey(ctx, opID, p, false, 0)
	return k, err
}

// RotateKey registers a new key like RegisterKey and, in the same atomic
// step, turns the operator's active keys into rotated keys that stay valid
// for overlap (0 ≤ overlap ≤ MaxOverlap). It returns the new key and the
// ids of the keys it rotated.
func (s *Store) RotateKey(ctx context.Context, opID string, p Proof, overlap time.Duration) (*KeyRecord, []string, error) {
	if overlap < 0 || overlap > MaxOverlap {
		return nil, nil, fmt.Errorf("%w: overlap %s is not between 0 and %s", ErrInvalid, overlap, MaxOverlap)
	}
	return s.addKey(ctx, opID, p, true, overlap)
}

func (s *Store) addKey(ctx context.Context, opID string, p Proof, rotate bool, overlap time.Duration) (*KeyRecord, []string, error) {
	if !ValidOperatorID(opID) {
		return nil, nil, fmt.Errorf("%w: operator %q", ErrNotFound, truncate(opID, 64))
	}
	now := s.opts.Now().UTC().Truncate(time.Millisecond)
	key, err := p.Verify(opID, now)
	if err != nil {
		return nil, nil, err
	}
	dirProof, err := s.checkDirectoryProof(opID, key, p.DirectoryProof, now)
	if err != nil {
		return nil, nil, err
	}
	jwk := key.JWK()
	rot := "0"
	if rotate {
		rot = "1"
	}
	validUntil := now.Add(overlap)
	call, err := NewOperatorID(s.opts.Rand) // any random id will do
	if err != nil {
		return nil, nil, err
	}
	for attempt := 0; attempt < 5; attempt++ {
		members, err := s.rdb.SMembers(ctx, opKeysKey(opID)).Result()
		if err != nil {
			return nil, nil, unavailable(err)
		}
		keys := []string{keyKey(key.ID), opKeysKey(opID), opKey(opID)}
		for _, m := range members {
			keys = append(keys, keyKey(m))
		}
		res, err := addKeyScript.Run(ctx, s.rdb, keys, key.ID, opID, string(jwk), ms(now), rot, ms(validUntil), s.opts.MaxKeys, call, dirProof).StringSlice()
		if err != nil {
			return nil, nil, unavailable(err)
		}
		switch res[0] {
		case "ok":
			rotated := res[1:]
			s.publish(ctx, "key", key.ID)
			for _, id := range rotated {
				s.publish(ctx, "key", id)
			}
			return &KeyRecord{ID: key.ID, Operator: opID, JWK: jwk, Status: KeyActive, Created: now, DirectoryProof: decodeDirectoryProof(dirProof)}, rotated, nil
		case "dup":
			return nil, nil, fmt.Errorf("%w: keyid %s was registered before; generate a new key", ErrDuplicateKey, key.ID)
		case "nooperator":
			return nil, nil, fmt.Errorf("%w: operator %s", ErrNotFound, opID)
		case "suspended":
			return nil, nil, fmt.Errorf("%w: %s cannot register keys", ErrSuspended, opID)
		case "limit":
			return nil, nil, fmt.Errorf("%w: %s already has %d usable keys; revoke one first", ErrLimit, opID, s.opts.MaxKeys)
		case "stale":
			continue // the key set changed under us: read it again
		default:
			return nil, nil, fmt.Errorf("registry: add_key answered %q", res[0])
		}
	}
	return nil, nil, fmt.Errorf("%w: the key set of %s kept changing; try again", ErrUnavailable, opID)
}

// Key returns a registered key; an unknown keyid wraps ErrNotFound.
func (s *Store) Key(ctx context.Context, keyID string) (*KeyRecord, error) {
	if !ValidKeyID(keyID) {
		return nil, fmt.Errorf("%w: key %q", ErrNotFound, truncate(keyID, 64))
	}
	h, err := s.rdb.HGetAll(ctx, keyKey(keyID)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	if len(h) == 0 {
		return nil, fmt.Errorf("%w: key %s", ErrNotFound, keyID)
	}
	k := keyFromHash(h)
	return &k, nil
}

// Keys returns every key an operator ever registered, oldest first.
func (s *Store) Keys(ctx context.Context, opID string) ([]KeyRecord, error) {
	ids, err := s.rdb.SMembers(ctx, opKeysKey(opID)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = keyKey(id)
	}
	hs, err := s.hashes(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make([]KeyRecord, 0, len(ids))
	for _, h := range hs {
		if len(h) > 0 {
			out = append(out, keyFromHash(h))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// UsableKeys returns the operator's keys accepted at the store's current
// time: the content of its hosted directory.
func (s *Store) UsableKeys(ctx context.Context, opID string) ([]KeyRecord, error) {
	all, err := s.Keys(ctx, opID)
	if err != nil {
		return nil, err
	}
	now := s.opts.Now()
	out := all[:0]
	for _, k := range all {
		if k.Usable(now) {
			out = append(out, k)
		}
	}
	return out, nil
}

// RevokeKey revokes one of the operator's keys, for good. Revoking a revoked
// key changes nothing. A key of another operator wraps ErrForbidden; an
// unknown keyid ErrNotFound. Resolvers are told at once.
func (s *Store) RevokeKey(ctx context.Context, opID, keyID string) (*KeyRecord, error) {
	if !ValidKeyID(keyID) {
		return nil, fmt.Errorf("%w: key %q", ErrNotFound, truncate(keyID, 64))
	}
	res, err := revokeKeyScript.Run(ctx, s.rdb, []string{keyKey(keyID)}, opID, ms(s.opts.Now())).Text()
	if err != nil {
		return nil, unavailable(err)
	}
	switch res {
	case "ok", "already":
	case "notfound":
		return nil, fmt.Errorf("%w: key %s", ErrNotFound, keyID)
	case "forbidden":
		return nil, fmt.Errorf("%w: key %s belongs to another operator", ErrForbidden, keyID)
	default:
		return nil, fmt.Errorf("registry: revoke_key answered %q", res)
	}
	s.publish(ctx, "key", keyID)
	return s.Key(ctx, keyID)
}

// SetDirectoryProof verifies and stores a directory proof for one of the
// operator's keys that is not revoked, replacing the one it had: for a key
// registered without one (older clients), or to renew one before it
// expires. Errors wrap ErrNotFound, ErrForbidden (another operator's key),
// ErrInvalid (a revoked key), ErrBadDirectoryProof,
// ErrDirectoryProofAuthority or ErrDirectoryProofExpired.
func (s *Store) SetDirectoryProof(ctx context.Context, opID, keyID string, p DirectoryProof) (*KeyRecord, error) {
	k, err := s.Key(ctx, keyID)
	if err != nil {
		return nil, err
	}
	if k.Operator != opID {
		return nil, fmt.Errorf("%w: key %s belongs to another operator", ErrForbidden, keyID)
	}
	key, err := botauth.ParseKey(k.JWK)
	if err != nil {
		return nil, fmt.Errorf("registry: stored key %s: %w", keyID, err)
	}
	stored, err := s.checkDirectoryProof(opID, key, &p, s.opts.Now())
	if err != nil {
		return nil, err
	}
	res, err := setDirProofScript.Run(ctx, s.rdb, []string{keyKey(keyID)}, opID, stored).Text()
	if err != nil {
		return nil, unavailable(err)
	}
	switch res {
	case "ok":
	case "notfound":
		return nil, fmt.Errorf("%w: key %s", ErrNotFound, keyID)
	case "forbidden":
		return nil, fmt.Errorf("%w: key %s belongs to another operator", ErrForbidden, keyID)
	case "revoked":
		return nil, fmt.Errorf("%w: key %s is revoked; its directory is gone for good", ErrInvalid, keyID)
	default:
		return nil, fmt.Errorf("registry: set_dir_proof answered %q", res)
	}
	s.publish(ctx, "key", keyID)
	return s.Key(ctx, keyID)
}
