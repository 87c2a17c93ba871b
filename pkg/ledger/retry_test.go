package ledger

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// retryCases are the suite's cases of resent scripts.
var retryCases = []suiteCase{
	{"ResentScriptsApplyOnce", testResentScriptsApplyOnce},
}

// resendHook runs every script and every pipeline twice, as go-redis does
// when it retries a command whose reply was lost after Redis had applied it.
type resendHook struct{ resent atomic.Int64 }

func (*resendHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *resendHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if err := next(ctx, cmds); err != nil {
			return err
		}
		h.resent.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}
func (h *resendHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); name == "evalsha" || name == "eval" {
			if err := next(ctx, cmd); err != nil {
				return err
			}
			h.resent.Add(1)
		}
		return next(ctx, cmd)
	}
}

// testResentScriptsApplyOnce: every state-changing script is safe to resend.
func testResentScriptsApplyOnce(t *testing.T, e *env) {
	var resend redis.UniversalClient
	switch c := e.rdb.(type) {
	case *redis.Client:
		resend = redis.NewClient(c.Options())
	case *redis.ClusterClient:
		resend = redis.NewClusterClient(c.Options())
	default:
		t.Fatalf("unknown client %T", e.rdb)
	}
	t.Cleanup(func() { _ = resend.Close() })
	hook := &resendHook{}
	resend.AddHook(hook)
	if cc, ok := resend.(*redis.ClusterClient); ok {
		// With MinReplicas the ledger pipelines scripts and WAIT on the
		// master's own client, which the cluster client's hooks skip.
		cc.OnNewNode(func(c *redis.Client) { c.AddHook(hook) })
	}
	l, err := New(resend, Options{Prefix: e.prefix, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	day := e.today()

	c := e.commitment("acme", 500_000)
	id, err := l.Append(e.ctx, c, Limits{})
	if err != nil || id == "" {
		t.Fatalf("Append = %q, %v", id, err)
	}
	if agg, _ := e.l.Aggregate(e.ctx, "acme", day); agg.Currencies["USD"] != (Total{1, 500_000}) {
		t.Fatalf("resent append counted twice: %+v", agg.Currencies)
	}
	// Creation: the resend finds the invoice and reports it as existing.
	if _, _, err := l.CreateInvoice(e.ctx, "acme", day, "USD", "settler"); err != nil {
		t.Fatal(err)
	}
	inv := e.get(InvoiceID("acme", day, "USD"))
	if err := l.CreditLine(e.ctx, inv.ID, 0, 1_000, "alice", "goodwill"); err != nil {
		t.Fatal(err)
	}
	for _, to := range []Status{StatusApproved, StatusCharging} {
		if err := l.Transition(e.ctx, inv.ID, Transition{To: to, Token: 1, Actor: "settler"}); err != nil {
			t.Fatalf("Transition to %s: %v", to, err)
		}
	}
	if err := l.Transition(e.ctx, inv.ID, Transition{To: StatusPaid, Token: 1, Actor: "settler",
		Set:     Settlement{Charged: 490_000, CarriedOut: 9_000},
		Attempt: &Attempt{Rail: "stripe", Reference: "pi_1", Amount: 490_000, Outcome: "succeeded"}}); err != nil {
		t.Fatal(err)
	}
	got := e.get(inv.ID)
	if len(got.History) != 5 || len(got.Attempts) != 1 || got.Total != 499_000 || got.Status != StatusPaid {
		t.Errorf("resent scripts applied twice: total %d, status %s, %d history, %d attempts",
			got.Total, got.Status, len(got.History), len(got.Attempts))
	}
	if carry, _ := e.l.Carry(e.ctx, "acme", "USD"); carry != 9_000 {
		t.Errorf("carry = %d, want 9000 once", carry)
	}

	tok, release, err := l.AcquireLock(e.ctx, "resend", time.Minute)
	if err != nil {
		t.Fatalf("AcquireLock resent: %v", err)
	}
	release()
	tok2, release2, err := e.l.AcquireLock(e.ctx, "resend", time.Minute)
	if err != nil || tok2 != tok+1 {
		t.Errorf("next token = %d, %v; want %d (the resend must not take a token)", tok2, err, tok+1)
	}
	release2()
	if n := hook.resent.Load(); n < 8 {
		t.Errorf("only %d scripts were resent", n)
	}
}
