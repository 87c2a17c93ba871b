package finance_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/internal/finance/wire"
	"github.com/paycrawl/paycrawl/pkg/ledger"
)

// tamper rewrites the index-th commitment of account's day directly in
// Redis, keeping every stream id, as someone with access to the database
// could: edit changes the record, which is written back in the JSON form
// that older ledgers stored and the ledger still reads (field names as in
// that form: path, price, method...).
func (w *world) tamper(account string, index int, edit func(rec map[string]any)) {
	w.t.Helper()
	page, _, err := w.l.CommitmentsPage(w.ctx, account, w.day, "", ledger.MaxPage)
	if err != nil || index >= len(page) {
		w.t.Fatalf("commitments of %s: %d, %v", account, len(page), err)
	}
	c := page[index]
	rec := map[string]any{
		"req": c.RequestID, "rt": strconv.FormatInt(c.Received.UnixNano(), 10), "agent": c.Agent, "kid": c.KeyID,
		"pub": c.Publisher, "site": c.Site, "method": c.Method, "scheme": c.Scheme, "authority": c.Authority,
		"path": c.Path, "price": strconv.FormatInt(int64(c.Price), 10), "cur": c.Currency, "offer": c.OfferID,
		"dialect": c.Dialect, "label": c.Label, "siginput": c.SignatureInput, "sig": c.Signature,
		"covered": c.Covered, "replay": c.ReplayIDs,
	}
	edit(rec)
	b, _ := json.Marshal(rec)
	key := "pc:{" + account + "}:c:" + w.day
	msgs, err := w.rdb.XRange(w.ctx, key, "-", "+").Result()
	if err != nil || len(msgs) != len(page) {
		w.t.Fatalf("stream %s: %d entries, %v", key, len(msgs), err)
	}
	pipe := w.rdb.TxPipeline()
	pipe.Del(w.ctx, key)
	for i, m := range msgs {
		v := m.Values["c"]
		if i == index {
			v = string(b)
		}
		pipe.XAdd(w.ctx, &redis.XAddArgs{Stream: key, ID: m.ID, Values: []any{"c", v}})
	}
	if _, err := pipe.Exec(w.ctx); err != nil {
		w.t.Fatal(err)
	}
}

// audit runs the audit through the API and returns its failures and
// summary.
func (w *world) audit(id string) ([]wire.AuditFailure, wire.AuditSummary) {
	w.t.Helper()
	req, _ := http.NewRequestWithContext(w.ctx, "GET", w.ts.URL+"/v1/invoices/"+id+"/audit", nil)
	req.Header.Set("Authorization", "Bearer "+victorToken)
	resp, err := w.ts.Client().Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		w.t.Fatalf("audit: %d %v", resp.StatusCode, resp.Header)
	}
	var fails []wire.AuditFailure
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var head struct{ Type string }
		_ = json.Unmarshal(sc.Bytes(), &head)
		switch head.Type {
		case wire.AuditTypeFailure:
			fails = append(fails, decode[wire.AuditFailure](w.t, sc.Bytes()))
		case wire.AuditTypeSummary:
			return fails, decode[wire.AuditSummary](w.t, sc.Bytes())
		case wire.AuditTypeProgress:
		default:
			w.t.Fatalf("audit record %s", sc.Bytes())
		}
	}
	w.t.Fatalf("the audit stream ended without a summary: %v", sc.Err())
	return nil, wire.AuditSummary{}
}

// TestAuditReportsTampering: an untouched invoice audits clean; a path
// changed in Redis breaks its signature, a price raised above what the
// crawler signed is caught and breaks the line's sum, and a deleted
// archived key is named, each with its reason.
func TestAuditReportsTampering(t *testing.T) {
	w := newWorld(t)
	w.use("op_acme", "pub_blog", "blog.example", "USD", 50_000)
	w.use("op_acme", "pub_news", "news.example", "USD", 100_000, 100_000, 100_000)
	w.use("op_acme", "pub_news", "news.example", "EUR", 70_000) // another invoice's
	other := newCrawlerKey(t)
	w.useWith(other, "op_bolt", "pub_news", "news.example", "USD", 10_000, 20_000)
	w.close()
	acme := w.id("op_acme", "USD")

	fails, sum := w.audit(acme)
	if len(fails) != 0 || !sum.OK || !sum.SumsOK || sum.Verified != 4 || sum.Failed != 0 || sum.Commitments != 4 ||
		sum.OtherCurrency != 1 || len(sum.Lines) != 2 || !sum.Lines[1].OK || sum.Lines[1].CommittedAmount != "0.30" {
		t.Fatalf("clean audit: %+v %+v", fails, sum)
	}

	w.tamper("op_acme", 2, func(rec map[string]any) { rec["path"] = "/admin/secret" })
	w.tamper("op_acme", 3, func(rec map[string]any) { rec["price"] = "500000" })
	fails, sum = w.audit(acme)
	if len(fails) != 2 || sum.OK || sum.SumsOK || sum.Verified != 2 || sum.Failed != 2 {
		t.Fatalf("tampered audit: %+v %+v", fails, sum)
	}
	if f := fails[0]; f.Path != "/admin/secret" || !strings.HasPrefix(f.Reason, "signature does not verify with key "+w.signer.kid) {
		t.Errorf("tampered path: %+v", f)
	}
	if f := fails[1]; f.Price != "0.50" || f.Reason != "price 0.50 above the signed crawler-max-price USD 0.10" {
		t.Errorf("tampered price: %+v", f)
	}
	if len(sum.Problems) != 1 || !strings.Contains(sum.Problems[0], "line 2 (pub_news news.example): the invoice bills 3 requests for USD 0.30; "+
		"its commitments add up to 3 requests for USD 0.70 (they exceed the line by USD 0.40)") || sum.Lines[1].OK || !sum.Lines[0].OK {
		t.Errorf("sums: %+v", sum)
	}

	// A key missing from the archive is named.
	if err := w.rdb.Del(w.ctx, "pc:{op_bolt}:pk:"+other.kid).Err(); err != nil {
		t.Fatal(err)
	}
	fails, sum = w.audit(w.id("op_bolt", "USD"))
	if len(fails) != 2 || fails[0].Reason != "no archived public key for "+other.kid || !sum.SumsOK || sum.OK {
		t.Fatalf("missing key: %+v %+v", fails, sum)
	}

	// A commitment moved to a site that is not on the invoice.
	w.tamper("op_bolt", 0, func(rec map[string]any) { rec["site"] = "elsewhere.example" })
	fails, sum = w.audit(w.id("op_bolt", "USD"))
	if len(fails) != 2 || !strings.Contains(fails[0].Reason, "publisher pub_news site elsewhere.example is not on any line of the invoice") ||
		sum.SumsOK || len(sum.Lines) != 2 || sum.Lines[1].N != 0 {
		t.Fatalf("moved site: %+v %+v", fails, sum)
	}
	// The invoices themselves are untouched by an audit.
	if inv := w.invoice(acme); inv.Status != ledger.StatusDraft {
		t.Fatalf("status %s", inv.Status)
	}
}
