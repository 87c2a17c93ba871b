package ledger

import (
	"testing"
	"time"
)

// precheckCases are the suite's cases of Precheck.
var precheckCases = []suiteCase{
	{"PrecheckIsSeenAndSpent", testPrecheck},
}

func testPrecheck(t *testing.T, e *env) {
	day := e.today()
	seen, spent, err := e.l.Precheck(e.ctx, "op_pre", day, "USD", []string{"s:a"})
	if err != nil || seen || spent != 0 {
		t.Fatalf("empty: %v %v %v", seen, spent, err)
	}
	c := e.commitment("op_pre", 10_000)
	c.ReplayIDs = []string{"s:a"}
	c.ReplayUntil = e.clock.Now().Add(time.Minute)
	e.mustAppend(c)
	seen, spent, err = e.l.Precheck(e.ctx, "op_pre", day, "USD", []string{"n:other", "s:a"})
	if err != nil || !seen || spent != 10_000 {
		t.Fatalf("after append: %v %v %v", seen, spent, err)
	}
	seen, spent, err = e.l.Precheck(e.ctx, "op_pre", day, "EUR", []string{"n:other"})
	if err != nil || seen || spent != 0 {
		t.Fatalf("other currency and ids: %v %v %v", seen, spent, err)
	}
	if _, _, err := e.l.Precheck(e.ctx, "bad{acct}", day, "USD", nil); err == nil {
		t.Fatal("invalid account accepted")
	}
}
