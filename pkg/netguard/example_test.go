package netguard_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/paycrawl/paycrawl/pkg/netguard"
)

// An HTTP client for URLs that crawlers supplied: it connects to public
// addresses only, whatever the names resolve to at the time, through no
// proxy, and follows no redirect.
func ExampleNewTransport() {
	client := &http.Client{
		Transport:     netguard.NewTransport(&netguard.Dialer{}),
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	_ = client
	fmt.Println(netguard.Reason(netip.MustParseAddr("169.254.169.254")))
	// Output: a link-local address (RFC 3927; cloud metadata services live here)
}
