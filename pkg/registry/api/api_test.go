package api

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"github.com/paycrawl/paycrawl/internal/testclock"
	"github.com/paycrawl/paycrawl/pkg/paywall/keys"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

func TestSignUpRegisterKeyHostedDirectory(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	resp, err := e.client("").SignUp(ctx, "Example Crawler", "ops@crawler.example")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.Token, "pct_") || resp.Warning == "" || resp.Operator.AgentURL != e.ts.URL+"/agents/"+resp.Operator.ID {
		t.Fatalf("sign-up answer %+v", resp)
	}
	c := e.client(resp.Token)
	me, err := c.Me(ctx)
	if err != nil || me.ID != resp.Operator.ID || me.Status != "active" {
		t.Fatalf("Me = %+v, %v", me, err)
	}
	priv := newPriv(t)
	k, err := c.RegisterKey(ctx, e.proof(priv, me.ID))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := deferred.NewKey(priv.Public().(ed25519.PublicKey))
	if k.KeyID != want.ID || k.Status != "active" {
		t.Fatalf("key %+v, want keyid %s", k, want.ID)
	}
	status, raw, h := e.call(http.MethodGet, "/agents/"+me.ID, "", nil)
	if status != http.StatusOK || h.Get("Content-Type") != deferred.MediaTypeDirectory {
		t.Fatalf("directory: %d %q %s", status, h.Get("Content-Type"), raw)
	}
	maxAge, err := strconv.Atoi(strings.TrimPrefix(h.Get("Cache-Control"), "max-age="))
	if err != nil || maxAge <= 0 || maxAge > 60 {
		t.Fatalf("Cache-Control %q: want max-age in (0, 60]", h.Get("Cache-Control"))
	}
	// pkg/deferred's directory client reads it as a verifier would.
	dc := &deferred.DirectoryClient{Allowed: func(context.Context, string) bool { return true }, AllowHTTPLoopback: true, Logger: slog.New(slog.DiscardHandler)}
	// Without a hosted agents base the agent URL is the older /agents/<id>,
	// a JWK Set URL.
	got, err := dc.LookupAgent(ctx, deferred.SignatureAgent{URL: me.AgentURL, Type: deferred.AgentJWKS}, k.KeyID)
	if err != nil || !got.Public.Equal(want.Public) {
		t.Fatalf("directory client Lookup = %+v, %v", got, err)
	}
	e.wantError(http.StatusNotFound, "not_found", http.MethodGet, "/agents/op_zzzzzzzzzzzzzzzz", "", nil)
	e.wantError(http.StatusNotFound, "not_found", http.MethodGet, "/agents/nonsense", "", nil)
}

func TestRegistrationWithWrongProofIsRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	op := e.signUp("a")
	other := e.signUp("b")
	priv := newPriv(t)
	good := e.proof(priv, op.id)
	sigOfOther := e.proof(newPriv(t), op.id)
	tests := []struct {
		name  string
		proof registry.Proof
	}{
		{"signed for another operator", e.proof(priv, other.id)},
		{"signature by another key", registry.Proof{JWK: good.JWK, Timestamp: good.Timestamp, Signature: sigOfOther.Signature}},
		{"timestamp altered", registry.Proof{JWK: good.JWK, Timestamp: good.Timestamp - 1, Signature: good.Signature}},
		{"stale timestamp", mustProofAt(t, priv, op.id, time.Now().Add(-10*time.Minute))},
		{"no signature", registry.Proof{JWK: good.JWK, Timestamp: good.Timestamp}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.wantError(http.StatusBadRequest, "bad_proof", http.MethodPost, "/v1/keys", op.token, tt.proof)
		})
	}
	if ids, _ := e.directory(op.id); len(ids) != 0 {
		t.Fatalf("a refused key is published: %v", ids)
	}
}

func mustProofAt(t *testing.T, priv []byte, opID string, at time.Time) registry.Proof {
	p, err := registry.SignProof(priv, opID, at)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRevokedKeyLeavesDirectoryAndResolution: after DELETE /v1/keys/{keyid}
// the hosted directory stops listing the key at once; a resolver that
// listens for invalidations refuses it at once; a resolver that missed the
// message refuses it once its TTL (≤ 60 s, on an injected clock) has passed.
func TestRevokedKeyLeavesDirectoryAndResolution(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	op := e.withKey("a")
	agent := e.store.HostedAgentURL(op.id)

	listening, err := keys.NewResolver(e.store, keys.ResolverOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- listening.Listen(lctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-listening.Subscribed()
	deaf := testclock.New(time.Now())
	missed, err := keys.NewResolver(e.store, keys.ResolverOptions{TTL: registry.MaxTTL, Now: deaf.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*keys.Resolver{listening, missed} {
		if got, err := r.ResolveKey(ctx, agent, op.keyID); err != nil || got.Account != op.id {
			t.Fatalf("before revocation: %+v, %v", got, err)
		}
	}
	if ids, _ := e.directory(op.id); !slices.Contains(ids, op.keyID) {
		t.Fatalf("directory %v lacks %s", ids, op.keyID)
	}

	status, raw, _ := e.call(http.MethodDelete, "/v1/keys/"+op.keyID, op.token, nil)
	if status != http.StatusOK || !strings.Contains(string(raw), `"status": "revoked"`) {
		t.Fatalf("revoke: %d %s", status, raw)
	}
	if ids, _ := e.directory(op.id); len(ids) != 0 {
		t.Fatalf("directory still lists %v", ids)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		_, err := listening.ResolveKey(ctx, agent, op.keyID)
		if deferred.CodeOf(err) == deferred.CodeUnknownKey {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("listening resolver still accepts the revoked key: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	deaf.Advance(registry.MaxTTL)
	if _, err := missed.ResolveKey(ctx, agent, op.keyID); deferred.CodeOf(err) != deferred.CodeUnknownKey {
		t.Fatalf("60 s after the revocation a resolver that missed the message still accepts the key: %v", err)
	}
}

func TestTokens(t *testing.T) {
	e := newEnv(t, envOptions{})
	a := e.withKey("a")
	b := e.withKey("b")
	t.Run("missing", func(t *testing.T) {
		for _, route := range [][2]string{{"GET", "/v1/operators/me"}, {"GET", "/v1/keys"}, {"POST", "/v1/keys"}, {"DELETE", "/v1/keys/" + a.keyID}, {"GET", "/v1/agents"}, {"PUT", "/v1/operators/me/billing"}, {"GET", "/v1/usage"}} {
			e.wantError(http.StatusUnauthorized, "unauthorized", route[0], route[1], "", nil)
		}
		_, _, h := e.call("GET", "/v1/keys", "", nil)
		if !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("WWW-Authenticate %q", h.Get("WWW-Authenticate"))
		}
	})
	t.Run("wrong", func(t *testing.T) {
		wrong := a.token[:len(a.token)-3] + "xyz"
		for _, tok := range []string{wrong, "pct_short", "garbage", adminToken} {
			e.wantError(http.StatusUnauthorized, "unauthorized", "GET", "/v1/keys", tok, nil)
		}
	})
	t.Run("another operator's key", func(t *testing.T) {
		e.wantError(http.StatusForbidden, "forbidden", "DELETE", "/v1/keys/"+a.keyID, b.token, nil)
		if ids, _ := e.directory(a.id); !slices.Contains(ids, a.keyID) {
			t.Fatal("another operator revoked the key")
		}
	})
	t.Run("each token sees its own keys", func(t *testing.T) {
		keys, err := e.client(b.token).Keys(context.Background())
		if err != nil || len(keys) != 1 || keys[0].KeyID != b.keyID {
			t.Fatalf("Keys = %+v, %v", keys, err)
		}
	})
	t.Run("admin routes refused to operators", func(t *testing.T) {
		for _, route := range [][2]string{{"GET", "/v1/admin/operators"}, {"POST", "/v1/admin/operators/" + b.id + "/suspend"}, {"POST", "/v1/admin/operators/" + a.id + "/reinstate"}} {
			e.wantError(http.StatusForbidden, "forbidden", route[0], route[1], a.token, nil)
			e.wantError(http.StatusUnauthorized, "unauthorized", route[0], route[1], "", nil)
			e.wantError(http.StatusUnauthorized, "unauthorized", route[0], route[1], adminToken+"x", nil)
		}
	})
}

func TestAdminSuspendAndReinstate(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	a := e.withKey("a")
	e.withKey("b")
	status, raw, _ := e.call("GET", "/v1/admin/operators?limit=1", adminToken, nil)
	var page keydir.OperatorsResponse
	if status != 200 || json.Unmarshal(raw, &page) != nil || page.Total != 2 || len(page.Operators) != 1 || page.NextOffset == nil || *page.NextOffset != 1 {
		t.Fatalf("list: %d %s", status, raw)
	}
	r, err := keys.NewResolver(e.store, keys.ResolverOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	agent := e.store.HostedAgentURL(a.id)
	if _, err := r.ResolveKey(ctx, agent, a.keyID); err != nil {
		t.Fatal(err)
	}
	status, raw, _ = e.call("POST", "/v1/admin/operators/"+a.id+"/suspend", adminToken, nil)
	if status != 200 || !strings.Contains(string(raw), `"status": "suspended"`) {
		t.Fatalf("suspend: %d %s", status, raw)
	}
	r.Invalidate("op " + a.id) // what Listen does on the message
	if _, err := r.ResolveKey(ctx, agent, a.keyID); deferred.CodeOf(err) != deferred.CodeAccountSuspended {
		t.Fatalf("suspended operator's key: %v", err)
	}
	if ids, _ := e.directory(a.id); len(ids) != 0 {
		t.Fatalf("suspended operator's directory lists %v", ids)
	}
	// A suspended operator can read and revoke, not add.
	if _, err := e.client(a.token).Me(ctx); err != nil {
		t.Fatal(err)
	}
	e.wantError(http.StatusForbidden, "account_suspended", "POST", "/v1/keys", a.token, e.proof(newPriv(t), a.id))
	e.call("POST", "/v1/admin/operators/"+a.id+"/reinstate", adminToken, nil)
	r.Invalidate("op " + a.id)
	if _, err := r.ResolveKey(ctx, agent, a.keyID); err != nil {
		t.Fatalf("reinstated: %v", err)
	}
	e.wantError(http.StatusNotFound, "not_found", "POST", "/v1/admin/operators/op_zzzzzzzzzzzzzzzz/suspend", adminToken, nil)
	e.wantError(http.StatusBadRequest, "invalid_request", "GET", "/v1/admin/operators?limit=5000", adminToken, nil)
	// An offset near the integer limit once overflowed offset+limit.
	for _, off := range []string{"9223372036854775807", "9223372036854775000", "1073741825", "-1"} {
		e.wantError(http.StatusBadRequest, "invalid_request", "GET", "/v1/admin/operators?offset="+off, adminToken, nil)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t, envOptions{})
	op := e.withKey("a")
	other := e.signUp("b")
	jwk := func(s string) registry.Proof {
		return registry.Proof{JWK: json.RawMessage(s), Timestamp: time.Now().Unix(), Signature: "AAAA"}
	}
	tests := []struct {
		name         string
		method, path string
		token        string
		body         any
		status       int
		code         string
	}{
		{"malformed JWK", "POST", "/v1/keys", op.token, `{"jwk":{"kty":"OKP","crv":"Ed25519","x":"!!"},"timestamp":1,"signature":"AA"}`, 400, "invalid_jwk"},
		{"JWK not an object", "POST", "/v1/keys", op.token, jwk(`[1,2]`), 400, "invalid_jwk"},
		{"private JWK", "POST", "/v1/keys", op.token, jwk(`{"kty":"OKP","crv":"Ed25519","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs","d":"n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU"}`), 400, "invalid_jwk"},
		{"RSA key", "POST", "/v1/keys", op.token, jwk(`{"kty":"RSA","n":"AQAB","e":"AQAB"}`), 400, "not_ed25519"},
		{"P-256 key", "POST", "/v1/keys", op.token, jwk(`{"kty":"EC","crv":"P-256","x":"AQAB","y":"AQAB"}`), 400, "not_ed25519"},
		{"oversized body", "POST", "/v1/keys", op.token, `{"jwk":{"kty":"OKP","pad":"` + strings.Repeat("a", 20<<10) + `"}}`, 413, "body_too_large"},
		{"oversized sign-up", "POST", "/v1/operators", "", `{"name":"` + strings.Repeat("a", 20<<10) + `"}`, 413, "body_too_large"},
		{"not JSON", "POST", "/v1/keys", op.token, `jwk=1`, 400, "invalid_json"},
		{"unknown field", "POST", "/v1/operators", "", `{"name":"a","contact":"b","admin":true}`, 400, "invalid_json"},
		{"empty name", "POST", "/v1/operators", "", `{"name":" ","contact":"b"}`, 400, "invalid_request"},
		{"duplicate key, same operator", "POST", "/v1/keys", op.token, e.proof(op.priv, op.id), 409, "duplicate_key"},
		{"duplicate key, another operator", "POST", "/v1/keys", other.token, e.proof(op.priv, other.id), 409, "duplicate_key"},
		{"bad overlap", "POST", "/v1/keys/rotate", op.token, keydir.RotateRequest{Proof: e.proof(newPriv(t), op.id), Overlap: "forever"}, 400, "invalid_request"},
		{"overlap too long", "POST", "/v1/keys/rotate", op.token, keydir.RotateRequest{Proof: e.proof(newPriv(t), op.id), Overlap: "200h"}, 400, "invalid_request"},
		{"revoke unknown key", "DELETE", "/v1/keys/poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U", op.token, nil, 404, "not_found"},
		{"money as a number", "PUT", "/v1/operators/me/billing", op.token, `{"rail":"evm","wallet":"0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed","daily_cap":5,"default_max_price":"0.05"}`, 400, "invalid_json"},
		{"money with 7 decimals", "PUT", "/v1/operators/me/billing", op.token, registry.BillingJSON{Rail: "evm", Wallet: "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", DailyCap: "5.0000001", DefaultMaxPrice: "0.05"}, 400, "invalid_billing"},
		{"bad wallet checksum", "PUT", "/v1/operators/me/billing", op.token, registry.BillingJSON{Rail: "evm", Wallet: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", DailyCap: "5", DefaultMaxPrice: "0.05"}, 400, "invalid_billing"},
		{"unknown rail", "PUT", "/v1/operators/me/billing", op.token, registry.BillingJSON{Rail: "cash", DailyCap: "5", DefaultMaxPrice: "0.05"}, 400, "invalid_billing"},
		{"stripe not configured", "PUT", "/v1/operators/me/billing", op.token, registry.BillingJSON{Rail: "stripe", DailyCap: "5", DefaultMaxPrice: "0.05"}, 400, "rail_not_configured"},
		{"http agent", "POST", "/v1/agents", op.token, keydir.AgentRequest{URL: "http://signer.example"}, 400, "invalid_agent_url"},
		{"bad usage day", "GET", "/v1/usage?day=yesterday", op.token, nil, 400, "invalid_request"},
		{"unknown route", "GET", "/v2/nothing", "", nil, 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.wantError(tt.status, tt.code, tt.method, tt.path, tt.token, tt.body)
		})
	}
}

func TestRotationKeepsTheOldKeyDuringTheOverlap(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{now: true})
	op := e.withKey("a")
	c := e.client(op.token)
	newPriv := newPriv(t)
	e.clock.Advance(time.Second)
	rot, err := c.RotateKey(ctx, keydir.RotateRequest{Proof: e.proof(newPriv, op.id), Overlap: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rot.Rotated) != 1 || rot.Rotated[0] != op.keyID || rot.Key.Status != "active" {
		t.Fatalf("rotate answer %+v", rot)
	}
	ids, _ := e.directory(op.id)
	if len(ids) != 2 || !slices.Contains(ids, op.keyID) || !slices.Contains(ids, rot.Key.KeyID) {
		t.Fatalf("directory during the overlap: %v", ids)
	}
	e.clock.Advance(time.Hour)
	if ids, _ := e.directory(op.id); len(ids) != 1 || ids[0] != rot.Key.KeyID {
		t.Fatalf("directory after the overlap: %v", ids)
	}
	keys, err := c.Keys(ctx)
	if err != nil || len(keys) != 2 || keys[0].Status != "rotated" || keys[0].ValidUntil == "" {
		t.Fatalf("Keys = %+v, %v", keys, err)
	}
}

func TestBillingStripeCreatesACustomer(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{stripe: true})
	op := e.signUp("a")
	c := e.client(op.token)
	resp, err := c.SetBilling(ctx, registry.BillingJSON{Rail: "stripe", DailyCap: "5.00", DefaultMaxPrice: "0.05"})
	if err != nil {
		t.Fatal(err)
	}
	b := resp.Billing
	if !strings.HasPrefix(b.StripeCustomerID, "cus_") || b.Currency != "USD" || b.DailyCap != "5.00" || b.DefaultMaxPrice != "0.05" || resp.EVM != nil {
		t.Fatalf("billing %+v", resp)
	}
	me, _ := c.Me(ctx)
	if me.Billing == nil || me.Billing.StripeCustomerID != b.StripeCustomerID {
		t.Fatalf("Me billing %+v", me.Billing)
	}
	// A customer id not tagged for this operator is refused.
	_, err = c.SetBilling(ctx, registry.BillingJSON{Rail: "stripe", StripeCustomerID: "cus_someoneelse", DailyCap: "5.00", DefaultMaxPrice: "0.05"})
	if !keydir.IsCode(err, "invalid_billing") {
		t.Fatalf("foreign customer: %v", err)
	}
}

func TestBillingEVMTellsWhatToApprove(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	op := e.signUp("a")
	key, wallet := newWalletKey(t)
	resp, err := e.client(op.token).SetBilling(ctx, registry.BillingJSON{Rail: "evm", Wallet: strings.ToLower(wallet),
		WalletProof: e.walletProof(op.id, key), DailyCap: "10", DefaultMaxPrice: "0.000001"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Billing.Wallet != wallet || resp.Billing.Currency != "USDC" || resp.Billing.DefaultMaxPrice != "0.000001" {
		t.Fatalf("billing %+v", resp.Billing)
	}
	if resp.EVM == nil || resp.EVM.SettlerAddress == "" || resp.EVM.TokenAddress == "" || resp.EVM.ChainID != 1337 {
		t.Fatalf("evm instructions %+v", resp.EVM)
	}
	r, _ := keys.NewResolver(e.store, keys.ResolverOptions{})
	acct, err := r.Account(ctx, op.id)
	if err != nil || acct.Billing.DailyCap != 10_000_000 || acct.Billing.DefaultMaxPrice != 1 {
		t.Fatalf("Account = %+v, %v", acct, err)
	}
}

func TestExternalAgents(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envOptions{})
	a := e.signUp("a")
	b := e.signUp("b")
	if _, err := e.client(a.token).RegisterAgent(ctx, "https://signer.example/jwks.json"); err != nil {
		t.Fatal(err)
	}
	e.wantError(http.StatusConflict, "agent_taken", "POST", "/v1/agents", b.token, keydir.AgentRequest{URL: "https://signer.example/jwks.json"})
	e.wantError(http.StatusBadRequest, "invalid_agent_url", "POST", "/v1/agents", b.token, keydir.AgentRequest{URL: e.store.HostedAgentURL(a.id)})
	agents, err := e.client(a.token).Agents(ctx)
	if err != nil || len(agents) != 2 || !agents[0].Hosted || agents[1].URL != "https://signer.example/jwks.json" {
		t.Fatalf("Agents = %+v, %v", agents, err)
	}
}

func TestSignUpRateLimit(t *testing.T) {
	e := newEnv(t, envOptions{signups: 2})
	e.signUp("a")
	e.signUp("b")
	e.wantError(http.StatusTooManyRequests, "rate_limited", "POST", "/v1/operators", "", keydir.SignUpRequest{Name: "c", Contact: "c@example"})
}

func TestUsage(t *testing.T) {
	e := newEnv(t, envOptions{ledger: true})
	op := e.signUp("a")
	other := e.signUp("b")
	ctx := context.Background()
	day := time.Now().UTC().Format(time.DateOnly)
	for i, c := range []struct {
		account, site string
		price         money.Micros
	}{{op.id, "news.example", 10_000}, {op.id, "news.example", 10_000}, {op.id, "blog.example", 50_000}, {other.id, "news.example", 10_000}} {
		_, err := e.ledger.Append(ctx, &ledger.Commitment{RequestID: fmt.Sprint("r", i), Received: time.Now(), Account: c.account,
			Agent: "https://x.example", KeyID: "k", Publisher: "pub", Site: c.site, Method: "GET", Scheme: "https",
			Authority: c.site, Path: "/", Price: c.price, Currency: "USD", Dialect: "deferred", Label: "sig1",
			SignatureInput: "x", Signature: ":x:", ReplayIDs: []string{fmt.Sprint("s:", i)}, ReplayUntil: time.Now().Add(time.Minute)}, ledger.Limits{})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := e.ledger.CreateInvoice(ctx, op.id, day, "USD", "test"); err != nil {
		t.Fatal(err)
	}
	u, err := e.client(op.token).Usage(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if u.Day != day || u.Operator != op.id || !u.Closed || len(u.Totals) != 1 || u.Totals[0].Requests != 3 || u.Totals[0].Amount != "0.07" ||
		len(u.Sites) != 2 || len(u.Invoices) != 1 || u.Invoices[0].Status != "draft" || u.Invoices[0].Total != "0.07" {
		t.Fatalf("usage = %+v", u)
	}
	// Another operator sees only its own usage.
	u, err = e.client(other.token).Usage(ctx, day)
	if err != nil || len(u.Totals) != 1 || u.Totals[0].Requests != 1 || len(u.Invoices) != 0 {
		t.Fatalf("other's usage = %+v, %v", u, err)
	}
	e.wantError(http.StatusBadRequest, "invalid_request", "GET", "/v1/usage?day=tomorrow", op.token, nil)
	e.wantError(http.StatusUnauthorized, "unauthorized", "GET", "/v1/usage", "", nil)
}

// An operator reads its own commitments of a day, page by page, with the
// ids it reconciles its receipts by; never another operator's.
func TestUsageCommitments(t *testing.T) {
	e := newEnv(t, envOptions{ledger: true})
	op := e.signUp("a")
	other := e.signUp("b")
	ctx := context.Background()
	day := time.Now().UTC().Format(time.DateOnly)
	var want []string
	for i := range 2503 {
		account := op.id
		if i%10 == 9 {
			account = other.id
		}
		id, err := e.ledger.Append(ctx, &ledger.Commitment{RequestID: fmt.Sprint("r", i), Received: time.Now(), Account: account,
			Agent: "https://x.example", KeyID: "k", Publisher: "pub", Site: "news.example", Method: "GET", Scheme: "https",
			Authority: "news.example", Path: fmt.Sprint("/", i), Price: 10_000, Currency: "USD", Dialect: "deferred", Label: "sig1",
			SignatureInput: "x", Signature: ":x:", ReplayIDs: []string{fmt.Sprint("n:", i), fmt.Sprint("s:", i)}, ReplayUntil: time.Now().Add(time.Minute)}, ledger.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if account == op.id {
			want = append(want, id+" r"+fmt.Sprint(i)+" s:"+fmt.Sprint(i)+" /"+fmt.Sprint(i))
		}
	}
	var got []string
	err := e.client(op.token).Commitments(ctx, day, func(c keydir.CommitmentJSON) error {
		if c.Price != "0.01" || c.Currency != "USD" || c.Site != "news.example" {
			t.Errorf("commitment %+v", c)
		}
		got = append(got, c.ID+" "+c.RequestID+" "+c.SignatureID+" "+c.Path)
		return nil
	})
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%d commitments read (err %v), want %d in order", len(got), err, len(want))
	}
	for _, q := range []string{"day=tomorrow", "limit=0", "limit=1001", "after=nonsense", "offset=3"} {
		e.wantError(http.StatusBadRequest, "invalid_request", "GET", "/v1/usage/commitments?"+q, op.token, nil)
	}
	e.wantError(http.StatusUnauthorized, "unauthorized", "GET", "/v1/usage/commitments", "", nil)
}

func TestUsageWithoutLedgerIs501(t *testing.T) {
	e := newEnv(t, envOptions{})
	op := e.signUp("a")
	eb := e.wantError(http.StatusNotImplemented, "not_implemented", "GET", "/v1/usage?day=2026-01-02", op.token, nil)
	if !strings.Contains(eb.Message, "ledger") {
		t.Fatalf("message %q", eb.Message)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	e := newEnv(t, envOptions{})
	op := e.withKey("a")
	e.call("DELETE", "/v1/keys/"+op.keyID, op.token, nil)
	e.call("GET", "/v1/keys", "", nil)
	for _, p := range []string{"/healthz", "/readyz"} {
		if status, raw, _ := e.call("GET", p, "", nil); status != 200 {
			t.Fatalf("%s: %d %s", p, status, raw)
		}
	}
	status, raw, _ := e.call("GET", "/metrics", "", nil)
	if status != 200 {
		t.Fatalf("/metrics: %d", status)
	}
	for _, want := range []string{
		`keydirectory_http_requests_total{code="201",method="POST",route="POST /v1/operators"} 1`,
		`keydirectory_http_requests_total{code="401",method="GET",route="GET /v1/keys"} 1`,
		`keydirectory_key_registrations_total{kind="register"} 1`,
		`keydirectory_key_revocations_total 1`,
		`keydirectory_signups_total 1`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	e.redis.Kill()
	if status, raw, _ := e.call("GET", "/readyz", "", nil); status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with Redis down: %d %s", status, raw)
	}
	e.wantError(http.StatusServiceUnavailable, "unavailable", "GET", "/v1/keys", op.token, nil)
	if status, _, _ := e.call("GET", "/healthz", "", nil); status != 200 {
		t.Fatalf("/healthz with Redis down: %d", status)
	}
}
