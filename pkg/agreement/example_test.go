package agreement_test

import (
	"fmt"
	"time"

	"github.com/paycrawl/paycrawl/pkg/agreement"
)

// A monthly subscription of 100 included requests with a hard stop: the
// 100th request of the month is free, the 101st is refused.
func ExampleApply() {
	a, err := agreement.Agreement{
		ID: "agr_aaaaaaaaaaaaaaaa", Version: 1, Publisher: "pub_news", Account: "op_bbbbbbbbbbbbbbbb",
		Currency: "USD", Scope: []agreement.Site{{Host: "news.example"}},
		ValidFrom: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		Terms: agreement.Terms{Kind: agreement.KindSubscription, Subscription: &agreement.Subscription{
			Period: agreement.PeriodMonth, Fee: 50_000_000, Included: 100, HardStop: true}},
	}.Validate()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, used := range []int64{99, 100} {
		c, _ := agreement.Apply(&a, 2_000, used)
		fmt.Printf("used %d: %s, charged %s, refusal %q\n", used, c.Kind, c.Price, c.Refusal)
	}
	// Output:
	// used 99: quota, charged 0.00, refusal ""
	// used 100: overage, charged 0.00, refusal "quota_exhausted"
}
