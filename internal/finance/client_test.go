package finance_test

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/internal/finance/client"
	"github.com/paycrawl/paycrawl/internal/finance/wire"
)

// TestClient drives the typed client (what `settler invoices` uses)
// against the server: reads, actions, exports, the audit stream, and the
// API's errors as *client.Error.
func TestClient(t *testing.T) {
	w := newWorld(t)
	w.use("op_acme", "pub_news", "news.example", "USD", 100_000, 200_000)
	w.close()
	id := w.id("op_acme", "USD")
	c, err := client.New(w.ts.URL+"/", aliceToken)
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.Invoices(w.ctx, "", "draft")
	if err != nil || list.Day != w.day || len(list.Invoices) != 1 {
		t.Fatalf("%+v %v", list, err)
	}
	inv, err := c.Invoice(w.ctx, id)
	if err != nil || inv.Total != "0.30" || len(inv.History) == 0 {
		t.Fatalf("%+v %v", inv, err)
	}
	res, err := c.Credit(w.ctx, id, 1, "0.1", "dupes")
	if err != nil || !res.Changed || res.Invoice.Total != "0.20" {
		t.Fatalf("credit %+v %v", res, err)
	}
	res, err = c.Hold(w.ctx, id, "checking")
	if err != nil || res.Invoice.Status != "held" {
		t.Fatalf("hold %+v %v", res, err)
	}
	if res, err = c.Release(w.ctx, id, ""); err != nil || res.Invoice.Status != "draft" {
		t.Fatalf("release %+v %v", res, err)
	}
	if res, err = c.Approve(w.ctx, id, ""); err != nil || res.Invoice.Status != "approved" {
		t.Fatalf("approve %+v %v", res, err)
	}
	_, err = c.Credit(w.ctx, id, 1, "0.1", "dupes")
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusConflict || ce.Code != "wrong_status" ||
		ce.Message != "invoice "+id+" is approved: cannot credit a line" || ce.RequestID == "" {
		t.Fatalf("refusal: %#v", err)
	}
	if res, err = c.Void(w.ctx, id, "test"); err != nil || res.Invoice.Status != "void" {
		t.Fatalf("void %+v %v", res, err)
	}
	sum, err := c.Summary(w.ctx, w.day)
	if err != nil || sum.Invoices != 1 || sum.ByStatus[0].Key != "void" {
		t.Fatalf("summary %+v %v", sum, err)
	}
	var buf bytes.Buffer
	if err := c.ExportDay(w.ctx, w.day, "", &buf); err != nil || strings.Count(buf.String(), "\n") != 2 {
		t.Fatalf("export %q %v", buf.String(), err)
	}
	buf.Reset()
	if err := c.ExportCommitments(w.ctx, id, &buf); err != nil || strings.Count(buf.String(), "\n") != 3 {
		t.Fatalf("commitments %q %v", buf.String(), err)
	}
	w.tamper("op_acme", 0, func(rec map[string]any) { rec["method"] = "POST" })
	var fails []wire.AuditFailure
	audit, err := c.Audit(w.ctx, id, client.AuditHooks{Failure: func(f wire.AuditFailure) { fails = append(fails, f) }})
	if err != nil || audit.Failed != 1 || audit.Verified != 1 || len(fails) != 1 || !strings.Contains(fails[0].Reason, "signature does not verify") {
		t.Fatalf("audit %+v %+v %v", audit, fails, err)
	}

	if _, err := c.Invoice(w.ctx, "inv_nope"); !errors.As(err, &ce) || ce.Status != 404 {
		t.Fatalf("unknown: %v", err)
	}
	bad, _ := client.New(w.ts.URL, "fin_wrong")
	if _, err := bad.Invoices(w.ctx, "", ""); !errors.As(err, &ce) || ce.Status != 401 {
		t.Fatalf("wrong token: %v", err)
	}
	if _, err := client.New("ftp://x", "t"); err == nil {
		t.Fatal("ftp URL accepted")
	}
	if _, err := client.New(w.ts.URL, ""); err == nil {
		t.Fatal("empty token accepted")
	}
}
