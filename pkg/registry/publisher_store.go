package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// PublisherSpec is a new publisher account.
type PublisherSpec struct {
	// ID is the publisher id the gateway's sites name; "" mints a fresh
	// "pub_…" id. An id taken wraps ErrExists.
	ID            string
	Name, Contact string
	// Payout may be nil: a publisher without one earns, and is paid once it
	// sets one.
	Payout        *Payout
	MinimumPayout money.Micros
	FeeBPS        int64
	// Hosts are the hosts it may sell agreements for (SetPublisherHosts);
	// one another publisher holds wraps ErrHostTaken.
	Hosts []string
}

// PublisherChange is an edit of a publisher account; nil fields stay as
// they are.
type PublisherChange struct {
	Name, Contact *string
	Payout        *Payout
	MinimumPayout *money.Micros
	// FeeBPS may be changed by an admin only (UpdatePublisher's byAdmin).
	FeeBPS *int64
	// Hosts replaces the publisher's hosts (SetPublisherHosts); an admin
	// only.
	Hosts *[]string
}

// Editor says who edits a publisher account.
type Editor int

// The editors.
const (
	// EditorPublisher is the publisher itself, with its own token: it may
	// change its name, contact, payout method and minimum payout.
	EditorPublisher Editor = iota
	// EditorAdmin holds the admin token: it may also change the fee and
	// the hosts.
	EditorAdmin
)

func checkMinimumPayout(m money.Micros) error {
	if m < 0 || m > MaxMinimumPayout {
		return fmt.Errorf("%w: minimum_payout %s is not in [0, %s]", ErrInvalid, m, MaxMinimumPayout)
	}
	return nil
}

func checkFee(bps int64) error {
	if bps < 0 || bps > MaxFeeBPS {
		return fmt.Errorf("%w: fee_bps %d is not in [0, %d] basis points", ErrInvalid, bps, MaxFeeBPS)
	}
	return nil
}

// CreatePublisher creates a publisher account and returns it with its API
// token ("pcp_…"), shown only here, once. Only an admin may create one.
func (s *Store) CreatePublisher(ctx context.Context, spec PublisherSpec) (*Publisher, string, error) {
	name, err := checkText("name", spec.Name, 128)
	if err != nil {
		return nil, "", err
	}
	contact, err := checkText("contact", spec.Contact, 256)
	if err != nil {
		return nil, "", err
	}
	if err := CheckContact(contact); err != nil {
		return nil, "", err
	}
	if spec.ID != "" && !ValidPublisherID(spec.ID) {
		return nil, "", fmt.Errorf("%w: publisher id %q: use 1 to 64 lower-case letters, digits, _ and -, starting with a letter", ErrInvalid, truncate(spec.ID, 64))
	}
	if err := checkMinimumPayout(spec.MinimumPayout); err != nil {
		return nil, "", err
	}
	if err := checkFee(spec.FeeBPS); err != nil {
		return nil, "", err
	}
	hosts, err := normalizeHosts(spec.Hosts)
	if err != nil {
		return nil, "", err
	}
	for attempt := 0; attempt < 3; attempt++ {
		id := spec.ID
		if id == "" {
			if id, err = NewPublisherID(s.opts.Rand); err != nil {
				return nil, "", err
			}
		}
		p := &Publisher{ID: id, Name: name, Contact: contact, MinimumPayout: spec.MinimumPayout, FeeBPS: spec.FeeBPS, Hosts: hosts}
		if spec.Payout != nil {
			if p.Payout, err = s.checkPayout(p.ID, *spec.Payout, nil); err != nil {
				return nil, "", err
			}
		}
		token, digest, err := NewPublisherToken(s.opts.Rand)
		if err != nil {
			return nil, "", err
		}
		now := s.opts.Now().UTC().Truncate(time.Millisecond)
		fields, err := publisherFields(p)
		if err != nil {
			return nil, "", err
		}
		args := append([]any{id, ms(now), digest, hostsField(hosts)}, fields...)
		keys := append([]string{pubKey(id), pubsKey(), pubTokenKey(digest)}, hostKeys(hosts)...)
		res, err := createPublisherScript.Run(ctx, s.rdb, keys, args...).Text()
		if err != nil {
			return nil, "", unavailable(err)
		}
		switch {
		case res == "ok":
			p.Created, p.Updated = now, now
			return p, token, nil
		case res == "exists":
			if spec.ID != "" {
				return nil, "", fmt.Errorf("%w: publisher %s", ErrExists, id)
			}
		case strings.HasPrefix(res, "taken:"):
			return nil, "", takenError(res, hosts)
		}
		// A random id or token collided: draw again.
	}
	return nil, "", errors.New("registry: could not draw a free publisher id or token")
}

// publisherFields are the hash fields of p's editable parts.
func publisherFields(p *Publisher) ([]any, error) {
	payout := ""
	if p.Payout != nil {
		raw, err := json.Marshal(p.Payout.JSON())
		if err != nil {
			return nil, err
		}
		payout = string(raw)
	}
	return []any{"name", p.Name, "contact", p.Contact, "payout", payout,
		"minimum_payout", p.MinimumPayout.String(), "fee_bps", strconv.FormatInt(p.FeeBPS, 10)}, nil
}

// checkPayout normalizes a payout method for publisher id and, for rail
// evm, verifies its wallet proof (purpose WalletReceives, this publisher,
// this wallet, Options.EVM, issued within WalletProofMaxAge), or keeps prev's
// proof when prev pays the same wallet with a proof still valid.
func (s *Store) checkPayout(id string, p Payout, prev *Payout) (*Payout, error) {
	p, err := p.Normalize()
	if err != nil {
		return nil, err
	}
	if p.Rail != RailEVM {
		return &p, nil
	}
	if s.opts.EVM.IsZero() {
		return nil, fmt.Errorf("%w: the evm rail is not configured on this key directory (no chain id and settler address)", ErrRailNotConfigured)
	}
	want := WalletExpect{Purpose: WalletReceives, Account: id, Wallet: p.Wallet, Domain: s.opts.EVM}
	if p.WalletProof == nil {
		if prev != nil && prev.Rail == RailEVM && prev.Wallet == p.Wallet && prev.WalletProof != nil && prev.WalletProof.Verify(want) == nil {
			p.WalletProof = prev.WalletProof
			return &p, nil
		}
		return nil, fmt.Errorf("%w: wallet %s must be proven yours: sign the message of GET /v1/publishers/%s/payout/wallet-proof?wallet=%s "+
			"with the wallet's key (personal_sign) and send it as payout.wallet_proof", ErrWalletProofRequired, p.Wallet, id, p.Wallet)
	}
	wp := *p.WalletProof
	if wp.Purpose == "" {
		wp.Purpose = WalletReceives
	}
	if wp.Account == "" {
		wp.Account = id
	}
	if wp.Wallet == "" {
		wp.Wallet = p.Wallet
	}
	now := s.opts.Now()
	if err := wp.VerifyFresh(want, now); err != nil {
		return nil, err
	}
	wp.Wallet, wp.Settler, wp.IssuedAt = p.Wallet, s.opts.EVM.Settler, wp.IssuedAt.UTC().Truncate(time.Second)
	wp.VerifiedAt = now.UTC().Truncate(time.Second)
	p.WalletProof = &wp
	return &p, nil
}

// Publisher returns a publisher account; an unknown id wraps ErrNotFound.
func (s *Store) Publisher(ctx context.Context, id string) (*Publisher, error) {
	if !ValidPublisherID(id) {
		return nil, fmt.Errorf("%w: publisher %q", ErrNotFound, truncate(id, 64))
	}
	h, err := s.rdb.HGetAll(ctx, pubKey(id)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	if len(h) == 0 {
		return nil, fmt.Errorf("%w: publisher %s", ErrNotFound, id)
	}
	return publisherFromHash(h)
}

// AuthenticatePublisher returns the publisher a publisher API token
// ("pcp_…") belongs to. A malformed or unknown token wraps ErrUnauthorized;
// the digest stored with the publisher is compared in constant time.
func (s *Store) AuthenticatePublisher(ctx context.Context, token string) (*Publisher, error) {
	digest, err := ParsePublisherToken(token)
	if err != nil {
		return nil, err
	}
	h, err := s.tokenOwner(ctx, pubTokenKey(digest), pubKey, digest, "publisher token")
	if err != nil {
		return nil, err
	}
	return publisherFromHash(h)
}

// ListPublishers returns every publisher account in creation order (a
// registry holds few of them).
func (s *Store) ListPublishers(ctx context.Context) ([]Publisher, error) {
	ids, err := s.rdb.ZRange(ctx, pubsKey(), 0, -1).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = pubKey(id)
	}
	hs, err := s.hashes(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make([]Publisher, 0, len(ids))
	for _, h := range hs {
		if len(h) == 0 {
			continue
		}
		p, err := publisherFromHash(h)
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	return out, nil
}

// UpdatePublisher applies an edit by who to publisher id and returns the
// account. A publisher changing its own fee or hosts wraps ErrForbidden; a
// host another publisher holds wraps ErrHostTaken and changes nothing.
func (s *Store) UpdatePublisher(ctx context.Context, id string, who Editor, c PublisherChange) (*Publisher, error) {
	if c.FeeBPS != nil && who != EditorAdmin {
		return nil, fmt.Errorf("%w: only the platform's admin sets a publisher's fee", ErrForbidden)
	}
	if c.Hosts != nil && who != EditorAdmin {
		return nil, fmt.Errorf("%w: only the platform's admin sets a publisher's hosts", ErrForbidden)
	}
	var hosts []string
	if c.Hosts != nil {
		var err error
		if hosts, err = normalizeHosts(*c.Hosts); err != nil {
			return nil, err
		}
	}
	p, err := s.Publisher(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Name != nil {
		if p.Name, err = checkText("name", *c.Name, 128); err != nil {
			return nil, err
		}
	}
	if c.Contact != nil {
		if p.Contact, err = checkText("contact", *c.Contact, 256); err != nil {
			return nil, err
		}
		if err := CheckContact(p.Contact); err != nil {
			return nil, err
		}
	}
	if c.MinimumPayout != nil {
		if err := checkMinimumPayout(*c.MinimumPayout); err != nil {
			return nil, err
		}
		p.MinimumPayout = *c.MinimumPayout
	}
	if c.FeeBPS != nil {
		if err := checkFee(*c.FeeBPS); err != nil {
			return nil, err
		}
		p.FeeBPS = *c.FeeBPS
	}
	if c.Payout != nil {
		if p.Payout, err = s.checkPayout(id, *c.Payout, p.Payout); err != nil {
			return nil, err
		}
	}
	fields, err := publisherFields(p)
	if err != nil {
		return nil, err
	}
	if c.Hosts != nil {
		// Every other field is checked: the hosts are written first, all
		// or nothing, so that a host taken changes nothing.
		if err := s.setHosts(ctx, id, hosts); err != nil {
			return nil, err
		}
		p.Hosts = hosts
	}
	p.Updated = s.opts.Now().UTC().Truncate(time.Millisecond)
	fields = append(fields, "updated", ms(p.Updated))
	n, err := hsetExistingScript.Run(ctx, s.rdb, []string{pubKey(id)}, fields...).Int()
	if err != nil {
		return nil, unavailable(err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: publisher %s", ErrNotFound, id)
	}
	return p, nil
}

// RotatePublisherToken gives publisher id a new API token, returned only
// here, and stops the old one at once.
func (s *Store) RotatePublisherToken(ctx context.Context, id string) (string, error) {
	if !ValidPublisherID(id) {
		return "", fmt.Errorf("%w: publisher %q", ErrNotFound, truncate(id, 64))
	}
	for attempt := 0; attempt < 3; attempt++ {
		old, err := s.rdb.HGet(ctx, pubKey(id), "token_hash").Result()
		if errors.Is(err, redis.Nil) {
			return "", fmt.Errorf("%w: publisher %s", ErrNotFound, id)
		}
		if err != nil {
			return "", unavailable(err)
		}
		token, digest, err := NewPublisherToken(s.opts.Rand)
		if err != nil {
			return "", err
		}
		res, err := rotatePublisherTokenScript.Run(ctx, s.rdb, []string{pubKey(id), pubTokenKey(digest), pubTokenKey(old)}, id, digest, old).Text()
		if err != nil {
			return "", unavailable(err)
		}
		switch res {
		case "ok":
			return token, nil
		case "missing":
			return "", fmt.Errorf("%w: publisher %s", ErrNotFound, id)
		}
	}
	return "", errors.New("registry: could not draw a free publisher token")
}

// PayoutWalletClaim returns the claim a publisher's wallet signs now to
// receive its payouts: the message to sign is its Message. Errors wrap
// ErrRailNotConfigured, ErrInvalidBilling (a bad address) or ErrNotFound.
func (s *Store) PayoutWalletClaim(ctx context.Context, id, wallet string) (WalletClaim, error) {
	if s.opts.EVM.IsZero() {
		return WalletClaim{}, fmt.Errorf("%w: the evm rail is not configured on this key directory (no chain id and settler address)", ErrRailNotConfigured)
	}
	w, err := ParseWallet(wallet)
	if err != nil {
		return WalletClaim{}, err
	}
	if _, err := s.Publisher(ctx, id); err != nil {
		return WalletClaim{}, err
	}
	return WalletClaim{Purpose: WalletReceives, Account: id, Wallet: w, ChainID: s.opts.EVM.ChainID, Settler: s.opts.EVM.Settler,
		IssuedAt: s.opts.Now().UTC().Truncate(time.Second)}, nil
}
