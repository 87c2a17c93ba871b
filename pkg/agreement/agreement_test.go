package agreement

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/money"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

const (
	idA  = "agr_aaaaaaaaaaaaaaaa"
	idB  = "agr_bbbbbbbbbbbbbbbb"
	acct = "op_cccccccccccccccc"
	pub  = "pub_news"
)

func rateTerms(r Rate) Terms { return Terms{Kind: KindRate, Rate: &r} }

func subTerms(s Subscription) Terms { return Terms{Kind: KindSubscription, Subscription: &s} }

func base() Agreement {
	return Agreement{ID: idA, Version: 1, Publisher: pub, Account: acct, Currency: "USD",
		Scope: []Site{{Host: "news.example"}}, ValidFrom: t0,
		Terms: rateTerms(Rate{Mode: RateDiscount, DiscountBPS: 2000})}
}

// accepted returns a marked accepted at `at`.
func accepted(a Agreement, at time.Time) Agreement {
	a.State, a.DecidedAt, a.Acceptance = StateAccepted, at, &Acceptance{KeyID: "k", SignedAt: at, Signature: "s"}
	return a
}

func TestValidate(t *testing.T) {
	overage := &Rate{Mode: RateFixed, Price: 1000}
	tests := []struct {
		name string
		edit func(*Agreement)
		want string // substring of the error; "" = valid
	}{
		{"valid rate", func(a *Agreement) {}, ""},
		{"valid subscription", func(a *Agreement) {
			a.Terms = subTerms(Subscription{Period: PeriodMonth, Fee: 100 * money.Scale, Included: 1000, Overage: overage})
		}, ""},
		{"valid prepaid", func(a *Agreement) {
			a.Terms = Terms{Kind: KindPrepaid, Prepaid: &Prepaid{Amount: 50 * money.Scale}}
		}, ""},
		{"bad id", func(a *Agreement) { a.ID = "agr_short" }, "id"},
		{"id of another kind", func(a *Agreement) { a.ID = "op_aaaaaaaaaaaaaaaa" }, "id"},
		{"version 0", func(a *Agreement) { a.Version = 0 }, "version"},
		{"version huge", func(a *Agreement) { a.Version = MaxVersion + 1 }, "version"},
		{"publisher upper", func(a *Agreement) { a.Publisher = "Pub" }, "publisher"},
		{"publisher empty", func(a *Agreement) { a.Publisher = "" }, "publisher"},
		{"account not op", func(a *Agreement) { a.Account = "pub_x" }, "account"},
		{"account with colon", func(a *Agreement) { a.Account = "op_a:b" }, "account"},
		{"currency lower", func(a *Agreement) { a.Currency = "usd" }, "currency"},
		{"no scope", func(a *Agreement) { a.Scope = nil }, "no site"},
		{"host with port", func(a *Agreement) { a.Scope = []Site{{Host: "news.example:443"}} }, "host"},
		{"host with space", func(a *Agreement) { a.Scope = []Site{{Host: "news example"}} }, "host"},
		{"host twice", func(a *Agreement) {
			a.Scope = []Site{{Host: "news.example"}, {Host: "NEWS.example", Paths: []string{"/a"}}}
		}, "twice"},
		{"path without slash", func(a *Agreement) { a.Scope = []Site{{Host: "news.example", Paths: []string{"docs"}}} }, "path"},
		{"path with space", func(a *Agreement) { a.Scope = []Site{{Host: "news.example", Paths: []string{"/a b"}}} }, "path"},
		{"path non-ascii", func(a *Agreement) { a.Scope = []Site{{Host: "news.example", Paths: []string{"/é"}}} }, "path"},
		{"root and path", func(a *Agreement) { a.Scope = []Site{{Host: "news.example", Paths: []string{"/", "/a"}}} }, "whole site"},
		{"too many sites", func(a *Agreement) {
			a.Scope = nil
			for i := 0; i <= MaxSites; i++ {
				a.Scope = append(a.Scope, Site{Host: "h" + strings.Repeat("x", i) + ".example"})
			}
		}, "at most"},
		{"no valid_from", func(a *Agreement) { a.ValidFrom = time.Time{} }, "valid_from"},
		{"until before from", func(a *Agreement) { a.ValidUntil = t0 }, "valid_until"},
		{"year 1", func(a *Agreement) { a.ValidFrom = time.Date(1, 1, 1, 1, 0, 0, 0, time.UTC) }, "years"},
		{"no terms", func(a *Agreement) { a.Terms = Terms{Kind: KindRate} }, "exactly one"},
		{"two terms", func(a *Agreement) {
			a.Terms.Prepaid = &Prepaid{Amount: 1}
		}, "exactly one"},
		{"kind mismatch", func(a *Agreement) { a.Terms.Kind = KindSubscription }, "needs a subscription"},
		{"unknown kind", func(a *Agreement) { a.Terms.Kind = "barter" }, "kind"},
		{"negative fixed", func(a *Agreement) { a.Terms = rateTerms(Rate{Mode: RateFixed, Price: -1}) }, "negative"},
		{"discount over 100%", func(a *Agreement) { a.Terms = rateTerms(Rate{Mode: RateDiscount, DiscountBPS: 10001}) }, "basis points"},
		{"negative discount", func(a *Agreement) { a.Terms = rateTerms(Rate{Mode: RateDiscount, DiscountBPS: -1}) }, "basis points"},
		{"fixed with discount", func(a *Agreement) { a.Terms = rateTerms(Rate{Mode: RateFixed, Price: 1, DiscountBPS: 1}) }, "one or the other"},
		{"discount with price", func(a *Agreement) { a.Terms = rateTerms(Rate{Mode: RateDiscount, Price: 1}) }, "one or the other"},
		{"rate no mode", func(a *Agreement) { a.Terms = rateTerms(Rate{Price: 1}) }, "mode"},
		{"subscription bad period", func(a *Agreement) {
			a.Terms = subTerms(Subscription{Period: "day", Included: 1, HardStop: true})
		}, "period"},
		{"subscription negative fee", func(a *Agreement) {
			a.Terms = subTerms(Subscription{Period: PeriodWeek, Fee: -1, HardStop: true})
		}, "fee"},
		{"subscription negative quota", func(a *Agreement) {
			a.Terms = subTerms(Subscription{Period: PeriodWeek, Included: -1, HardStop: true})
		}, "included"},
		{"subscription both", func(a *Agreement) {
			a.Terms = subTerms(Subscription{Period: PeriodWeek, Included: 1, HardStop: true, Overage: overage})
		}, "choose one"},
		{"subscription neither", func(a *Agreement) {
			a.Terms = subTerms(Subscription{Period: PeriodWeek, Included: 1})
		}, "overage rate or a hard stop"},
		{"subscription bad overage", func(a *Agreement) {
			a.Terms = subTerms(Subscription{Period: PeriodWeek, Included: 1, Overage: &Rate{Mode: RateDiscount, DiscountBPS: 20000}})
		}, "overage"},
		{"subscription bad timing", func(a *Agreement) {
			a.Terms = subTerms(Subscription{Period: PeriodWeek, HardStop: true, FeeTiming: "whenever"})
		}, "fee timing"},
		{"prepaid zero", func(a *Agreement) { a.Terms = Terms{Kind: KindPrepaid, Prepaid: &Prepaid{}} }, "amount"},
		{"prepaid negative top up", func(a *Agreement) {
			a.Terms = Terms{Kind: KindPrepaid, Prepaid: &Prepaid{Amount: 1, TopUpBelow: -1}}
		}, "top_up_below"},
		{"prepaid bad rate", func(a *Agreement) {
			a.Terms = Terms{Kind: KindPrepaid, Prepaid: &Prepaid{Amount: 1, Rate: &Rate{Mode: "x"}}}
		}, "prepaid rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := base()
			tt.edit(&a)
			_, err := a.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
}

func TestValidateNormalizes(t *testing.T) {
	a := base()
	a.ValidFrom = time.Date(2026, 12, 1, 1, 0, 0, 500, time.FixedZone("X", 3600))
	a.Scope = []Site{{Host: "Z.example", Paths: []string{"/b", "/a", "/b"}}, {Host: "a.example", Paths: []string{"/"}}}
	a.Terms = subTerms(Subscription{Period: PeriodMonth, Included: 1, HardStop: true})
	n, err := a.Validate()
	if err != nil {
		t.Fatal(err)
	}
	want := []Site{{Host: "a.example"}, {Host: "z.example", Paths: []string{"/a", "/b"}}}
	if len(n.Scope) != 2 || n.Scope[0].Host != want[0].Host || n.Scope[0].Paths != nil ||
		n.Scope[1].Host != want[1].Host || strings.Join(n.Scope[1].Paths, ",") != "/a,/b" {
		t.Errorf("scope = %+v, want %+v", n.Scope, want)
	}
	if !n.ValidFrom.Equal(t0) || n.ValidFrom.Location() != time.UTC {
		t.Errorf("valid_from = %v, want %v UTC", n.ValidFrom, t0)
	}
	if n.Terms.Subscription.FeeTiming != FeeInAdvance {
		t.Errorf("fee timing = %q, want in_advance by default", n.Terms.Subscription.FeeTiming)
	}
	if a.Terms.Subscription.FeeTiming != "" {
		t.Error("Validate changed its receiver's terms")
	}
	again, _ := n.Validate()
	if !bytes.Equal(again.Canonical(), n.Canonical()) {
		t.Error("normalizing twice changes the canonical bytes")
	}
}

func TestNormalizeHost(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"news.example", "news.example", ""},
		{"News.EXAMPLE", "news.example", ""},
		{"news.example.", "news.example", ""},
		{"NEWS.example.", "news.example", ""},
		{"127.0.0.1", "127.0.0.1", ""},
		{"Bücher.example", "xn--bcher-kva.example", ""},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", ""},
		{"news.example:443", "", "without port"},
		{"news.example..", "", "without port"},
		{"", "", "without port"},
		{".", "", "without port"},
		{"news example", "", "without port"},
		{"news.example/a", "", "without port"},
		{"[::1]", "", "without port"},
		{"-news.example", "", "without port"},
		{strings.Repeat("a", MaxHostLen+1), "", "without port"},
	} {
		got, err := NormalizeHost(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("NormalizeHost(%q) = %q, %v; want an error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeHost(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestValidateNormalizesHosts: a scope's hosts come out in
// NormalizeHost's spelling, so that the same site spelled twice is one
// host (and is refused as listed twice).
func TestValidateNormalizesHosts(t *testing.T) {
	a := base()
	a.Scope = []Site{{Host: "News.Example."}, {Host: "Bücher.example"}}
	n, err := a.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Scope) != 2 || n.Scope[0].Host != "news.example" || n.Scope[1].Host != "xn--bcher-kva.example" {
		t.Errorf("scope = %+v, want news.example and xn--bcher-kva.example", n.Scope)
	}
	a.Scope = []Site{{Host: "news.example"}, {Host: "NEWS.example."}}
	if _, err := a.Validate(); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("news.example and NEWS.example.: %v, want listed twice", err)
	}
}

func TestRatePriceOf(t *testing.T) {
	tests := []struct {
		r    Rate
		list money.Micros
		want money.Micros
	}{
		{Rate{Mode: RateFixed, Price: 700}, 1000, 700},
		{Rate{Mode: RateFixed, Price: 5000}, 1000, 5000}, // a fixed rate is what was signed
		{Rate{Mode: RateFixed, Price: 0}, 1000, 0},
		{Rate{Mode: RateDiscount, DiscountBPS: 0}, 1000, 1000},
		{Rate{Mode: RateDiscount, DiscountBPS: 10000}, 1000, 0},
		{Rate{Mode: RateDiscount, DiscountBPS: 2000}, 1000, 800},
		{Rate{Mode: RateDiscount, DiscountBPS: 3333}, 1, 0},        // 0.6667 → 0
		{Rate{Mode: RateDiscount, DiscountBPS: 3333}, 3, 2},        // 2.0001 → 2
		{Rate{Mode: RateDiscount, DiscountBPS: 1}, 9999, 9998},     // 9998.0001 → 9998
		{Rate{Mode: RateDiscount, DiscountBPS: 2500}, 10001, 7500}, // 7500.75 → 7500
		{Rate{Mode: RateDiscount, DiscountBPS: 1}, math.MaxInt64, exactFloor(math.MaxInt64, 1)},
		{Rate{Mode: RateDiscount, DiscountBPS: 4321}, math.MaxInt64 - 1, exactFloor(math.MaxInt64-1, 4321)},
		{Rate{Mode: RateDiscount, DiscountBPS: 2000}, 0, 0},
	}
	for _, tt := range tests {
		if got := tt.r.PriceOf(tt.list); got != tt.want {
			t.Errorf("%s of %d = %d, want %d", tt.r, tt.list, got, tt.want)
		}
	}
}

// exactFloor is list × (10000 − bps) / 10000 rounded down, in big integers.
func exactFloor(list, bps int64) money.Micros {
	n := new(big.Int).Mul(big.NewInt(list), big.NewInt(10000-bps))
	return money.Micros(n.Quo(n, big.NewInt(10000)).Int64())
}

// TestPriceOfIsFloor checks the overflow-free formula against the exact
// floor over a range of prices and discounts.
func TestPriceOfIsFloor(t *testing.T) {
	for _, bps := range []int64{0, 1, 7, 333, 2000, 5000, 9999, 10000} {
		for list := int64(0); list < 30000; list += 7 {
			want := list * (10000 - bps) / 10000
			if got := (Rate{Mode: RateDiscount, DiscountBPS: bps}).PriceOf(money.Micros(list)); int64(got) != want {
				t.Fatalf("discount %d of %d = %d, want %d", bps, list, got, want)
			}
		}
	}
}

func TestApply(t *testing.T) {
	list := money.Micros(1000)
	sub := func(s Subscription) *Agreement { a := base(); a.Terms = subTerms(s); return &a }
	rate := func(r Rate) *Agreement { a := base(); a.Terms = rateTerms(r); return &a }
	prepaid := func(p Prepaid) *Agreement { a := base(); a.Terms = Terms{Kind: KindPrepaid, Prepaid: &p}; return &a }
	tests := []struct {
		name string
		a    *Agreement
		used int64
		want Charge
	}{
		{"no agreement", nil, 0, Charge{Kind: ChargeList, List: list, Price: list}},
		{"fixed rate", rate(Rate{Mode: RateFixed, Price: 300}), 0, Charge{Kind: ChargeRate, List: list, Price: 300}},
		{"discount", rate(Rate{Mode: RateDiscount, DiscountBPS: 2500}), 0, Charge{Kind: ChargeRate, List: list, Price: 750}},
		{"inside quota", sub(Subscription{Period: PeriodMonth, Included: 10, HardStop: true}), 9,
			Charge{Kind: ChargeQuota, List: list, CountsQuota: true}},
		{"hard stop at quota", sub(Subscription{Period: PeriodMonth, Included: 10, HardStop: true}), 10,
			Charge{Kind: ChargeOverage, List: list, Refusal: CodeQuotaExhausted}},
		{"zero quota hard stop", sub(Subscription{Period: PeriodMonth, HardStop: true}), 0,
			Charge{Kind: ChargeOverage, List: list, Refusal: CodeQuotaExhausted}},
		{"overage fixed", sub(Subscription{Period: PeriodWeek, Included: 10, Overage: &Rate{Mode: RateFixed, Price: 2000}}), 10,
			Charge{Kind: ChargeOverage, List: list, Price: 2000, CountsQuota: true}},
		{"overage at list", sub(Subscription{Period: PeriodWeek, Included: 10, Overage: &Rate{Mode: RateDiscount}}), 50,
			Charge{Kind: ChargeOverage, List: list, Price: list, CountsQuota: true}},
		{"prepaid at list", prepaid(Prepaid{Amount: 1}), 0, Charge{Kind: ChargePrepaid, List: list, Draw: list}},
		{"prepaid discounted", prepaid(Prepaid{Amount: 1, Rate: &Rate{Mode: RateDiscount, DiscountBPS: 5000}}), 0,
			Charge{Kind: ChargePrepaid, List: list, Draw: 500}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Apply(tt.a, list, tt.used)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Apply = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestApplyRefusesBadInput(t *testing.T) {
	a := base()
	if _, err := Apply(&a, -1, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative list: %v", err)
	}
	a.Terms = subTerms(Subscription{Period: PeriodMonth, Included: 1, HardStop: true})
	if _, err := Apply(&a, 1, -1); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative used: %v", err)
	}
	a.Terms.Kind = KindRate
	if _, err := Apply(&a, 1, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("mismatched kind: %v", err)
	}
}

func TestInForce(t *testing.T) {
	day := 24 * time.Hour
	whole := accepted(base(), t0.Add(-day)) // news.example, whole site, from t0
	premium := base()
	premium.ID = idB
	premium.Scope = []Site{{Host: "news.example", Paths: []string{"/premium/"}}}
	premium = accepted(premium, t0.Add(-day))
	v2 := base()
	v2.Version, v2.ValidFrom = 2, t0.Add(10*day)
	v2.Terms = rateTerms(Rate{Mode: RateFixed, Price: 1})
	v2 = accepted(v2, t0.Add(5*day))
	late := base() // accepted after its ValidFrom: in force from the acceptance
	late.ID = "agr_dddddddddddddddd"
	late.Scope = []Site{{Host: "blog.example"}}
	late = accepted(late, t0.Add(3*day))
	offered := base()
	offered.ID, offered.State = "agr_eeeeeeeeeeeeeeee", StateOffered
	offered.Scope = []Site{{Host: "offered.example"}}
	declined := offered
	declined.State = StateDeclined
	ended := base()
	ended.ID = "agr_ffffffffffffffff"
	ended.Scope = []Site{{Host: "ended.example"}}
	ended.ValidUntil = t0.Add(2 * day)
	ended = accepted(ended, t0.Add(-day))
	all := []Agreement{whole, premium, v2, late, offered, declined, ended}

	tests := []struct {
		name                string
		account, host, path string
		at                  time.Time
		wantID              string
		wantVersion         int
	}{
		{"whole site", acct, "news.example", "/a", t0, idA, 1},
		{"host case and port", acct, "NEWS.example:8443", "/a", t0, idA, 1},
		{"most specific prefix wins", acct, "news.example", "/premium/x", t0, idB, 1},
		{"prefix is a string prefix", acct, "news.example", "/premiumx", t0, idA, 1},
		{"before validity", acct, "news.example", "/a", t0.Add(-time.Second), "", 0},
		{"superseded from v2 start", acct, "news.example", "/a", t0.Add(10 * day), idA, 2},
		{"v1 still governs before v2", acct, "news.example", "/a", t0.Add(10*day - time.Second), idA, 1},
		{"not before acceptance", acct, "blog.example", "/", t0.Add(2 * day), "", 0},
		{"from acceptance", acct, "blog.example", "/", t0.Add(3 * day), late.ID, 1},
		{"offered is not in force", acct, "offered.example", "/", t0, "", 0},
		{"until is exclusive", acct, "ended.example", "/", t0.Add(2 * day), "", 0},
		{"before until", acct, "ended.example", "/", t0.Add(2*day - time.Second), ended.ID, 1},
		{"another account", "op_zzzzzzzzzzzzzzzz", "news.example", "/a", t0, "", 0},
		{"another host", acct, "other.example", "/a", t0, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := InForce(all, tt.account, pub, tt.host, tt.path, tt.at)
			switch {
			case tt.wantID == "" && got != nil:
				t.Fatalf("InForce = %s v%d, want none", got.ID, got.Version)
			case tt.wantID != "" && (got == nil || got.ID != tt.wantID || got.Version != tt.wantVersion):
				t.Fatalf("InForce = %+v, want %s v%d", got, tt.wantID, tt.wantVersion)
			}
		})
	}
	if got := InForce(all, acct, "pub_other", "news.example", "/a", t0); got != nil {
		t.Errorf("another publisher's request got %s", got.ID)
	}
}

func TestCheckOverlap(t *testing.T) {
	day := 24 * time.Hour
	existing := accepted(base(), t0) // news.example whole site from t0, open-ended
	bounded := base()
	bounded.ID = idB
	bounded.Scope = []Site{{Host: "bounded.example", Paths: []string{"/a/"}}}
	bounded.ValidUntil = t0.Add(5 * day)
	bounded = accepted(bounded, t0)
	all := []Agreement{existing, bounded}
	cand := func(edit func(*Agreement)) Agreement {
		a := base()
		a.ID = "agr_gggggggggggggggg"
		edit(&a)
		return a
	}
	tests := []struct {
		name    string
		c       Agreement
		overlap bool
	}{
		{"same whole site", cand(func(a *Agreement) {}), true},
		{"nested prefix allowed", cand(func(a *Agreement) { a.Scope = []Site{{Host: "news.example", Paths: []string{"/p/"}}} }), false},
		{"other publisher", cand(func(a *Agreement) { a.Publisher = "pub_other" }), false},
		{"other account", cand(func(a *Agreement) { a.Account = "op_zzzzzzzzzzzzzzzz" }), false},
		{"own id supersedes", cand(func(a *Agreement) { a.ID, a.Version = idA, 2 }), false},
		{"same prefix, after it ends", cand(func(a *Agreement) {
			a.Scope, a.ValidFrom = []Site{{Host: "bounded.example", Paths: []string{"/a/"}}}, t0.Add(5*day)
		}), false},
		{"same prefix, ends as it starts", cand(func(a *Agreement) {
			a.Scope, a.ValidFrom, a.ValidUntil = []Site{{Host: "bounded.example", Paths: []string{"/a/"}}}, t0.Add(-day), t0
		}), false},
		{"same prefix, inside", cand(func(a *Agreement) {
			a.Scope, a.ValidFrom = []Site{{Host: "bounded.example", Paths: []string{"/b/", "/a/"}}}, t0.Add(4*day)
		}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.c.Validate()
			if err != nil {
				t.Fatal(err)
			}
			err = CheckOverlap(c, all)
			if tt.overlap != (err != nil) || (err != nil && !errors.Is(err, ErrOverlap)) {
				t.Fatalf("CheckOverlap = %v, want overlap %v", err, tt.overlap)
			}
		})
	}
	// The whole site written as "/" is normalized to the whole site, which
	// overlaps the existing whole-site agreement.
	c, err := cand(func(a *Agreement) { a.Scope = []Site{{Host: "news.example", Paths: []string{"/"}}} }).Validate()
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckOverlap(c, all); !errors.Is(err, ErrOverlap) {
		t.Errorf("\"/\" versus the whole site: %v, want ErrOverlap", err)
	}
}

func TestCanonicalCoversEveryField(t *testing.T) {
	full := base()
	full.ValidUntil = t0.Add(time.Hour)
	full.Terms = subTerms(Subscription{Period: PeriodMonth, Fee: 100, Included: 10, Overage: &Rate{Mode: RateFixed, Price: 5}})
	edits := map[string]func(*Agreement){
		"id":          func(a *Agreement) { a.ID = idB },
		"version":     func(a *Agreement) { a.Version = 2 },
		"publisher":   func(a *Agreement) { a.Publisher = "pub_other" },
		"account":     func(a *Agreement) { a.Account = "op_zzzzzzzzzzzzzzzz" },
		"currency":    func(a *Agreement) { a.Currency = "USDC" },
		"valid from":  func(a *Agreement) { a.ValidFrom = a.ValidFrom.Add(-time.Second) },
		"valid until": func(a *Agreement) { a.ValidUntil = time.Time{} },
		"host":        func(a *Agreement) { a.Scope = []Site{{Host: "news.example2"}} },
		"path":        func(a *Agreement) { a.Scope = []Site{{Host: "news.example", Paths: []string{"/a"}}} },
		"period":      func(a *Agreement) { a.Terms.Subscription.Period = PeriodWeek },
		"fee":         func(a *Agreement) { a.Terms.Subscription.Fee = 101 },
		"included":    func(a *Agreement) { a.Terms.Subscription.Included = 11 },
		"overage":     func(a *Agreement) { a.Terms.Subscription.Overage = &Rate{Mode: RateFixed, Price: 6} },
		"hard stop":   func(a *Agreement) { a.Terms.Subscription.Overage, a.Terms.Subscription.HardStop = nil, true },
		"fee timing":  func(a *Agreement) { a.Terms.Subscription.FeeTiming = FeeInArrears },
		"kind":        func(a *Agreement) { a.Terms = rateTerms(Rate{Mode: RateFixed, Price: 5}) },
	}
	n, err := full.Validate()
	if err != nil {
		t.Fatal(err)
	}
	want := n.Canonical()
	for name, edit := range edits {
		a := full
		s := *full.Terms.Subscription
		a.Terms.Subscription = &s
		edit(&a)
		m, err := a.Validate()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if bytes.Equal(m.Canonical(), want) {
			t.Errorf("changing %s leaves the canonical bytes unchanged", name)
		}
	}
	// State fields are not content.
	st := accepted(n, t0)
	if !bytes.Equal(st.Canonical(), want) {
		t.Error("accepting changes the canonical bytes")
	}
	if !bytes.HasPrefix(want, []byte(CanonicalHeader+"\nid: "+idA+"\nversion: 1\n")) {
		t.Errorf("canonical bytes start %q", want[:60])
	}
}

func TestAcceptance(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	otherPub, _, _ := ed25519.GenerateKey(nil)
	pubKey := priv.Public().(ed25519.PublicKey)
	a, err := base().Validate()
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Hour)
	acc, err := SignAcceptance(priv, &a, now)
	if err != nil {
		t.Fatal(err)
	}
	v2 := a
	v2.Version = 2
	otherAcct := a
	otherAcct.Account = "op_zzzzzzzzzzzzzzzz"
	changed := a
	changed.Terms = rateTerms(Rate{Mode: RateDiscount, DiscountBPS: 9000})
	tests := []struct {
		name string
		a    Agreement
		acc  Acceptance
		pub  ed25519.PublicKey
		now  time.Time
		want error
	}{
		{"valid", a, acc, pubKey, now, nil},
		{"valid at window's edge", a, acc, pubKey, now.Add(AcceptanceWindow), nil},
		{"stale", a, acc, pubKey, now.Add(AcceptanceWindow + time.Second), ErrAcceptanceStale},
		{"from the future", a, acc, pubKey, now.Add(-AcceptanceWindow - time.Second), ErrAcceptanceStale},
		{"another key", a, acc, otherPub, now, ErrBadAcceptance},
		{"another version", v2, acc, pubKey, now, ErrBadAcceptance},
		{"another account", otherAcct, acc, pubKey, now, ErrBadAcceptance},
		{"changed terms", changed, acc, pubKey, now, ErrBadAcceptance},
		{"key id swapped", a, Acceptance{KeyID: "other", SignedAt: acc.SignedAt, Signature: acc.Signature}, pubKey, now, ErrBadAcceptance},
		{"time moved", a, Acceptance{KeyID: acc.KeyID, SignedAt: acc.SignedAt.Add(time.Second), Signature: acc.Signature}, pubKey, now, ErrBadAcceptance},
		{"not base64", a, Acceptance{KeyID: acc.KeyID, SignedAt: acc.SignedAt, Signature: "!!"}, pubKey, now, ErrBadAcceptance},
		{"short signature", a, Acceptance{KeyID: acc.KeyID, SignedAt: acc.SignedAt, Signature: "AAAA"}, pubKey, now, ErrBadAcceptance},
		{"no time", a, Acceptance{KeyID: acc.KeyID, Signature: acc.Signature}, pubKey, now, ErrBadAcceptance},
		{"bad key", a, acc, pubKey[:5], now, ErrBadAcceptance},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyAcceptance(&tt.a, tt.acc, tt.pub, tt.now)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("VerifyAcceptance = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := SignAcceptance(priv[:3], &a, now); err == nil {
		t.Error("SignAcceptance took a short key")
	}
}

func TestJSONRoundTrip(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	cases := map[string]Terms{
		"rate fixed":    rateTerms(Rate{Mode: RateFixed, Price: 1234}),
		"rate discount": rateTerms(Rate{Mode: RateDiscount, DiscountBPS: 0}),
		"subscription": subTerms(Subscription{Period: PeriodWeek, Fee: 5 * money.Scale, Included: 7,
			Overage: &Rate{Mode: RateDiscount, DiscountBPS: 10}, FeeTiming: FeeInArrears}),
		"hard stop": subTerms(Subscription{Period: PeriodMonth, Included: 7, HardStop: true}),
		"prepaid":   {Kind: KindPrepaid, Prepaid: &Prepaid{Amount: 9, TopUpBelow: 3, Rate: &Rate{Mode: RateFixed, Price: 1}}},
	}
	for name, terms := range cases {
		t.Run(name, func(t *testing.T) {
			a := base()
			a.Terms = terms
			a.ValidUntil = t0.Add(48 * time.Hour)
			a.Scope = []Site{{Host: "news.example", Paths: []string{"/x/"}}}
			n, err := a.Validate()
			if err != nil {
				t.Fatal(err)
			}
			acc, _ := SignAcceptance(priv, &n, t0)
			n.State, n.OfferedAt, n.DecidedAt, n.Acceptance = StateAccepted, t0.Add(-time.Hour), t0, &acc
			b, err := json.Marshal(n)
			if err != nil {
				t.Fatal(err)
			}
			var back Agreement
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			if !bytes.Equal(back.Canonical(), n.Canonical()) {
				t.Fatalf("round trip changed the content:\n%s\n%s", back.Canonical(), n.Canonical())
			}
			if back.State != n.State || !back.OfferedAt.Equal(n.OfferedAt) || !back.DecidedAt.Equal(n.DecidedAt) || *back.Acceptance != *n.Acceptance {
				t.Fatalf("round trip changed the state: %+v", back)
			}
			if err := VerifyAcceptance(&back, *back.Acceptance, priv.Public().(ed25519.PublicKey), t0); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestUnmarshalRefuses(t *testing.T) {
	tests := map[string]string{
		"float amount":     `{"terms":{"kind":"rate","rate":{"fixed":0.1}}}`,
		"amount precision": `{"terms":{"kind":"rate","rate":{"fixed":"0.0000001"}}}`,
		"both rate forms":  `{"terms":{"kind":"rate","rate":{"fixed":"1","discount_bps":1}}}`,
		"empty rate":       `{"terms":{"kind":"rate","rate":{}}}`,
		"time with offset": `{"valid_from":"2026-12-01T00:00:00+01:00"}`,
		"time with millis": `{"valid_from":"2026-12-01T00:00:00.5Z"}`,
		"negative fee":     `{"terms":{"kind":"subscription","subscription":{"fee":"-1"}}}`,
		"bad signed_at":    `{"acceptance":{"key_id":"k","signed_at":"now","signature":"x"}}`,
		"missing prepaid":  `{"terms":{"kind":"prepaid","prepaid":{"amount":""}}}`,
		"string version":   `{"version":"1"}`,
		"bad top up":       `{"terms":{"kind":"prepaid","prepaid":{"amount":"1","top_up_below":"x"}}}`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			var a Agreement
			err := json.Unmarshal([]byte(in), &a)
			if err == nil || !(errors.Is(err, ErrInvalid) || errors.Is(err, ErrBadAcceptance)) {
				t.Fatalf("Unmarshal(%s) = %v, want ErrInvalid or ErrBadAcceptance", in, err)
			}
		})
	}
}

func TestParseSettlementPeriod(t *testing.T) {
	for in, want := range map[string]SettlementPeriod{"": SettleDaily, "daily": SettleDaily, "weekly": SettleWeekly, "monthly": SettleMonthly} {
		if got, err := ParseSettlementPeriod(in); err != nil || got != want {
			t.Errorf("ParseSettlementPeriod(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"Daily", "yearly", "day"} {
		if _, err := ParseSettlementPeriod(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseSettlementPeriod(%q) = %v, want ErrInvalid", in, err)
		}
	}
}

func TestStateAt(t *testing.T) {
	a := accepted(base(), t0)
	a.ValidUntil = t0.Add(time.Hour)
	if got := a.StateAt(t0); got != StateAccepted {
		t.Errorf("before the end: %q", got)
	}
	if got := a.StateAt(t0.Add(time.Hour)); got != StateEnded {
		t.Errorf("at the end: %q", got)
	}
}

func TestNewID(t *testing.T) {
	id, err := NewID(strings.NewReader(strings.Repeat("x", 10)))
	if err != nil || !ValidID(id) {
		t.Fatalf("NewID = %q, %v", id, err)
	}
	if _, err := NewID(strings.NewReader("short")); err == nil {
		t.Error("NewID with too few random bytes succeeded")
	}
}

// FuzzUnmarshal: any input is read or refused with ErrInvalid or
// ErrBadAcceptance, never a panic; what reads and validates survives a
// round trip with the same canonical bytes, and prices every request
// without error.
func FuzzUnmarshal(f *testing.F) {
	for _, terms := range []Terms{
		rateTerms(Rate{Mode: RateFixed, Price: 1}),
		subTerms(Subscription{Period: PeriodWeek, Included: 3, HardStop: true}),
		{Kind: KindPrepaid, Prepaid: &Prepaid{Amount: 9, Rate: &Rate{Mode: RateDiscount, DiscountBPS: 5}}},
	} {
		a := base()
		a.Terms = terms
		b, _ := json.Marshal(a)
		f.Add(b)
	}
	f.Add([]byte(`{"scope":[{"host":"a","paths":["/"]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var a Agreement
		if err := a.UnmarshalJSON(b); err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrBadAcceptance) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		n, err := a.Validate()
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		out, err := json.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		var back Agreement
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		m, err := back.Validate()
		if err != nil {
			t.Fatalf("re-read fails validation: %v", err)
		}
		if !bytes.Equal(m.Canonical(), n.Canonical()) {
			t.Fatalf("canonical bytes changed:\n%s\n%s", m.Canonical(), n.Canonical())
		}
		for _, used := range []int64{0, 1 << 41} {
			if _, err := Apply(&n, 1000, used); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestSummary(t *testing.T) {
	tests := []struct {
		terms Terms
		want  string
	}{
		{rateTerms(Rate{Mode: RateDiscount, DiscountBPS: 2050}), "rate: list price less 20.50%"},
		{rateTerms(Rate{Mode: RateFixed, Price: 1000}), "rate: 0.001 per request"},
		{subTerms(Subscription{Period: PeriodMonth, Fee: 100 * money.Scale, Included: 1000, HardStop: true}),
			"subscription: 100.00 per month (in advance) for 1000 requests, then hard stop"},
		{subTerms(Subscription{Period: PeriodWeek, Fee: money.Scale, Included: 5, Overage: &Rate{Mode: RateFixed, Price: 2000}, FeeTiming: FeeInArrears}),
			"subscription: 1.00 per week (in arrears) for 5 requests, then overage at 0.002 per request"},
		{Terms{Kind: KindPrepaid, Prepaid: &Prepaid{Amount: 50 * money.Scale, TopUpBelow: 10 * money.Scale}},
			"prepaid: 50.00 of credit at list price, topped up below 10.00"},
	}
	for _, tt := range tests {
		if got := tt.terms.Summary(); got != tt.want {
			t.Errorf("Summary = %q, want %q", got, tt.want)
		}
	}
	a := base()
	a.Scope = []Site{{Host: "a.example", Paths: []string{"/x/", "/y/"}}, {Host: "b.example"}}
	if got := a.ScopeSummary(); got != "a.example/x/, a.example/y/, b.example" {
		t.Errorf("ScopeSummary = %q", got)
	}
	a.State = StateOffered
	if got := strings.Join(a.Row(t0), "|"); got != idA+"|1|offered|a.example/x/, a.example/y/, b.example|2026-12-01|-|rate: list price less 20.00%" {
		t.Errorf("Row = %q", got)
	}
}
