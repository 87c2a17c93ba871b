package registry

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/redis/go-redis/v9"
)

func TestSignUpAndAuthenticate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	op, token, err := f.store.SignUp(ctx, "  Example Crawler ", "ops@crawler.example")
	if err != nil {
		t.Fatal(err)
	}
	if !ValidOperatorID(op.ID) || op.Name != "Example Crawler" || op.Status != StatusActive || !op.Created.Equal(f.clock.Now()) {
		t.Fatalf("operator %+v", op)
	}
	got, err := f.store.Authenticate(ctx, token)
	if err != nil || got.ID != op.ID {
		t.Fatalf("Authenticate = %+v, %v", got, err)
	}
	// Only the digest is stored: the token itself appears nowhere in Redis.
	keys, _ := f.srv.Client().Keys(ctx, "*").Result()
	for _, k := range keys {
		if strings.Contains(k, token) {
			t.Fatalf("token stored in key name %s", k)
		}
		if typ, _ := f.srv.Client().Type(ctx, k).Result(); typ == "hash" {
			h, _ := f.srv.Client().HGetAll(ctx, k).Result()
			for _, v := range h {
				if strings.Contains(v, token[4:]) {
					t.Fatalf("token stored in %s", k)
				}
			}
		}
	}
	other, _ := f.signUp(t)
	if other.ID == op.ID {
		t.Fatal("two sign-ups, one id")
	}
	wrong := token[:len(token)-2] + "AA"
	if wrong == token {
		wrong = token[:len(token)-2] + "BA"
	}
	for _, bad := range []string{"", "pct_nope", wrong} {
		_, err := f.store.Authenticate(ctx, bad)
		wantErr(t, err, ErrUnauthorized)
	}
	for _, in := range [][2]string{{"", "a@b.c"}, {"name", ""}, {"bad\x00name", "a@b.c"}, {strings.Repeat("n", 129), "a@b.c"},
		{"name", "notanemail"}, {"name", "ops@localhost"}, {"name", "Ops <ops@example.com>"}, {"name", "@example.com"}} {
		_, _, err := f.store.SignUp(ctx, in[0], in[1])
		wantErr(t, err, ErrInvalid)
	}
}

func TestSignupRateLimit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func(o *Options) { o.SignupsPerMinute = 2 })
	for i := 0; i < 2; i++ {
		if err := f.store.CheckSignupRate(ctx, "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, f.store.CheckSignupRate(ctx, "192.0.2.1"), ErrRateLimited)
	if err := f.store.CheckSignupRate(ctx, "192.0.2.2"); err != nil {
		t.Fatalf("another address: %v", err)
	}
	f.clock.Advance(time.Minute)
	if err := f.store.CheckSignupRate(ctx, "192.0.2.1"); err != nil {
		t.Fatalf("next minute: %v", err)
	}
}

func TestRegisterKey(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	op, _ := f.signUp(t)
	other, _ := f.signUp(t)
	priv, k := f.register(t, op.ID)
	if k.ID != mustNewKey(t, priv).ID || k.Status != KeyActive || k.Operator != op.ID {
		t.Fatalf("key %+v", k)
	}
	if strings.Contains(string(k.JWK), `"d"`) {
		t.Fatal("a private part was stored")
	}
	stored, err := f.store.Key(ctx, k.ID)
	if err != nil || stored.ID != k.ID || string(stored.JWK) != string(k.JWK) {
		t.Fatalf("Key = %+v, %v", stored, err)
	}

	t.Run("a keyid is registered once, by anyone", func(t *testing.T) {
		_, err := f.store.RegisterKey(ctx, op.ID, f.proof(t, priv, op.ID))
		wantErr(t, err, ErrDuplicateKey)
		_, err = f.store.RegisterKey(ctx, other.ID, f.proof(t, priv, other.ID))
		wantErr(t, err, ErrDuplicateKey)
		if _, err := f.store.RevokeKey(ctx, op.ID, k.ID); err != nil {
			t.Fatal(err)
		}
		_, err = f.store.RegisterKey(ctx, other.ID, f.proof(t, priv, other.ID))
		wantErr(t, err, ErrDuplicateKey)
	})
	t.Run("a proof for another operator is refused", func(t *testing.T) {
		p := newPriv(t)
		_, err := f.store.RegisterKey(ctx, op.ID, f.proof(t, p, other.ID))
		wantErr(t, err, ErrBadProof)
	})
	t.Run("a stale proof is refused", func(t *testing.T) {
		p := f.proof(t, newPriv(t), op.ID)
		f.clock.Advance(ProofWindow + time.Second)
		_, err := f.store.RegisterKey(ctx, op.ID, p)
		wantErr(t, err, ErrBadProof)
	})
	t.Run("unknown operator", func(t *testing.T) {
		_, err := f.store.RegisterKey(ctx, "op_zzzzzzzzzzzzzzzz", f.proof(t, newPriv(t), "op_zzzzzzzzzzzzzzzz"))
		wantErr(t, err, ErrNotFound)
	})
	t.Run("a retried script call is idempotent", func(t *testing.T) {
		p := newPriv(t)
		key := mustNewKey(t, p)
		now := ms(f.clock.Now())
		keys := []string{keyKey(key.ID), opKeysKey(other.ID), opKey(other.ID)}
		for i := 0; i < 2; i++ {
			res, err := addKeyScript.Run(ctx, f.store.rdb, keys, key.ID, other.ID, string(key.JWK()), now, "0", now, 16, "call-1").StringSlice()
			if err != nil || res[0] != "ok" {
				t.Fatalf("call %d: %v %v", i, res, err)
			}
		}
	})
}

func TestKeyLimit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func(o *Options) { o.MaxKeys = 2 })
	op, _ := f.signUp(t)
	f.register(t, op.ID)
	_, k2 := f.register(t, op.ID)
	_, err := f.store.RegisterKey(ctx, op.ID, f.proof(t, newPriv(t), op.ID))
	wantErr(t, err, ErrLimit)
	if _, err := f.store.RevokeKey(ctx, op.ID, k2.ID); err != nil {
		t.Fatal(err)
	}
	f.register(t, op.ID) // a revoked key frees its place
}

func TestRotateKey(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	op, _ := f.signUp(t)
	_, old := f.register(t, op.ID)
	f.clock.Advance(time.Second)
	start := f.clock.Now()
	newKey, rotated, err := f.store.RotateKey(ctx, op.ID, f.proof(t, newPriv(t), op.ID), 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated) != 1 || rotated[0] != old.ID {
		t.Fatalf("rotated %v, want [%s]", rotated, old.ID)
	}
	got, _ := f.store.Key(ctx, old.ID)
	if got.Status != KeyRotated || !got.ValidUntil.Equal(start.Add(2*time.Hour)) {
		t.Fatalf("old key after rotation: %+v", got)
	}
	ids := func() []string {
		ks, err := f.store.UsableKeys(ctx, op.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range ks {
			out = append(out, k.ID)
		}
		return out
	}
	if u := ids(); len(u) != 2 {
		t.Fatalf("usable during the overlap: %v", u)
	}
	f.clock.Advance(2 * time.Hour)
	if u := ids(); len(u) != 1 || u[0] != newKey.ID {
		t.Fatalf("usable after the overlap: %v, want [%s]", u, newKey.ID)
	}
	all, _ := f.store.Keys(ctx, op.ID)
	if len(all) != 2 || all[0].ID != old.ID {
		t.Fatalf("Keys keeps the history, oldest first: %+v", all)
	}
	for _, bad := range []time.Duration{-time.Second, MaxOverlap + time.Second} {
		_, _, err := f.store.RotateKey(ctx, op.ID, f.proof(t, newPriv(t), op.ID), bad)
		wantErr(t, err, ErrInvalid)
	}
}

func TestRevokeKey(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	op, _ := f.signUp(t)
	other, _ := f.signUp(t)
	_, k := f.register(t, op.ID)
	_, err := f.store.RevokeKey(ctx, other.ID, k.ID)
	wantErr(t, err, ErrForbidden)
	got, err := f.store.RevokeKey(ctx, op.ID, k.ID)
	if err != nil || got.Status != KeyRevoked || got.Revoked.IsZero() {
		t.Fatalf("RevokeKey = %+v, %v", got, err)
	}
	if _, err := f.store.RevokeKey(ctx, op.ID, k.ID); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	_, err = f.store.RevokeKey(ctx, op.ID, "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U")
	wantErr(t, err, ErrNotFound)
	_, err = f.store.RevokeKey(ctx, op.ID, "../../etc")
	wantErr(t, err, ErrNotFound)
	if u, _ := f.store.UsableKeys(ctx, op.ID); len(u) != 0 {
		t.Fatalf("revoked key still usable: %+v", u)
	}
}

func TestSuspendedOperatorCannotAddKeysOrAgents(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func(o *Options) { o.AllowHTTPLoopbackAgents = true })
	op, _ := f.signUp(t)
	_, k := f.register(t, op.ID)
	if got, err := f.store.SetStatus(ctx, op.ID, StatusSuspended); err != nil || got.Status != StatusSuspended {
		t.Fatalf("SetStatus = %+v, %v", got, err)
	}
	_, err := f.store.RegisterKey(ctx, op.ID, f.proof(t, newPriv(t), op.ID))
	wantErr(t, err, ErrSuspended)
	_, err = f.store.RegisterAgent(ctx, op.ID, "https://signer.example")
	wantErr(t, err, ErrSuspended)
	_, err = f.store.SetBilling(ctx, op.ID, Billing{Rail: RailStripe, DailyCap: 1_000_000, DefaultMaxPrice: 10_000})
	wantErr(t, err, ErrSuspended)
	if _, err := f.store.RevokeKey(ctx, op.ID, k.ID); err != nil {
		t.Fatalf("a suspended operator can still revoke: %v", err)
	}
	if _, err := f.store.SetStatus(ctx, op.ID, StatusActive); err != nil {
		t.Fatal(err)
	}
	f.register(t, op.ID)
	_, err = f.store.SetStatus(ctx, "op_zzzzzzzzzzzzzzzz", StatusSuspended)
	wantErr(t, err, ErrNotFound)
	_, err = f.store.SetStatus(ctx, op.ID, "deleted")
	wantErr(t, err, ErrInvalid)
}

func TestListOperators(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	var ids []string
	for i := 0; i < 3; i++ {
		op, _ := f.signUp(t)
		ids = append(ids, op.ID)
		f.clock.Advance(time.Second)
	}
	ops, total, err := f.store.ListOperators(ctx, 1, 10)
	if err != nil || total != 3 || len(ops) != 2 || ops[0].ID != ids[1] || ops[1].ID != ids[2] {
		t.Fatalf("ListOperators = %+v, %d, %v", ops, total, err)
	}
	_, _, err = f.store.ListOperators(ctx, 0, 0)
	wantErr(t, err, ErrInvalid)
	_, _, err = f.store.ListOperators(ctx, math.MaxInt, 10)
	wantErr(t, err, ErrInvalid)
}

func TestSetBilling(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	op, _ := f.signUp(t)
	other, _ := f.signUp(t)
	stripeReq := Billing{Rail: RailStripe, DailyCap: 5_000_000, DefaultMaxPrice: 50_000}

	b, err := f.store.SetBilling(ctx, op.ID, stripeReq)
	if err != nil || b.StripeCustomerID != "cus_test1" || b.Currency != "USD" {
		t.Fatalf("SetBilling = %+v, %v", b, err)
	}
	got, _ := f.store.Operator(ctx, op.ID)
	if got.Billing == nil || *got.Billing != *b {
		t.Fatalf("stored %+v, want %+v", got.Billing, b)
	}
	// Setting it again keeps the customer instead of creating another.
	if b, err = f.store.SetBilling(ctx, op.ID, stripeReq); err != nil || b.StripeCustomerID != "cus_test1" || f.customers.created != 1 {
		t.Fatalf("again: %+v, %v, %d customers", b, err, f.customers.created)
	}
	// Another operator's customer cannot be named.
	req := stripeReq
	req.StripeCustomerID = "cus_test1"
	_, err = f.store.SetBilling(ctx, other.ID, req)
	wantErr(t, err, ErrInvalidBilling)
	req.StripeCustomerID = "cus_unknown"
	_, err = f.store.SetBilling(ctx, other.ID, req)
	wantErr(t, err, ErrInvalidBilling)
	// Switching to evm (with the wallet's proof) keeps amounts exact.
	wkey, wallet := newWalletKey(t)
	evm := Billing{Rail: RailEVM, Wallet: strings.ToLower(wallet), WalletProof: signWallet(t, wkey, op.ID, testDomain, f.clock.Now()),
		DailyCap: money.Micros(1_234_567), DefaultMaxPrice: 1}
	if b, err = f.store.SetBilling(ctx, op.ID, evm); err != nil || b.Wallet != wallet || b.DailyCap != 1_234_567 || b.Currency != "USDC" {
		t.Fatalf("evm: %+v, %v", b, err)
	}
	// Back to stripe: the same customer, not a new one.
	if b, err = f.store.SetBilling(ctx, op.ID, stripeReq); err != nil || b.StripeCustomerID != "cus_test1" || f.customers.created != 1 {
		t.Fatalf("back to stripe: %+v, %v, %d customers", b, err, f.customers.created)
	}
	// A provider failure is reported as such.
	f.customers.fail = errors.New("boom")
	third, _ := f.signUp(t)
	_, err = f.store.SetBilling(ctx, third.ID, stripeReq)
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("provider failure: %v", err)
	}
	_, err = f.store.SetBilling(ctx, "op_zzzzzzzzzzzzzzzz", stripeReq)
	wantErr(t, err, ErrNotFound)
}

func TestStripeRailNeedsCustomers(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Customers = nil })
	op, _ := f.signUp(t)
	_, err := f.store.SetBilling(context.Background(), op.ID, Billing{Rail: RailStripe, DailyCap: 5_000_000, DefaultMaxPrice: 50_000})
	wantErr(t, err, ErrBillingProvider)
	wantErr(t, err, ErrRailNotConfigured) // the API answers 400 rail_not_configured, not a provider failure
}

func TestAgents(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, func(o *Options) { o.MaxAgents = 2 })
	op, _ := f.signUp(t)
	other, _ := f.signUp(t)
	if got := f.store.HostedAgentURL(op.ID); got != testBase+"/agents/"+op.ID {
		t.Fatalf("hosted agent URL %s", got)
	}
	if id, ok := f.store.HostedOperator(testBase + "/agents/" + op.ID); !ok || id != op.ID {
		t.Fatalf("HostedOperator = %q %v", id, ok)
	}
	for _, u := range []string{testBase + "/agents/" + op.ID + "/", testBase + "/agents/op_x", "https://other.example/agents/" + op.ID} {
		if _, ok := f.store.HostedOperator(u); ok {
			t.Errorf("HostedOperator(%q) = true", u)
		}
	}
	if _, err := f.store.RegisterAgent(ctx, op.ID, "https://signer.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.RegisterAgent(ctx, op.ID, "https://signer.example"); err != nil {
		t.Fatalf("registering one's own agent again: %v", err)
	}
	_, err := f.store.RegisterAgent(ctx, other.ID, "https://signer.example")
	wantErr(t, err, ErrAgentTaken)
	if _, err := f.store.RegisterAgent(ctx, op.ID, "https://signer.example/jwks.json"); err != nil {
		t.Fatal(err)
	}
	_, err = f.store.RegisterAgent(ctx, op.ID, "https://third.example")
	wantErr(t, err, ErrLimit)
	agents, err := f.store.Agents(ctx, op.ID)
	if err != nil || len(agents) != 3 || !agents[0].Hosted || agents[1].URL != "https://signer.example" {
		t.Fatalf("Agents = %+v, %v", agents, err)
	}
	id, hosted, err := f.store.AgentOperator(ctx, "https://signer.example/jwks.json")
	if err != nil || hosted || id != op.ID {
		t.Fatalf("AgentOperator = %q %v %v", id, hosted, err)
	}
	_, _, err = f.store.AgentOperator(ctx, "https://unknown.example")
	wantErr(t, err, ErrNotFound)
}

func TestValidateAgentURL(t *testing.T) {
	f := newFixture(t, nil)
	loop := newFixture(t, func(o *Options) { o.AllowHTTPLoopbackAgents = true })
	tests := []struct {
		url      string
		ok, loop bool
	}{
		{"https://signer.example", true, true},
		{"https://signer.example/.well-known/http-message-signatures-directory", true, true},
		{"http://signer.example", false, false},
		{"http://127.0.0.1:8080/jwks", false, true},
		{"http://localhost:8080", false, true},
		{"ftp://signer.example", false, false},
		{"https://user@signer.example", false, false},
		{"https://signer.example/?q=1", false, false},
		{"https://signer.example/#frag", false, false},
		{"https://Signer.Example", false, false},
		{"signer.example", false, false},
		{"", false, false},
		{"https://signer.example/" + strings.Repeat("a", 600), false, false},
		{testBase + "/agents/op_abcdefghijklmnop", false, false},
		{testBase, false, false},
	}
	for _, tt := range tests {
		if err := f.store.ValidateAgentURL(context.Background(), tt.url); (err == nil) != tt.ok {
			t.Errorf("ValidateAgentURL(%q) = %v, want ok=%v", tt.url, err, tt.ok)
		} else if err != nil {
			wantErr(t, err, ErrInvalidAgent)
		}
		if err := loop.store.ValidateAgentURL(context.Background(), tt.url); (err == nil) != tt.loop {
			t.Errorf("with loopback http: ValidateAgentURL(%q) = %v, want ok=%v", tt.url, err, tt.loop)
		}
	}
}

func TestRedisDownIsUnavailable(t *testing.T) {
	f := newFixture(t, nil)
	op, token := f.signUp(t)
	rdb := redis.NewClient(&redis.Options{Addr: f.srv.Addr(), DialTimeout: 200 * time.Millisecond, DialerRetries: 1, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	f.store.rdb = rdb
	f.srv.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := f.store.Authenticate(ctx, token)
	wantErr(t, err, ErrUnavailable)
	_, err = f.store.Operator(ctx, op.ID)
	wantErr(t, err, ErrUnavailable)
}
