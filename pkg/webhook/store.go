package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/pkg/netguard"
)

// Errors of the store.
var (
	// ErrInvalid: a bad endpoint URL or event list.
	ErrInvalid = errors.New("webhook: invalid endpoint")
	// ErrNotFound: no such endpoint of this owner.
	ErrNotFound = errors.New("webhook: endpoint not found")
)

// Event is what happened, as its receivers get it.
type Event struct {
	// ID identifies the event; Emit ignores an id it has seen for the
	// owner, so ids derived from what happened make emitting idempotent.
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Created time.Time       `json:"created"`
	Data    json.RawMessage `json:"data"`
}

// Endpoint is a registered receiver.
type Endpoint struct {
	ID    string `json:"id"`
	Owner string `json:"owner"`
	URL   string `json:"url"`
	// Events are the event types it receives; empty means all.
	Events  []string  `json:"events"`
	Created time.Time `json:"created"`
	// Secret signs its deliveries; shown only when it is registered.
	Secret string `json:"secret,omitempty"`
}

// Attempt is one entry of an endpoint's delivery log.
type Attempt struct {
	Event   string    `json:"event"`
	Type    string    `json:"type"`
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	// Status is the receiver's HTTP status, 0 when none came.
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
	// Outcome is "delivered", "retrying" (Next is set) or "failed" (no
	// more attempts).
	Outcome string     `json:"outcome"`
	Next    *time.Time `json:"next,omitempty"`
}

// Options configure a Store. The zero value of each field is safe.
type Options struct {
	// Prefix starts every key; default "webhook". Keys share one hash tag.
	Prefix string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger; default discards.
	Logger *slog.Logger
	// Policy decides which addresses deliveries may connect to; nil means
	// public addresses only. Tests and the demo allow loopback.
	Policy *netguard.Policy
	// AllowHTTP accepts http:// endpoints (tests, the demo); default
	// https only.
	AllowHTTP bool
	// Client sends deliveries; default a client on a netguard transport
	// with Policy and a 10 s timeout, which never follows redirects.
	Client *http.Client
	// MaxAttempts bounds the attempts of one delivery; default 8.
	MaxAttempts int
	// Backoff is the wait after failed attempt n (from 1); default 30 s
	// doubled each time, at most an hour.
	Backoff func(n int) time.Duration
	// Lease is how long a claimed job is reserved for its worker; default
	// a minute.
	Lease time.Duration
	// MaxEndpoints bounds an owner's endpoints; default 10.
	MaxEndpoints int
}

// DefaultBackoff is 30 s doubled after each failed attempt, at most an hour.
func DefaultBackoff(n int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// Store keeps endpoints, events and delivery jobs in Redis and delivers
// them. Build it with NewStore; it is safe for concurrent use, and several
// processes may run deliveries on one Redis.
type Store struct {
	rdb  redis.UniversalClient
	o    Options
	log  *slog.Logger
	http *http.Client
}

//go:embed lua/claim.lua
var claimLua string

var claimScript = redis.NewScript(claimLua)

// logLength is how many attempts an endpoint's log keeps.
const logLength = 200

// eventTTL is how long an event id is remembered for deduplication.
const eventTTL = 35 * 24 * time.Hour

// NewStore returns a Store on rdb.
func NewStore(rdb redis.UniversalClient, o Options) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("webhook: a redis client is required")
	}
	if o.Prefix == "" {
		o.Prefix = "webhook"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.Lease <= 0 {
		o.Lease = time.Minute
	}
	if o.MaxEndpoints <= 0 {
		o.MaxEndpoints = 10
	}
	s := &Store{rdb: rdb, o: o, log: o.Logger, http: o.Client}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.http == nil {
		s.http = &http.Client{
			Transport:     netguard.NewTransport(&netguard.Dialer{Policy: o.Policy}),
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return s, nil
}

func (s *Store) key(parts ...string) string {
	return "{" + s.o.Prefix + "}:" + strings.Join(parts, ":")
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// checkURL refuses what deliveries must never reach: a URL that is not
// absolute https (http with AllowHTTP), has credentials, or names a
// literal address the policy refuses. Names are checked again, resolved,
// at every connection.
func (s *Store) checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || len(raw) > 2048 {
		return fmt.Errorf("%w: %q is not an absolute URL without credentials", ErrInvalid, clip(raw))
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && s.o.AllowHTTP) {
		return fmt.Errorf("%w: %q must be an https URL", ErrInvalid, clip(raw))
	}
	if h, err := netguard.ParseHost(u.Hostname()); err == nil && h.IsAddr() {
		if err := s.o.Policy.Check(h.Addr); err != nil {
			return fmt.Errorf("%w: %q: %v", ErrInvalid, clip(raw), err)
		}
	} else if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrInvalid, clip(raw), err)
	}
	return nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// AddEndpoint registers url to receive owner's events of the given types
// (all of them when events is empty; each must be in known, when known is
// not nil) and returns it with its secret, shown only here.
func (s *Store) AddEndpoint(ctx context.Context, owner, rawURL string, events, known []string) (*Endpoint, error) {
	if err := s.checkURL(rawURL); err != nil {
		return nil, err
	}
	for _, e := range events {
		if known != nil && !slices.Contains(known, e) {
			return nil, fmt.Errorf("%w: event %q is not one of %s", ErrInvalid, clip(e), strings.Join(known, ", "))
		}
	}
	n, err := s.rdb.SCard(ctx, s.key("owner", owner)).Result()
	if err != nil {
		return nil, err
	}
	if int(n) >= s.o.MaxEndpoints {
		return nil, fmt.Errorf("%w: at most %d endpoints; remove one first", ErrInvalid, s.o.MaxEndpoints)
	}
	id, err := randomHex(8)
	if err != nil {
		return nil, err
	}
	secret, err := randomHex(24)
	if err != nil {
		return nil, err
	}
	ep := &Endpoint{ID: "we_" + id, Owner: owner, URL: rawURL, Events: append([]string{}, events...),
		Created: s.o.Now().UTC().Truncate(time.Second), Secret: "whsec_" + secret}
	b, err := json.Marshal(ep)
	if err != nil {
		return nil, err
	}
	pipe := s.rdb.TxPipeline()
	pipe.Set(ctx, s.key("ep", ep.ID), b, 0)
	pipe.SAdd(ctx, s.key("owner", owner), ep.ID)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	return ep, nil
}

// endpoint reads an endpoint, secret included.
func (s *Store) endpoint(ctx context.Context, id string) (*Endpoint, error) {
	b, err := s.rdb.Get(ctx, s.key("ep", id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	var ep Endpoint
	if err := json.Unmarshal(b, &ep); err != nil {
		return nil, err
	}
	return &ep, nil
}

// Endpoints lists owner's endpoints, without their secrets, oldest first.
func (s *Store) Endpoints(ctx context.Context, owner string) ([]Endpoint, error) {
	ids, err := s.rdb.SMembers(ctx, s.key("owner", owner)).Result()
	if err != nil {
		return nil, err
	}
	out := []Endpoint{}
	for _, id := range ids {
		ep, err := s.endpoint(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ep.Secret = ""
		out = append(out, *ep)
	}
	slices.SortFunc(out, func(a, b Endpoint) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// RemoveEndpoint removes owner's endpoint id; its pending deliveries are
// dropped when they come due.
func (s *Store) RemoveEndpoint(ctx context.Context, owner, id string) error {
	n, err := s.rdb.SRem(ctx, s.key("owner", owner), id).Result()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return s.rdb.Del(ctx, s.key("ep", id)).Err()
}

// Log is endpoint id's delivery log, newest first, at most limit entries
// (0: all it keeps); the endpoint must be owner's.
func (s *Store) Log(ctx context.Context, owner, id string, limit int) ([]Attempt, error) {
	ok, err := s.rdb.SIsMember(ctx, s.key("owner", owner), id).Result()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotFound
	}
	if limit <= 0 || limit > logLength {
		limit = logLength
	}
	raw, err := s.rdb.LRange(ctx, s.key("log", id), 0, int64(limit-1)).Result()
	if err != nil {
		return nil, err
	}
	out := make([]Attempt, 0, len(raw))
	for _, r := range raw {
		var a Attempt
		if json.Unmarshal([]byte(r), &a) == nil {
			out = append(out, a)
		}
	}
	return out, nil
}

// job is one delivery of one event to one endpoint.
type job struct {
	Endpoint string `json:"endpoint"`
	Event    string `json:"event"`
	Type     string `json:"type"`
	Body     []byte `json:"body"`
	Attempt  int    `json:"attempt"`
}

// Emit records ev for owner and queues a delivery to each of owner's
// endpoints that takes its type, due now. An event id already emitted for
// owner is ignored (0 deliveries, no error). It returns the deliveries
// queued.
func (s *Store) Emit(ctx context.Context, owner string, ev Event) (int, error) {
	if ev.ID == "" || ev.Type == "" {
		return 0, errors.New("webhook: an event needs an id and a type")
	}
	if ev.Created.IsZero() {
		ev.Created = s.o.Now()
	}
	ev.Created = ev.Created.UTC()
	if len(ev.Data) == 0 {
		ev.Data = json.RawMessage("{}")
	}
	ids, err := s.rdb.SMembers(ctx, s.key("owner", owner)).Result()
	if err != nil {
		return 0, err
	}
	fresh, err := s.rdb.SetNX(ctx, s.key("event", owner, ev.ID), "1", eventTTL).Result()
	if err != nil || !fresh {
		return 0, err
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return 0, err
	}
	now := s.o.Now()
	n := 0
	for _, id := range ids {
		ep, err := s.endpoint(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		if len(ep.Events) > 0 && !slices.Contains(ep.Events, ev.Type) {
			continue
		}
		jid := ep.ID + ":" + ev.ID
		b, err := json.Marshal(job{Endpoint: ep.ID, Event: ev.ID, Type: ev.Type, Body: body})
		if err != nil {
			return n, err
		}
		pipe := s.rdb.TxPipeline()
		pipe.Set(ctx, s.key("job", jid), b, eventTTL)
		pipe.ZAdd(ctx, s.key("due"), redis.Z{Score: float64(now.UnixMilli()), Member: jid})
		if _, err := pipe.Exec(ctx); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// RunOnce delivers the jobs due now, one at a time, and returns how many
// it attempted.
func (s *Store) RunOnce(ctx context.Context) (int, error) {
	n := 0
	for ctx.Err() == nil {
		now := s.o.Now()
		res, err := claimScript.Run(ctx, s.rdb, []string{s.key("due")},
			now.UnixMilli(), now.Add(s.o.Lease).UnixMilli()).Text()
		if errors.Is(err, redis.Nil) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if err := s.deliver(ctx, res); err != nil {
			return n, err
		}
		n++
	}
	return n, ctx.Err()
}

// Run delivers due jobs every interval until ctx ends.
func (s *Store) Run(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.RunOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("webhook: delivery run failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// deliver makes one attempt of job jid and records it.
func (s *Store) deliver(ctx context.Context, jid string) error {
	raw, err := s.rdb.Get(ctx, s.key("job", jid)).Bytes()
	if errors.Is(err, redis.Nil) {
		return s.rdb.ZRem(ctx, s.key("due"), jid).Err()
	}
	if err != nil {
		return err
	}
	var j job
	if err := json.Unmarshal(raw, &j); err != nil {
		return s.rdb.ZRem(ctx, s.key("due"), jid).Err()
	}
	ep, err := s.endpoint(ctx, j.Endpoint)
	if errors.Is(err, ErrNotFound) { // removed meanwhile
		pipe := s.rdb.TxPipeline()
		pipe.ZRem(ctx, s.key("due"), jid)
		pipe.Del(ctx, s.key("job", jid))
		_, err := pipe.Exec(ctx)
		return err
	}
	if err != nil {
		return err
	}
	j.Attempt++
	now := s.o.Now()
	a := Attempt{Event: j.Event, Type: j.Type, Attempt: j.Attempt, At: now.UTC()}
	a.Status, err = s.post(ctx, ep, j, now)
	switch {
	case err == nil && a.Status/100 == 2:
		a.Outcome = "delivered"
	case err != nil:
		a.Error = err.Error()
	default:
		a.Error = "the receiver answered " + strconv.Itoa(a.Status) + " " + http.StatusText(a.Status)
	}
	pipe := s.rdb.TxPipeline()
	switch {
	case a.Outcome == "delivered":
		pipe.ZRem(ctx, s.key("due"), jid)
		pipe.Del(ctx, s.key("job", jid))
	case j.Attempt >= s.o.MaxAttempts:
		a.Outcome = "failed"
		pipe.ZRem(ctx, s.key("due"), jid)
		pipe.Del(ctx, s.key("job", jid))
	default:
		a.Outcome = "retrying"
		next := now.Add(s.o.Backoff(j.Attempt)).UTC()
		a.Next = &next
		b, _ := json.Marshal(j)
		pipe.Set(ctx, s.key("job", jid), b, eventTTL)
		pipe.ZAdd(ctx, s.key("due"), redis.Z{Score: float64(next.UnixMilli()), Member: jid})
	}
	lb, _ := json.Marshal(a)
	pipe.LPush(ctx, s.key("log", ep.ID), lb)
	pipe.LTrim(ctx, s.key("log", ep.ID), 0, logLength-1)
	_, err = pipe.Exec(ctx)
	if a.Outcome != "delivered" {
		s.log.Info("webhook: delivery failed", "endpoint", ep.ID, "event", j.Event, "attempt", j.Attempt, "outcome", a.Outcome, "err", a.Error)
	}
	return err
}

// post sends one signed delivery and returns the receiver's status.
func (s *Store) post(ctx context.Context, ep *Endpoint, j job, now time.Time) (int, error) {
	if err := s.checkURL(ep.URL); err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(j.Body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "paycrawl-webhooks/1")
	req.Header.Set(HeaderSignature, Sign(ep.Secret, now, j.Body))
	req.Header.Set(HeaderEventID, j.Event)
	req.Header.Set(HeaderEventType, j.Type)
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}
