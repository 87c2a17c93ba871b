package deferred

import (
	"net/http"
	"testing"
)

// cloudflareStatus is Cloudflare's pay-per-crawl error table: each
// crawler-error code and its HTTP status.
var cloudflareStatus = map[string]int{
	CrawlerForbidden:         403,
	StrongAuthRequired:       400,
	InvalidSignature:         400,
	InvalidCrawlerPriceValue: 400,
	MissingCrawlerPrice:      402,
	PaymentFailed:            403,
	InvalidCrawlerExactPrice: 402,
	InvalidCrawlerMaxPrice:   402,
	ConflictingPriceHeaders:  400,
	InvalidContentPrice:      502,
	InternalError:            500,
}

// Every code keeps the status Cloudflare gives its crawler-error, except
// the documented ones: InternalError for a retryable 502/503/504,
// paycrawl's own InvalidRequest, a 4xx, and the agreement refusals, 402.
func TestCodeTableMatchesCloudflare(t *testing.T) {
	for code, info := range codeTable {
		t.Run(string(code), func(t *testing.T) {
			switch want, ok := cloudflareStatus[info.crawler]; {
			case code == CodeQuotaExhausted || code == CodePrepaidExhausted:
				if info.status != http.StatusPaymentRequired || info.crawler != PaymentFailed {
					t.Fatalf("%s is %d %s, want 402 PaymentFailed", code, info.status, info.crawler)
				}
			case info.crawler == InvalidRequest:
				if info.status < 400 || info.status > 499 {
					t.Fatalf("%s is %d, want a 4xx", code, info.status)
				}
			case !ok:
				t.Fatalf("%s has crawler-error %q, which is not in Cloudflare's table", code, info.crawler)
			case info.crawler == InternalError && info.status != want:
				switch info.status {
				case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
				default:
					t.Fatalf("%s is %d, want 500 or a retryable 502/503/504", code, info.status)
				}
			case info.status != want:
				t.Fatalf("%s is %d with crawler-error %s, which Cloudflare answers with %d", code, info.status, info.crawler, want)
			}
		})
	}
	for code, want := range map[Code]int{CodeOverCap: 403, CodeBillingMissing: 403, CodeInternal: 500, CodePriceInvalid: 400, CodeCurrencyMismatch: 400} {
		if got := code.Status(); got != want {
			t.Errorf("%s: status %d, want %d", code, got, want)
		}
	}
}
