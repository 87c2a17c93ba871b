package registry

import (
	"context"
	"errors"
	"testing"
)

// TestPublisherTokenFingerprint: the fingerprint of the token a publisher
// signs in with is its current one's until the token is rotated, then the
// new token's; it is not the token's digest.
func TestPublisherTokenFingerprint(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	p, token, err := f.store.CreatePublisher(ctx, PublisherSpec{ID: "pub_news", Name: "News", Contact: "money@news.example"})
	if err != nil {
		t.Fatal(err)
	}
	fp, err := PublisherTokenFingerprint(token)
	if err != nil {
		t.Fatal(err)
	}
	if cur, err := f.store.CurrentPublisherTokenFingerprint(ctx, p.ID); err != nil || cur != fp {
		t.Fatalf("current %q, %v; the token's %q", cur, err, fp)
	}
	if digest, _ := ParsePublisherToken(token); len(fp) != 24 || digest[:24] == fp {
		t.Fatalf("fingerprint %q of digest %q", fp, digest)
	}
	fresh, err := f.store.RotatePublisherToken(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	freshFP, _ := PublisherTokenFingerprint(fresh)
	if cur, err := f.store.CurrentPublisherTokenFingerprint(ctx, p.ID); err != nil || cur != freshFP || cur == fp {
		t.Fatalf("after rotation: current %q, %v; old %q, new %q", cur, err, fp, freshFP)
	}
	for _, id := range []string{"pub_nobody", "Pub|x"} {
		if _, err := f.store.CurrentPublisherTokenFingerprint(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", id, err)
		}
	}
	if _, err := PublisherTokenFingerprint("pck_nope"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("malformed token: %v", err)
	}
}
