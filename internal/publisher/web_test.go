package publisher

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/internal/testredis"
	"github.com/paycrawl/paycrawl/pkg/earnings"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/registry"
)

// goodToken is oneAccount's token in the shape of a publisher token.
var goodToken = "pcp_" + strings.Repeat("A", 43)

// oneAccount is an Accounts of one publisher and its token, for the tests
// of the API's answers (TestSessionEndsWithItsToken uses the real
// registry).
type oneAccount struct{ token string }

func (a oneAccount) CurrentPublisherTokenFingerprint(_ context.Context, id string) (string, error) {
	if id != "pub_a" {
		return "", fmt.Errorf("%w: %s", registry.ErrNotFound, id)
	}
	return registry.PublisherTokenFingerprint(a.token)
}

func (a oneAccount) AuthenticatePublisher(_ context.Context, tok string) (*registry.Publisher, error) {
	if tok == "pcp_down" {
		return nil, fmt.Errorf("%w: dial tcp: connection refused", registry.ErrUnavailable)
	}
	if tok != a.token {
		return nil, registry.ErrUnauthorized
	}
	return &registry.Publisher{ID: "pub_a", Name: "A"}, nil
}

func (a oneAccount) Publisher(_ context.Context, id string) (*registry.Publisher, error) {
	if id != "pub_a" {
		return nil, fmt.Errorf("%w: %s", registry.ErrNotFound, id)
	}
	return &registry.Publisher{ID: "pub_a", Name: "A"}, nil
}

// newBook starts a redis-server and returns its client and an earnings
// book on it (no fee).
func newBook(t *testing.T) (*goredis.Client, *earnings.Book) {
	t.Helper()
	rdb := testredis.Start(t, testredis.Options{NoAOF: true}).Client()
	l, err := ledger.New(rdb, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	book, err := earnings.New(earnings.Options{Redis: rdb, Ledger: l, Fees: earnings.FixedFee(0)})
	if err != nil {
		t.Fatal(err)
	}
	return rdb, book
}

func TestStatementAnswers(t *testing.T) {
	_, book := newBook(t)
	s, err := New(Options{Book: book, Accounts: oneAccount{token: goodToken}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Routes(mux)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	for _, tc := range []struct {
		name, query, auth string
		status            int
		want              string
	}{
		{"no token", "", "", 401, `"unauthorized"`},
		{"another token", "", "Bearer pcp_bad", 401, `"unauthorized"`},
		{"not a bearer", "", "Basic " + goodToken, 401, `"unauthorized"`},
		{"two tokens", "", "Bearer " + goodToken + " " + goodToken, 401, `"unauthorized"`},
		{"scheme in lower case", "?month=2026-11", "bearer " + goodToken, 200, `"publisher": "pub_a"`},
		{"registry down", "", "Bearer pcp_down", 503, `"unavailable"`},
		{"bad month", "?month=2026-13", "Bearer " + goodToken, 400, `"invalid_month"`},
		{"bad format", "?month=2026-11&format=xml", "Bearer " + goodToken, 400, `"invalid_format"`},
		{"json", "?month=2026-11", "Bearer " + goodToken, 200, `"publisher": "pub_a"`},
		{"csv", "?month=2026-11&format=csv", "Bearer " + goodToken, 200, "section,key,name,currency,requests,gross,credits,voids,refunds,chargebacks,fee,net,paid_out,status,reference"},
		{"html", "?month=2026-11&format=html", "Bearer " + goodToken, 200, "Statement: A (pub_a)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", ts.URL+"/v1/publisher/statement"+tc.query, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(raw), tc.want) {
				t.Fatalf("%d %s", resp.StatusCode, raw)
			}
		})
	}
}

func TestFormatMoney(t *testing.T) {
	for _, tc := range []struct {
		m    money.Micros
		want string
	}{
		{0, "USD\u00a00.00"},
		{1_234_567_890_000, "USD\u00a01,234,567.89"},
		{-1_500_000, "USD\u00a0-1.50"},
		{1, "USD\u00a00.000001"},
	} {
		if got := formatMoney("USD", tc.m); got != tc.want {
			t.Errorf("formatMoney(%d) = %q, want %q", tc.m, got, tc.want)
		}
	}
}
