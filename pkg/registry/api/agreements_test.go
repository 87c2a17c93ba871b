package api

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/registry"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

type agrEnv struct {
	*env
	news, blog string // publisher tokens of pub_news and pub_blog
	op, other  operator
}

func newAgrEnv(t *testing.T) *agrEnv {
	t.Helper()
	e := &agrEnv{env: newEnv(t, envOptions{now: true})}
	ctx := context.Background()
	for _, id := range []string{"pub_news", "pub_blog"} {
		host := strings.TrimPrefix(id, "pub_") + ".example"
		p, err := e.client(adminToken).CreatePublisher(ctx, keydir.PublisherCreateRequest{ID: id, Name: id, Contact: "money@" + id + ".example",
			Hosts: []string{host}})
		if err != nil {
			t.Fatal(err)
		}
		if id == "pub_news" {
			e.news = p.Token
		} else {
			e.blog = p.Token
		}
	}
	e.op, e.other = e.withKey("crawler"), e.withKey("other")
	return e
}

func (e *agrEnv) offerBody() agreement.Agreement {
	return agreement.Agreement{Account: e.op.id, Currency: "USD", Scope: []agreement.Site{{Host: "news.example", Paths: []string{"/archive/"}}},
		ValidFrom: e.clock.Now(),
		Terms: agreement.Terms{Kind: agreement.KindSubscription, Subscription: &agreement.Subscription{
			Period: agreement.PeriodMonth, Fee: 100_000_000, Included: 1000, HardStop: true}}}
}

func (e *agrEnv) offer(token string, a agreement.Agreement) *agreement.Agreement {
	e.t.Helper()
	got, err := e.client(token).OfferAgreement(context.Background(), a)
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

func (e *agrEnv) sign(op operator, a *agreement.Agreement) agreement.Acceptance {
	e.t.Helper()
	acc, err := agreement.SignAcceptance(op.priv, a, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return acc
}

func TestAgreementOfferAndAccept(t *testing.T) {
	e := newAgrEnv(t)
	ctx := context.Background()
	offered := e.offer(e.news, e.offerBody())
	if offered.Publisher != "pub_news" || offered.Version != 1 || offered.State != agreement.StateOffered {
		t.Fatalf("offered %+v", offered)
	}
	// The operator sees it, reads it back and its canonical bytes are the
	// publisher's: what it signs is what was offered.
	list, err := e.client(e.op.token).Offers(ctx, keydir.OffersQuery{})
	if err != nil || len(list.Agreements) != 1 || list.Total != 1 {
		t.Fatalf("operator's offers: %+v, %v", list, err)
	}
	if acc, err := e.client(e.op.token).Agreements(ctx); err != nil || len(acc.Agreements) != 0 {
		t.Fatalf("operator's accepted agreements before accepting: %+v, %v", acc, err)
	}
	got, err := e.client(e.op.token).Agreement(ctx, offered.ID)
	if err != nil || len(got.Versions) != 1 || string(got.Versions[0].Canonical()) != string(offered.Canonical()) {
		t.Fatalf("operator's view: %+v, %v", got, err)
	}
	v := got.Versions[0]
	accepted, err := e.client(e.op.token).AcceptAgreement(ctx, v.ID, v.Version, e.sign(e.op, &v))
	if err != nil {
		t.Fatal(err)
	}
	if accepted.State != agreement.StateAccepted || accepted.Acceptance == nil || accepted.Acceptance.KeyID != e.op.keyID {
		t.Fatalf("accepted %+v", accepted)
	}
	if acc, err := e.client(e.op.token).Agreements(ctx); err != nil || len(acc.Agreements) != 1 || acc.Agreements[0].State != agreement.StateAccepted {
		t.Fatalf("operator's accepted agreements: %+v, %v", acc, err)
	}
	if offers, err := e.client(e.op.token).Offers(ctx, keydir.OffersQuery{}); err != nil || len(offers.Agreements) != 0 {
		t.Fatalf("operator's offers after accepting: %+v, %v", offers, err)
	}
	// The gateway's read sees it in force from its acceptance, rounded up
	// to the second.
	at := accepted.DecidedAt
	if at.Before(e.clock.Now()) || at.Sub(e.clock.Now()) >= time.Second {
		t.Fatalf("accepted at %s, now %s", at, e.clock.Now())
	}
	inForce, err := e.store.AgreementsInForce(ctx, e.op.id, at)
	if err != nil || agreement.InForce(inForce, e.op.id, "pub_news", "news.example", "/archive/2026", at) == nil {
		t.Fatalf("in force: %+v, %v", inForce, err)
	}
	// The publisher and finance see the acceptance.
	pub, err := e.client(e.news).PublisherAgreements(ctx)
	if err != nil || len(pub.Agreements) != 1 || pub.Agreements[0].State != agreement.StateAccepted {
		t.Fatalf("publisher's list: %+v, %v", pub, err)
	}
	fin, err := e.client(financeToken).AllAgreements(ctx, 0, 10)
	if err != nil || fin.Total != 1 || len(fin.Agreements) != 1 || fin.Agreements[0].Acceptance == nil {
		t.Fatalf("finance list: %+v, %v", fin, err)
	}
	if one, err := e.client(adminToken).AnyAgreement(ctx, v.ID); err != nil || len(one.Versions) != 1 {
		t.Fatalf("admin read: %+v, %v", one, err)
	}
	// A replayed acceptance is refused.
	e.wantError(http.StatusConflict, "agreement_not_offered", "POST", "/v1/agreements/"+v.ID+"/versions/1/accept", e.op.token,
		accepted.Acceptance.JSON())
	// A second agreement on the same scope overlaps.
	e.wantError(http.StatusConflict, "agreement_overlap", "POST", "/v1/publishers/me/agreements", e.news, e.offerBody())

	// Version 2 from next month; the operator declines it, v1 stays.
	next := e.offerBody()
	next.ID = v.ID
	next.ValidFrom = e.clock.Now().Add(30 * 24 * time.Hour)
	v2 := e.offer(e.news, next)
	if v2.Version != 2 {
		t.Fatalf("second version is %d", v2.Version)
	}
	if d, err := e.client(e.op.token).DeclineAgreement(ctx, v2.ID, 2); err != nil || d.State != agreement.StateDeclined {
		t.Fatalf("decline: %+v, %v", d, err)
	}
	if inForce, _ := e.store.AgreementsInForce(ctx, e.op.id, e.clock.Now()); len(inForce) != 1 || inForce[0].Version != 1 {
		t.Fatalf("after the decline in force: %+v", inForce)
	}
}

// TestAgreementAccessByToken: who may do what, and the machine-readable
// code of every refusal.
func TestAgreementAccessByToken(t *testing.T) {
	e := newAgrEnv(t)
	a := e.offer(e.news, e.offerBody())
	mine := "/v1/publishers/me/agreements"
	theirs := mine + "/" + a.ID
	forOther := e.offerBody()
	forOther.Publisher = "pub_news"
	withState := e.offerBody()
	withState.State = agreement.StateAccepted
	blogBody := e.offerBody()
	blogBody.Scope = []agreement.Site{{Host: "blog.example"}}
	withDigest := e.offerBody()
	withDigest.ContentSHA256 = withDigest.ContentDigest()
	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
	}{
		{"offer without token", "POST", mine, "", e.offerBody(), 401, "unauthorized"},
		{"offer with the admin token", "POST", mine, adminToken, e.offerBody(), 403, "forbidden"},
		{"offer with an operator token", "POST", mine, e.op.token, e.offerBody(), 403, "forbidden"},
		{"offer with the finance token", "POST", mine, financeToken, e.offerBody(), 401, "unauthorized"},
		{"offer for another publisher", "POST", mine, e.blog, forOther, 403, "forbidden"},
		{"version of another publisher's agreement", "POST", theirs, e.blog, blogBody, 403, "forbidden"},
		{"offer for another publisher's host", "POST", mine, e.news, blogBody, 403, "host_not_yours"},
		{"offer for a host nobody holds", "POST", mine, e.news, `{"account":"` + e.op.id + `","currency":"USD","valid_from":"2030-01-01T00:00:00Z",` +
			`"scope":[{"host":"nobody.example"}],"terms":{"kind":"rate","rate":{"discount_bps":200}}}`, 403, "host_not_yours"},
		{"a version naming another publisher's host", "POST", theirs, e.news, `{"account":"` + e.op.id + `","currency":"USD","valid_from":"2030-01-01T00:00:00Z",` +
			`"scope":[{"host":"news.example"},{"host":"Blog.Example."}],"terms":{"kind":"rate","rate":{"discount_bps":200}}}`, 403, "host_not_yours"},
		{"read another publisher's agreement", "GET", theirs, e.blog, nil, 404, "not_found"},
		{"withdraw another publisher's offer", "POST", theirs + "/versions/1/withdraw", e.blog, nil, 403, "forbidden"},
		{"offer with state", "POST", mine, e.news, withState, 400, "invalid_request"},
		{"offer with a digest", "POST", mine, e.news, withDigest, 400, "invalid_request"},
		{"offers in state accepted", "GET", "/v1/offers?state=accepted", e.op.token, nil, 400, "invalid_request"},
		{"offers bad limit", "GET", "/v1/offers?limit=1001", e.op.token, nil, 400, "invalid_request"},
		{"offers without token", "GET", "/v1/offers", "", nil, 401, "unauthorized"},
		{"publisher's offers to a bad account", "GET", "/v1/publishers/me/offers?account=pub_x", e.news, nil, 400, "invalid_request"},
		{"publisher's offers with the admin token", "GET", "/v1/publishers/me/offers", adminToken, nil, 403, "forbidden"},
		{"offer with a misspelt field", "POST", mine, e.news, `{"account":"` + e.op.id + `","valid_untill":"2030-01-01T00:00:00Z"}`, 400, "invalid_json"},
		{"offer with bad terms", "POST", mine, e.news, `{"account":"` + e.op.id + `","currency":"USD","valid_from":"2030-01-01T00:00:00Z",` +
			`"scope":[{"host":"news.example"}],"terms":{"kind":"rate","rate":{"discount_bps":20000}}}`, 400, "invalid_agreement"},
		{"offer to an unknown account", "POST", mine, e.news, `{"account":"op_zzzzzzzzzzzzzzzz","currency":"USD","valid_from":"2030-01-01T00:00:00Z",` +
			`"scope":[{"host":"news.example"}],"terms":{"kind":"rate","rate":{"discount_bps":200}}}`, 404, "not_found"},
		{"body id differs from the path", "POST", theirs, e.news, `{"id":"agr_zzzzzzzzzzzzzzzz"}`, 400, "invalid_request"},
		{"another operator reads", "GET", "/v1/agreements/" + a.ID, e.other.token, nil, 404, "not_found"},
		{"another operator accepts", "POST", "/v1/agreements/" + a.ID + "/versions/1/accept", e.other.token,
			e.sign(e.other, a).JSON(), 403, "forbidden"},
		{"another operator declines", "POST", "/v1/agreements/" + a.ID + "/versions/1/decline", e.other.token, nil, 403, "forbidden"},
		{"accept with another account's key", "POST", "/v1/agreements/" + a.ID + "/versions/1/accept", e.op.token,
			e.sign(e.other, a).JSON(), 400, "bad_acceptance"},
		{"accept with a bad version", "POST", "/v1/agreements/" + a.ID + "/versions/01/accept", e.op.token, e.sign(e.op, a).JSON(), 400, "invalid_request"},
		{"accept without signature", "POST", "/v1/agreements/" + a.ID + "/versions/1/accept", e.op.token,
			map[string]string{"key_id": e.op.keyID, "signed_at": "now"}, 400, "bad_acceptance"},
		{"finance list with an operator token", "GET", "/v1/finance/agreements", e.op.token, nil, 401, "unauthorized"},
		{"finance list with a publisher token", "GET", "/v1/finance/agreements", e.news, nil, 401, "unauthorized"},
		{"finance list bad limit", "GET", "/v1/finance/agreements?limit=0", financeToken, nil, 400, "invalid_request"},
		{"unknown agreement", "GET", "/v1/finance/agreements/agr_zzzzzzzzzzzzzzzz", financeToken, nil, 404, "not_found"},
		{"settlement period unknown", "PUT", "/v1/operators/me/settlement-period", e.op.token, map[string]string{"settlement_period": "yearly"}, 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.wantError(tc.status, tc.code, tc.method, tc.path, tc.token, tc.body)
		})
	}
	// None of it changed the offer.
	if v, err := e.store.AgreementVersion(context.Background(), a.ID, 1); err != nil || v.State != agreement.StateOffered {
		t.Fatalf("after the refusals: %+v, %v", v, err)
	}
}

// TestAgreementAcceptanceProofs: the acceptance must be fresh, by a usable
// key of the account, over this very version.
func TestAgreementAcceptanceProofs(t *testing.T) {
	e := newAgrEnv(t)
	ctx := context.Background()
	a := e.offer(e.news, e.offerBody())
	path := "/v1/agreements/" + a.ID + "/versions/1/accept"

	// Bytes of another version (or of changed terms) do not verify.
	other := *a
	other.Version = 2
	e.wantError(http.StatusBadRequest, "bad_acceptance", "POST", path, e.op.token, e.sign(e.op, &other).JSON())
	changed := *a
	sub := *a.Terms.Subscription
	sub.Included = 1_000_000
	changed.Terms.Subscription = &sub
	e.wantError(http.StatusBadRequest, "bad_acceptance", "POST", path, e.op.token, e.sign(e.op, &changed).JSON())

	// A stale signature.
	old := e.sign(e.op, a)
	e.clock.Advance(agreement.AcceptanceWindow + time.Second)
	e.wantError(http.StatusBadRequest, "acceptance_stale", "POST", path, e.op.token, old.JSON())

	// A revoked key.
	if _, err := e.client(e.op.token).RevokeKey(ctx, e.op.keyID); err != nil {
		t.Fatal(err)
	}
	e.wantError(http.StatusBadRequest, "key_unusable", "POST", path, e.op.token, e.sign(e.op, a).JSON())

	// A fresh key of the account works.
	fresh := e.op
	fresh.priv = newPriv(t)
	if _, err := e.client(e.op.token).RegisterKey(ctx, e.proof(fresh.priv, e.op.id)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client(e.op.token).AcceptAgreement(ctx, a.ID, 1, e.sign(fresh, a)); err != nil {
		t.Fatal(err)
	}
}

func TestAgreementWithdrawAndSettlementPeriod(t *testing.T) {
	e := newAgrEnv(t)
	ctx := context.Background()
	a := e.offer(e.news, e.offerBody())
	w, err := e.client(e.news).WithdrawAgreement(ctx, a.ID, 1)
	if err != nil || w.State != agreement.StateWithdrawn {
		t.Fatalf("withdraw: %+v, %v", w, err)
	}
	_, err = e.client(e.op.token).AcceptAgreement(ctx, a.ID, 1, e.sign(e.op, a))
	var apiErr *keydir.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != "agreement_not_offered" {
		t.Fatalf("accepting a withdrawn offer: %v", err)
	}
	p, err := e.client(e.op.token).SetSettlementPeriod(ctx, agreement.SettleWeekly)
	if err != nil || p.SettlementPeriod != "weekly" {
		t.Fatalf("settlement period: %+v, %v", p, err)
	}
	if op, err := e.store.Operator(ctx, e.op.id); err != nil || op.Billing != nil {
		t.Fatalf("operator: %+v, %v", op, err) // no billing profile yet: the period waits beside it
	}
}

// TestAgreementAcceptanceMessage: a client that does not build the text
// itself signs what the server answers, and that acceptance holds.
func TestAgreementAcceptanceMessage(t *testing.T) {
	e := newAgrEnv(t)
	ctx := context.Background()
	a := e.offer(e.news, e.offerBody())
	msg, err := e.client(e.op.token).AcceptanceMessage(ctx, a.ID, 1, e.op.keyID)
	if err != nil {
		t.Fatal(err)
	}
	if want := agreement.AcceptanceMessage(a, e.op.keyID, e.clock.Now().UTC().Truncate(time.Second)); msg.Message != string(want) {
		t.Fatalf("message:\n%s\nwant:\n%s", msg.Message, want)
	}
	body := msg.Acceptance
	body.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(e.op.priv, []byte(msg.Message)))
	if status, raw, _ := e.call("POST", "/v1/agreements/"+a.ID+"/versions/1/accept", e.op.token, body); status != http.StatusOK {
		t.Fatalf("accept: %d %s", status, raw)
	}
	e.wantError(http.StatusNotFound, "not_found", "GET", "/v1/agreements/"+a.ID+"/versions/1/acceptance-message?key_id="+e.other.keyID, e.other.token, nil)
	e.wantError(http.StatusBadRequest, "invalid_request", "GET", "/v1/agreements/"+a.ID+"/versions/1/acceptance-message?key_id=x", e.op.token, nil)
}

// TestAgreementAcceptAfterHostMoved: the admin moves the offer's host to
// another publisher before the operator accepts: 409 host_moved, nothing
// accepted.
func TestAgreementAcceptAfterHostMoved(t *testing.T) {
	e := newAgrEnv(t)
	ctx := context.Background()
	a := e.offer(e.news, e.offerBody())
	admin := e.client(adminToken)
	none, moved := []string{}, []string{"blog.example", "news.example"}
	if _, err := admin.UpdatePublisher(ctx, "pub_news", keydir.PublisherPatchRequest{Hosts: &none}); err != nil {
		t.Fatal(err)
	}
	if p, err := admin.UpdatePublisher(ctx, "pub_blog", keydir.PublisherPatchRequest{Hosts: &moved}); err != nil || strings.Join(p.Hosts, " ") != "blog.example news.example" {
		t.Fatalf("moved: %+v, %v", p, err)
	}
	e.wantError(http.StatusConflict, "host_moved", "POST", "/v1/agreements/"+a.ID+"/versions/1/accept", e.op.token, e.sign(e.op, a).JSON())
	if v, err := e.store.AgreementVersion(ctx, a.ID, 1); err != nil || v.State != agreement.StateOffered {
		t.Fatalf("after the refusal: %+v, %v", v, err)
	}
}

// blogBody is e.offerBody on pub_blog's host.
func blogBody(e *agrEnv) agreement.Agreement {
	b := e.offerBody()
	b.Scope = []agreement.Site{{Host: "blog.example"}}
	return b
}

// TestTooManyOffers: past registry.MaxPendingOffers pending offers to one
// account, an offer is 409 too_many_offers; the offers lists page them,
// each party seeing its own only; a withdrawal makes room again. Fails
// without the cap (the offer is 201) or without the code in the error
// table (500).
func TestTooManyOffers(t *testing.T) {
	e := newAgrEnv(t)
	ctx := context.Background()
	var ids []string
	for i := 0; i < registry.MaxPendingOffers; i++ {
		ids = append(ids, e.offer(e.news, e.offerBody()).ID)
	}
	e.wantError(http.StatusConflict, "too_many_offers", "POST", "/v1/publishers/me/agreements", e.news, e.offerBody())
	// Another publisher has places of its own.
	e.offer(e.blog, blogBody(e))

	page, err := e.client(e.op.token).Offers(ctx, keydir.OffersQuery{Offset: 2, Limit: 3})
	if err != nil || page.Total != int64(registry.MaxPendingOffers)+1 || len(page.Agreements) != 3 {
		t.Fatalf("operator's offers, page 2-4: %+v, %v", page, err)
	}
	pub, err := e.client(e.news).PublisherOffers(ctx, keydir.OffersQuery{Account: e.op.id})
	if err != nil || pub.Total != int64(registry.MaxPendingOffers) {
		t.Fatalf("publisher's offers: %+v, %v", pub, err)
	}
	for _, a := range pub.Agreements {
		if a.Publisher != "pub_news" || a.State != agreement.StateOffered {
			t.Fatalf("publisher lists %+v", a)
		}
	}
	if other, err := e.client(e.other.token).Offers(ctx, keydir.OffersQuery{}); err != nil || other.Total != 0 || len(other.Agreements) != 0 {
		t.Fatalf("another operator's offers: %+v, %v", other, err)
	}

	if _, err := e.client(e.news).WithdrawAgreement(ctx, ids[0], 1); err != nil {
		t.Fatal(err)
	}
	e.offer(e.news, e.offerBody())
	w, err := e.client(e.news).PublisherOffers(ctx, keydir.OffersQuery{State: agreement.StateWithdrawn})
	if err != nil || w.Total != 1 || w.Agreements[0].ID != ids[0] || !w.Agreements[0].ContentDropped || w.Agreements[0].ContentSHA256 == "" {
		t.Fatalf("withdrawn offers: %+v, %v", w, err)
	}
}
