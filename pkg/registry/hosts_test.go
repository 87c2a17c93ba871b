package registry

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/agreement"
)

func TestNormalizePublisherHost(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"news.example", "news.example"},
		{"NEWS.Example", "news.example"},
		{"news.example.", "news.example"},
		{"news.example:8443", "news.example"},
		{"News.Example.:443", "news.example"},
		{"127.0.0.1:8402", "127.0.0.1"},
		{"Bücher.example", "xn--bcher-kva.example"},
		{"news.example:", ""},
		{"news.example:0", ""},
		{"news.example:65536", ""},
		{"news.example:+80", ""},
		{"news.example:http", ""},
		{"[::1]:443", ""},
		{"news example", ""},
		{"", ""},
	} {
		got, err := NormalizeHost(tc.in)
		if tc.want == "" {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("NormalizeHost(%q) = %q, %v; want ErrInvalid", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeHost(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestPublisherHosts: an admin sets a publisher's hosts, normalized,
// sorted and deduplicated; the publisher itself may not; removing a host
// frees it for another publisher.
func TestPublisherHosts(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	p, _, err := f.store.CreatePublisher(ctx, PublisherSpec{ID: "pub_news", Name: "News", Contact: "m@news.example",
		Hosts: []string{"WWW.News.Example.", "news.example:8443", "news.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.Hosts, " "); got != "news.example www.news.example" {
		t.Errorf("created with hosts %q", got)
	}
	if got, _ := f.store.Publisher(ctx, "pub_news"); strings.Join(got.Hosts, " ") != "news.example www.news.example" {
		t.Errorf("stored hosts %q", got.Hosts)
	}
	if j := p.JSON(); strings.Join(j.Hosts, " ") != "news.example www.news.example" {
		t.Errorf("JSON hosts %q", j.Hosts)
	}
	blog, _, err := f.store.CreatePublisher(ctx, PublisherSpec{ID: "pub_blog", Name: "Blog", Contact: "m@blog.example"})
	if err != nil {
		t.Fatal(err)
	}
	if blog.Hosts == nil || len(blog.JSON().Hosts) != 0 || blog.JSON().Hosts == nil {
		t.Errorf("a publisher without hosts: %#v, JSON %#v (want [])", blog.Hosts, blog.JSON().Hosts)
	}

	self := []string{"blog.example"}
	_, err = f.store.UpdatePublisher(ctx, "pub_blog", EditorPublisher, PublisherChange{Hosts: &self})
	wantErr(t, err, ErrForbidden)
	bad := []string{"blog.example", "blog .example"}
	_, err = f.store.UpdatePublisher(ctx, "pub_blog", EditorAdmin, PublisherChange{Hosts: &bad})
	wantErr(t, err, ErrInvalid)
	name := "The Blog"
	got, err := f.store.UpdatePublisher(ctx, "pub_blog", EditorAdmin, PublisherChange{Name: &name, Hosts: &self})
	if err != nil || strings.Join(got.Hosts, " ") != "blog.example" || got.Name != name {
		t.Fatalf("admin set hosts: %+v, %v", got, err)
	}
	if owners, _ := f.store.HostOwners(ctx, []string{"blog.example", "news.example", "WWW.news.example.", "nobody.example"}); owners["blog.example"] != "pub_blog" ||
		owners["news.example"] != "pub_news" || owners["WWW.news.example."] != "pub_news" || owners["nobody.example"] != "" {
		t.Errorf("owners %v", owners)
	}

	// news.example leaves pub_news and goes to pub_blog.
	if _, err := f.store.SetPublisherHosts(ctx, "pub_news", []string{"www.news.example"}); err != nil {
		t.Fatal(err)
	}
	if got, err := f.store.SetPublisherHosts(ctx, "pub_blog", []string{"blog.example", "news.example"}); err != nil || strings.Join(got.Hosts, " ") != "blog.example news.example" {
		t.Fatalf("moved: %+v, %v", got, err)
	}
	if owners, _ := f.store.HostOwners(ctx, []string{"news.example"}); owners["news.example"] != "pub_blog" {
		t.Errorf("news.example is %q's", owners["news.example"])
	}
	// Removing every host frees them all.
	if got, err := f.store.SetPublisherHosts(ctx, "pub_blog", nil); err != nil || len(got.Hosts) != 0 {
		t.Fatalf("cleared: %+v, %v", got, err)
	}
	if owners, _ := f.store.HostOwners(ctx, []string{"news.example", "blog.example"}); owners["news.example"] != "" || owners["blog.example"] != "" {
		t.Errorf("after clearing: %v", owners)
	}
	_, err = f.store.SetPublisherHosts(ctx, "pub_nobody", []string{"x.example"})
	wantErr(t, err, ErrNotFound)
	if owners, _ := f.store.HostOwners(ctx, []string{"x.example"}); owners["x.example"] != "" {
		t.Errorf("an unknown publisher claimed x.example")
	}
}

// TestHostClaimedTwice: a host is one publisher's at most, however it is
// spelled, at creation, by an edit, or by two admins at once; a refused
// claim changes nothing.
func TestHostClaimedTwice(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	if _, _, err := f.store.CreatePublisher(ctx, PublisherSpec{ID: "pub_news", Name: "News", Contact: "m@news.example", Hosts: []string{"news.example"}}); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.store.CreatePublisher(ctx, PublisherSpec{ID: "pub_copy", Name: "Copy", Contact: "m@copy.example", Hosts: []string{"copy.example", "NEWS.example.:443"}})
	wantErr(t, err, ErrHostTaken)
	if !strings.Contains(err.Error(), "news.example") || !strings.Contains(err.Error(), "pub_news") {
		t.Errorf("message %q does not name the host and its publisher", err)
	}
	if _, err := f.store.Publisher(ctx, "pub_copy"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused creation left the publisher: %v", err)
	}
	if owners, _ := f.store.HostOwners(ctx, []string{"copy.example"}); owners["copy.example"] != "" {
		t.Errorf("a refused creation claimed copy.example for %q", owners["copy.example"])
	}

	if _, _, err := f.store.CreatePublisher(ctx, PublisherSpec{ID: "pub_blog", Name: "Blog", Contact: "m@blog.example", Hosts: []string{"blog.example"}}); err != nil {
		t.Fatal(err)
	}
	_, err = f.store.SetPublisherHosts(ctx, "pub_blog", []string{"blog.example", "other.example", "News.Example"})
	wantErr(t, err, ErrHostTaken)
	if p, _ := f.store.Publisher(ctx, "pub_blog"); strings.Join(p.Hosts, " ") != "blog.example" {
		t.Errorf("a refused edit changed the hosts to %q", p.Hosts)
	}
	if owners, _ := f.store.HostOwners(ctx, []string{"other.example", "news.example"}); owners["other.example"] != "" || owners["news.example"] != "pub_news" {
		t.Errorf("a refused edit changed claims: %v", owners)
	}

	// Two admins give one free host to two publishers at once: one wins.
	for round := 0; round < 10; round++ {
		host := "race" + string(rune('a'+round)) + ".example"
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, id := range []string{"pub_news", "pub_blog"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := f.store.Publisher(ctx, id)
				if err != nil {
					errs[i] = err
					return
				}
				_, errs[i] = f.store.SetPublisherHosts(ctx, id, append(p.Hosts, host))
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, ErrHostTaken):
				t.Fatal(err)
			}
		}
		owners, _ := f.store.HostOwners(ctx, []string{host})
		news, _ := f.store.Publisher(ctx, "pub_news")
		blog, _ := f.store.Publisher(ctx, "pub_blog")
		holders := 0
		for _, p := range []*Publisher{news, blog} {
			for _, h := range p.Hosts {
				if h == host {
					holders++
					if owners[host] != p.ID {
						t.Errorf("%s lists %s, claimed by %q", p.ID, host, owners[host])
					}
				}
			}
		}
		if won != 1 || holders != 1 {
			t.Fatalf("round %d: %d claims of %s succeeded, %d publishers list it (errors %v)", round, won, host, holders, errs)
		}
	}
}

// TestOfferRefusesHostNotYours: a publisher offers agreements for its own
// hosts only; a scope naming another publisher's host, or a host nobody
// holds, is refused and stores nothing.
func TestOfferRefusesHostNotYours(t *testing.T) {
	f := newAgrFixture(t)
	ctx := context.Background()
	for name, scope := range map[string][]agreement.Site{
		"another publisher's host":  {{Host: "blog.example"}},
		"a host nobody holds":       {{Host: "nobody.example"}},
		"one host of two not yours": {{Host: "news.example"}, {Host: "blog.example", Paths: []string{"/a/"}}},
	} {
		t.Run(name, func(t *testing.T) {
			a := f.offer()
			a.Scope = scope
			_, err := f.store.OfferAgreement(ctx, "pub_news", a)
			wantErr(t, err, ErrForbidden)
			wantErr(t, err, ErrHostNotYours)
			if !strings.Contains(err.Error(), "admin") {
				t.Errorf("message %q does not say who sets hosts", err)
			}
		})
	}
	if got, _, _ := f.store.Offers(ctx, OfferQuery{Publisher: "pub_news"}); len(got) != 0 {
		t.Errorf("refused offers were stored: %+v", got)
	}
	// Its own host, spelled otherwise, is its own.
	a := f.offer()
	a.Scope = []agreement.Site{{Host: "NEWS.Example."}}
	got := f.mustOffer(t, "pub_news", a)
	if got.Scope[0].Host != "news.example" {
		t.Errorf("scope host stored as %q", got.Scope[0].Host)
	}
	// A next version that adds another's host is refused too.
	next := f.offer()
	next.ID, next.Scope = got.ID, []agreement.Site{{Host: "news.example"}, {Host: "blog.example"}}
	_, err := f.store.OfferAgreement(ctx, "pub_news", next)
	wantErr(t, err, ErrHostNotYours)
}

// TestAcceptRefusesHostMoved: an offer whose host the admin moved to
// another publisher, or removed, after it was made cannot be accepted;
// once the host is back, it can.
func TestAcceptRefusesHostMoved(t *testing.T) {
	f := newAgrFixture(t)
	ctx := context.Background()
	a := f.mustOffer(t, "pub_news", f.offer())
	others := []string{"racea.example"}
	if _, err := f.store.UpdatePublisher(ctx, "pub_news", EditorAdmin, PublisherChange{Hosts: &others}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.SetPublisherHosts(ctx, "pub_blog", []string{"blog.example", "news.example"}); err != nil {
		t.Fatal(err)
	}
	_, err := f.store.AcceptAgreement(ctx, f.op.ID, a.ID, 1, f.sign(t, f.priv, a))
	wantErr(t, err, ErrHostMoved)
	if !strings.Contains(err.Error(), "news.example") {
		t.Errorf("message %q does not name the host", err)
	}
	if v, _ := f.store.AgreementVersion(ctx, a.ID, 1); v.State != agreement.StateOffered {
		t.Errorf("state %s after a refused acceptance", v.State)
	}
	if got, _ := f.store.AgreementsInForce(ctx, f.op.ID, f.clock.Now()); len(got) != 0 {
		t.Errorf("in force: %+v", got)
	}

	// Removed from pub_blog too: held by nobody, still refused.
	if _, err := f.store.SetPublisherHosts(ctx, "pub_blog", []string{"blog.example"}); err != nil {
		t.Fatal(err)
	}
	_, err = f.store.AcceptAgreement(ctx, f.op.ID, a.ID, 1, f.sign(t, f.priv, a))
	wantErr(t, err, ErrHostMoved)

	// Back with pub_news: accepted.
	if _, err := f.store.SetPublisherHosts(ctx, "pub_news", []string{"news.example"}); err != nil {
		t.Fatal(err)
	}
	f.mustAccept(t, a)
}
