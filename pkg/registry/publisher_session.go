package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Sessions of the publisher's page are tied to the token they were opened
// with: the page's cookie carries the token's fingerprint, and a session
// whose publisher has another token since (RotatePublisherToken) is over.

// PublisherTokenFingerprint returns the fingerprint of publisher token
// token: a short hash of its stored digest, which says nothing of the
// token. A malformed token wraps ErrUnauthorized.
func PublisherTokenFingerprint(token string) (string, error) {
	digest, err := ParsePublisherToken(token)
	if err != nil {
		return "", err
	}
	return fingerprintOf(digest), nil
}

// CurrentPublisherTokenFingerprint returns the fingerprint of publisher
// id's current token (as PublisherTokenFingerprint of it). Errors wrap
// ErrNotFound or ErrUnavailable.
func (s *Store) CurrentPublisherTokenFingerprint(ctx context.Context, id string) (string, error) {
	if !ValidPublisherID(id) {
		return "", fmt.Errorf("%w: publisher %q", ErrNotFound, truncate(id, 64))
	}
	digest, err := s.rdb.HGet(ctx, pubKey(id), "token_hash").Result()
	if errors.Is(err, redis.Nil) || err == nil && digest == "" {
		return "", fmt.Errorf("%w: publisher %s", ErrNotFound, id)
	}
	if err != nil {
		return "", unavailable(err)
	}
	return fingerprintOf(digest), nil
}

func fingerprintOf(digest string) string {
	sum := sha256.Sum256([]byte("paycrawl publisher token fingerprint\x00" + digest))
	return hex.EncodeToString(sum[:12])
}
