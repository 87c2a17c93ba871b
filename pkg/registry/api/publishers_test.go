package api

import (
	"context"
	"net/http"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

// TestPublisherAccessByToken: the admin creates and reaches every account;
// a publisher's token reaches its own only; operator tokens none; and only
// the admin changes a fee.
func TestPublisherAccessByToken(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	admin := e.client(adminToken)
	a, err := admin.CreatePublisher(ctx, keydir.PublisherCreateRequest{ID: "pub_news", Name: "News", Contact: "money@news.example",
		MinimumPayout: "10.00", FeeBPS: 250, Hosts: []string{"News.Example."}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Publisher.ID != "pub_news" || a.Publisher.FeeBPS != 250 || a.Publisher.MinimumPayout != "10.00" || a.Token == "" ||
		len(a.Publisher.Hosts) != 1 || a.Publisher.Hosts[0] != "news.example" {
		t.Fatalf("created %+v", a)
	}
	b, err := admin.CreatePublisher(ctx, keydir.PublisherCreateRequest{Name: "Blog", Contact: "me@blog.example"})
	if err != nil {
		t.Fatal(err)
	}
	op := e.signUp("crawler")
	body := keydir.PublisherCreateRequest{ID: "pub_x", Name: "X", Contact: "x@x.example"}
	e.wantError(http.StatusConflict, "exists", "POST", "/v1/admin/publishers", adminToken,
		keydir.PublisherCreateRequest{ID: "pub_news", Name: "N", Contact: "n@news.example"})
	e.wantError(http.StatusForbidden, "forbidden", "POST", "/v1/admin/publishers", op.token, body)
	e.wantError(http.StatusUnauthorized, "unauthorized", "POST", "/v1/admin/publishers", a.Token, body)
	e.wantError(http.StatusBadRequest, "invalid_request", "POST", "/v1/admin/publishers", adminToken,
		keydir.PublisherCreateRequest{ID: "pub_x", Name: "X", Contact: "x@x.example", FeeBPS: 10_001})

	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
	}{
		{"no token", "GET", "/v1/publishers/me", "", nil, 401, "unauthorized"},
		{"operator token", "GET", "/v1/publishers/pub_news", op.token, nil, 403, "forbidden"},
		{"another publisher", "GET", "/v1/publishers/pub_news", b.Token, nil, 403, "forbidden"},
		{"another publisher edits", "PATCH", "/v1/publishers/pub_news", b.Token, map[string]any{"name": "mine"}, 403, "forbidden"},
		{"own fee", "PATCH", "/v1/publishers/me", a.Token, map[string]any{"fee_bps": 0}, 403, "forbidden"},
		{"own hosts", "PATCH", "/v1/publishers/me", b.Token, map[string]any{"hosts": []string{"blog.example"}}, 403, "forbidden"},
		{"another's host", "PATCH", "/v1/publishers/" + b.Publisher.ID, adminToken, map[string]any{"hosts": []string{"news.example:8443"}}, 409, "host_taken"},
		{"another's host at creation", "POST", "/v1/admin/publishers", adminToken,
			map[string]any{"id": "pub_copy", "name": "Copy", "contact": "c@copy.example", "hosts": []string{"NEWS.example"}}, 409, "host_taken"},
		{"bad host", "PATCH", "/v1/publishers/" + b.Publisher.ID, adminToken, map[string]any{"hosts": []string{"blog.example/x"}}, 400, "invalid_request"},
		{"admin as me", "GET", "/v1/publishers/me", adminToken, nil, 400, "invalid_request"},
		{"unknown", "GET", "/v1/publishers/pub_nobody", adminToken, nil, 404, "not_found"},
		{"bad minimum", "PATCH", "/v1/publishers/me", a.Token, map[string]any{"minimum_payout": "1.0000001"}, 400, "invalid_request"},
		{"bad account", "PATCH", "/v1/publishers/me", a.Token, map[string]any{"payout": map[string]any{"rail": "stripe", "stripe_account": "cus_1"}}, 400, "invalid_request"},
		{"unproven wallet", "PATCH", "/v1/publishers/me", a.Token,
			map[string]any{"payout": map[string]any{"rail": "evm", "wallet": testDomain.Settler}}, 400, "wallet_proof_required"},
		{"list as publisher", "GET", "/v1/admin/publishers", a.Token, nil, 401, "unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.wantError(tc.status, tc.code, tc.method, tc.path, tc.token, tc.body)
		})
	}

	me, err := e.client(a.Token).Publisher(ctx, "me")
	if err != nil || me.ID != "pub_news" {
		t.Fatalf("me: %+v %v", me, err)
	}
	name := "News Corp"
	got, err := e.client(a.Token).UpdatePublisher(ctx, "pub_news", keydir.PublisherPatchRequest{Name: &name,
		Payout: &registry.PayoutJSON{Rail: "stripe", StripeAccount: "acct_1News"}})
	if err != nil || got.Name != name || got.Currency != "USD" || got.FeeBPS != 250 {
		t.Fatalf("own edit: %+v %v", got, err)
	}
	zero := int64(0)
	if got, err = admin.UpdatePublisher(ctx, "pub_news", keydir.PublisherPatchRequest{FeeBPS: &zero}); err != nil || got.FeeBPS != 0 {
		t.Fatalf("admin fee: %+v %v", got, err)
	}
	hosts := []string{"blog.example", "www.blog.example"}
	if got, err = admin.UpdatePublisher(ctx, b.Publisher.ID, keydir.PublisherPatchRequest{Hosts: &hosts}); err != nil || len(got.Hosts) != 2 {
		t.Fatalf("admin hosts: %+v %v", got, err)
	}
	list, err := admin.Publishers(ctx)
	if err != nil || len(list.Publishers) != 2 {
		t.Fatalf("list: %+v %v", list, err)
	}
	rot, err := admin.RotatePublisherToken(ctx, "pub_news")
	if err != nil {
		t.Fatal(err)
	}
	e.wantError(http.StatusUnauthorized, "unauthorized", "GET", "/v1/publishers/me", a.Token, nil)
	if me, err := e.client(rot.Token).Publisher(ctx, "me"); err != nil || me.ID != "pub_news" {
		t.Fatalf("rotated: %+v %v", me, err)
	}
}

// TestPayoutWalletProofOverHTTP: the publisher asks for the message, the
// wallet signs it, and the proven wallet becomes the payout method.
func TestPayoutWalletProofOverHTTP(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	created, err := e.client(adminToken).CreatePublisher(ctx, keydir.PublisherCreateRequest{ID: "pub_chain", Name: "Chain", Contact: "c@chain.example"})
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(created.Token)
	key, addr := newWalletKey(t)
	claim, err := c.PayoutWalletClaim(ctx, "me", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := claim.Proof.Parse(); err == nil {
		t.Fatal("an unsigned claim parsed as a proof")
	}
	issued, err := registry.ParseIssuedAt(claim.Proof.IssuedAt)
	if err != nil {
		t.Fatal(err)
	}
	wc := registry.WalletClaim{Purpose: registry.WalletPurpose(claim.Proof.Purpose), Account: claim.Proof.Account, Wallet: claim.Proof.Wallet,
		ChainID: claim.Proof.ChainID, Settler: claim.Proof.Settler, IssuedAt: issued}
	if string(wc.Message()) != claim.Message || wc.Purpose != registry.WalletReceives || wc.Account != "pub_chain" {
		t.Fatalf("claim %+v does not rebuild its message", claim)
	}
	proof, err := registry.SignWalletProof(key, wc)
	if err != nil {
		t.Fatal(err)
	}
	pj := proof.JSON()
	got, err := c.UpdatePublisher(ctx, "me", keydir.PublisherPatchRequest{Payout: &registry.PayoutJSON{Rail: "evm", Wallet: addr, WalletProof: &pj}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Payout == nil || got.Payout.Wallet != addr || got.Currency != "USDC" || got.Payout.WalletProof == nil || got.Payout.WalletProof.VerifiedAt == "" {
		t.Fatalf("payout %+v", got.Payout)
	}
}
