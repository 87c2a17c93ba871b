package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// flakyLedger is the real ledger behind a link that loses replies: the first
// lose appends land but their replies are lost; the first fail appends are
// lost before they reach Redis.
type flakyLedger struct {
	*ledger.Ledger
	lose, fail int32
	calls      atomic.Int32
}

func (l *flakyLedger) Append(ctx context.Context, c *ledger.Commitment, lim ledger.Limits) (string, error) {
	n := l.calls.Add(1)
	if n <= l.fail {
		return "", fmt.Errorf("%w: connection reset before the script was sent", ledger.ErrUnavailable)
	}
	id, err := l.Ledger.Append(ctx, c, lim)
	if err == nil && n <= l.fail+l.lose {
		return "", fmt.Errorf("%w: reply lost", ledger.ErrUnavailable)
	}
	return id, err
}

// An append whose outcome is unknown is resent until the ledger answers;
// one that is never answered is refused with charge_unconfirmed, saying that
// it may have been recorded: "nothing was charged" is said only when the
// ledger proves it.
func TestUnconfirmedAppendTellsTheTruth(t *testing.T) {
	tests := []struct {
		name       string
		lose, fail int32
		status     int
		code       string
		records    int
	}{
		{"two lost sends, then recorded", 0, 2, 200, "", 1},
		{"landed, replies lost twice, resend answers", 2, 0, 200, "", 1},
		{"landed, every reply lost", 100, 0, 503, string(deferred.CodeChargeUnconfirmed), 1},
		{"never reaches the ledger", 0, 100, 503, string(deferred.CodeChargeUnconfirmed), 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			fl := &flakyLedger{Ledger: h.ledger, lose: tt.lose, fail: tt.fail}
			_, srv := h.startGateway(fl)
			h.srv = srv
			c := h.newCrawler(fmt.Sprintf("op_unconfirmed%d", i), defaultTerms)
			status, body, hdr := h.get(c.client("0.05", deferred.DialectCrawlerPrice, true), "/articles/u")
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			recs := h.commitments(c.operator)
			if len(recs) != tt.records {
				t.Fatalf("%d commitments, want %d", len(recs), tt.records)
			}
			if status == 200 {
				rc, _ := deferred.ParseReceipt(hdr)
				if rc == nil || rc.CommitmentID != recs[0].ID {
					t.Fatalf("receipt %+v does not name the commitment %s", rc, recs[0].ID)
				}
				return
			}
			var rb struct{ Code, Message, RequestID string }
			if err := json.Unmarshal([]byte(body), &rb); err != nil {
				t.Fatal(err)
			}
			if rb.Code != tt.code || strings.Contains(body, "paid body") || strings.Contains(rb.Message, "nothing was charged") ||
				!strings.Contains(rb.Message, "may have been recorded") || !strings.Contains(rb.Message, rb.RequestID) || rb.RequestID == "" {
				t.Fatalf("refusal %+v", rb)
			}
			if tt.records == 1 && recs[0].RequestID != rb.RequestID {
				t.Fatalf("the refusal names request %s, the ledger recorded %s", rb.RequestID, recs[0].RequestID)
			}
			if got := fl.calls.Load(); got != 3 {
				t.Fatalf("%d sends, want 3", got)
			}
		})
	}
}

// A crawler's Transport reports every paid attempt with the id of its
// signature, which the ledger keeps with the commitment: so a crawler can
// find, among the day's commitments, those whose page it never received.
func TestAttemptsMatchCommitmentsBySignature(t *testing.T) {
	h := newHarness(t)
	fl := &flakyLedger{Ledger: h.ledger, lose: 3} // the first request's every reply is lost
	_, srv := h.startGateway(fl)
	h.srv = srv
	c := h.newCrawler("op_attempts", defaultTerms)
	var attempts []*deferred.Attempt
	cl := c.client("0.05", deferred.DialectCrawlerPrice, true)
	cl.Transport.(*deferred.Transport).OnAttempt = func(_ *http.Request, a *deferred.Attempt) { attempts = append(attempts, a) }
	for _, p := range []string{"/articles/lost", "/articles/ok"} {
		h.get(cl, p)
	}
	recs := h.commitments(c.operator)
	if len(attempts) != 2 || len(recs) != 2 {
		for _, a := range attempts {
			t.Logf("attempt %s: status %d %s %v", a.URL, a.Status, a.CrawlerError, a.Err)
		}
		t.Fatalf("%d attempts, %d commitments, want 2 and 2", len(attempts), len(recs))
	}
	for i, a := range attempts {
		ids := recs[i].ReplayIDs
		if a.SignatureID == "" || ids[len(ids)-1] != a.SignatureID || a.RequestID != recs[i].RequestID {
			t.Errorf("attempt %d: signature %q request %q; commitment replay ids %q request %q", i, a.SignatureID, a.RequestID, ids, recs[i].RequestID)
		}
	}
	if attempts[0].Status != 503 || attempts[0].CrawlerError == "" || attempts[0].Receipt != nil {
		t.Errorf("lost reply: %+v", attempts[0])
	}
	if attempts[1].Status != 200 || attempts[1].Receipt == nil || attempts[1].Receipt.CommitmentID != recs[1].ID {
		t.Errorf("charged: %+v", attempts[1])
	}
}
