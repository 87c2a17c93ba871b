package facilitator_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/internal/facilitator"
	"github.com/paycrawl/paycrawl/internal/testcrawler"
	"github.com/paycrawl/paycrawl/pkg/x402"
)

type verifyAnswer struct {
	IsValid        bool           `json:"isValid"`
	InvalidReason  string         `json:"invalidReason"`
	InvalidMessage string         `json:"invalidMessage"`
	Payer          string         `json:"payer"`
	Extra          map[string]any `json:"extra"`
}

type settleAnswer struct {
	Success      bool   `json:"success"`
	ErrorReason  string `json:"errorReason"`
	ErrorMessage string `json:"errorMessage"`
	Payer        string `json:"payer"`
	Transaction  string `json:"transaction"`
	Network      string `json:"network"`
	Amount       string `json:"amount"`
}

func TestSupported(t *testing.T) {
	e := newEnv(t, facilitator.Options{})
	resp, err := http.Get(e.srv.URL + "/supported")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got facilitator.SupportedResponse
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	if len(got.Kinds) == 0 || got.Kinds[0].X402Version != 2 || got.Kinds[0].Scheme != "batch-settlement" ||
		got.Kinds[0].Network != "paycrawl:402" || got.Signers == nil || len(got.Extensions) == 0 {
		t.Errorf("supported %+v", got)
	}
}

// Verify answers what the gateway would, records nothing; settle records
// once, whatever how often it is sent; a used signature no longer verifies.
func TestVerifyThenSettleOnce(t *testing.T) {
	e := newEnv(t, facilitator.Options{})
	c := e.reg.NewCrawler(t, "op_fac", testcrawler.DefaultTerms)
	body := e.paidRequest(c, "https://api.example/v1/data?q=1", e.requirements("2000"), "2000")

	var v verifyAnswer
	if s := e.post("/verify", e.token, body, &v); s != 200 || !v.IsValid || v.Payer != c.Agent {
		t.Fatalf("verify: %d %+v", s, v)
	}
	if n := len(e.commitments(c.Operator)); n != 0 {
		t.Fatalf("verify recorded %d commitments", n)
	}
	var first, again settleAnswer
	if s := e.post("/settle", e.token, body, &first); s != 200 || !first.Success || first.Transaction == "" ||
		first.Network != "paycrawl:402" || first.Amount != "2000" || first.Payer != c.Agent {
		t.Fatalf("settle: %d %+v", s, first)
	}
	if s := e.post("/settle", e.token, body, &again); s != 200 || !again.Success || again.Transaction != first.Transaction {
		t.Fatalf("settle again: %d %+v, want the same transaction %s", s, again, first.Transaction)
	}
	cs := e.commitments(c.Operator)
	if len(cs) != 1 {
		t.Fatalf("%d commitments, want 1", len(cs))
	}
	if cm := cs[0]; cm.Publisher != e.publisher || cm.Site != "api.example" || cm.Price != 2000 || cm.Path != "/v1/data?q=1" ||
		cm.Signature == "" || cm.Authority != "api.example" {
		t.Errorf("commitment %+v", cm)
	}
	if s := e.post("/verify", e.token, body, &v); s != 200 || v.IsValid || v.InvalidReason != "invalid_signature" {
		t.Errorf("verify of a used signature: %d %+v", s, v)
	}
}

// Payments the crawler's request does not make are a 200 with isValid or
// success false and the x402 reason, and are not recorded.
func TestPaymentRefusals(t *testing.T) {
	e := newEnv(t, facilitator.Options{})
	c := e.reg.NewCrawler(t, "op_refused", testcrawler.DefaultTerms)
	tests := []struct {
		name   string
		body   func() map[string]any
		reason string
	}{
		{"price above the ceiling", func() map[string]any {
			b := e.paidRequest(c, "https://api.example/a", e.requirements("2000"), "2000")
			b["paymentRequirements"] = e.requirements("5000")
			return b
		}, "price_not_acceptable"},
		{"signature does not verify", func() map[string]any {
			b := e.paidRequest(c, "https://api.example/a", e.requirements("2000"), "2000")
			signed(b)["headers"].(map[string]string)["signature"] = "sig1=:" + strings.Repeat("A", 86) + "==:"
			return b
		}, "invalid_signature"},
		{"another authority than signed", func() map[string]any {
			b := e.paidRequest(c, "https://api.example/a", e.requirements("2000"), "2000")
			signed(b)["url"] = "https://other.example/a"
			return b
		}, "invalid_signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v verifyAnswer
			if s := e.post("/verify", e.token, tt.body(), &v); s != 200 || v.IsValid || v.InvalidReason != tt.reason || v.InvalidMessage == "" {
				t.Errorf("verify: %d %+v, want isValid false %s", s, v, tt.reason)
			}
			var st settleAnswer
			if s := e.post("/settle", e.token, tt.body(), &st); s != 200 || st.Success || st.ErrorReason != tt.reason || st.Transaction != "" {
				t.Errorf("settle: %d %+v, want success false %s", s, st, tt.reason)
			}
		})
	}
	if n := len(e.commitments(c.Operator)); n != 0 {
		t.Errorf("%d commitments recorded for refused payments", n)
	}
}

func signed(body map[string]any) map[string]any {
	return body["paymentPayload"].(map[string]any)["extensions"].(map[string]any)[facilitator.ExtensionSignedRequest].(map[string]any)
}

// A resource server's bad input is a coded 4xx.
func TestBadInputIsCoded4xx(t *testing.T) {
	e := newEnv(t, facilitator.Options{})
	c := e.reg.NewCrawler(t, "op_bad", testcrawler.DefaultTerms)
	good := func() map[string]any {
		return e.paidRequest(c, "https://api.example/a", e.requirements("2000"), "2000")
	}
	// withRequirements is a good body whose requirements are changed by edit.
	withRequirements := func(edit func(r *x402.PaymentRequirements)) any {
		b := good()
		r := e.requirements("2000")
		edit(&r)
		b["paymentRequirements"] = r
		return b
	}
	tests := []struct {
		name   string
		token  string
		body   any
		status int
		code   string
	}{
		{"no token", "", good(), 401, "unauthorized"},
		{"unknown token", "pcp_" + strings.Repeat("A", 43), good(), 401, "unauthorized"},
		{"not JSON", e.token, "{", 400, "invalid_json"},
		{"version 1", e.token, func() any { b := good(); b["x402Version"] = 1; return b }(), 400, "invalid_x402_version"},
		{"no requirements", e.token, func() any { b := good(); delete(b, "paymentRequirements"); return b }(), 400, "invalid_payload"},
		{"another network", e.token, withRequirements(func(r *x402.PaymentRequirements) { r.Network = "cloudflare:402" }), 400, "invalid_network"},
		{"another publisher", e.token, withRequirements(func(r *x402.PaymentRequirements) { r.PayTo = "pub_someone_else" }), 403, "payee_not_yours"},
		{"no signed request", e.token, func() any {
			b := good()
			delete(b["paymentPayload"].(map[string]any), "extensions")
			return b
		}(), 400, "invalid_payload"},
		{"payload not the signed one", e.token, func() any {
			b := good()
			b["paymentPayload"].(map[string]any)["payload"] = map[string]any{"amount": "999999", "asset": "USD"}
			return b
		}(), 400, "invalid_payload"},
		{"url with user info", e.token, func() any { b := good(); signed(b)["url"] = "https://u:p@api.example/a"; return b }(), 400, "invalid_payload"},
		{"header with a newline", e.token, func() any {
			b := good()
			signed(b)["headers"].(map[string]string)["x-evil"] = "a\r\nb"
			return b
		}(), 400, "invalid_payload"},
		{"unknown field in the extension", e.token, func() any { b := good(); signed(b)["body"] = "x"; return b }(), 400, "invalid_payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/verify", "/settle"} {
				var got map[string]any
				s := e.post(path, tt.token, tt.body, &got)
				code, _ := got["code"].(string)
				if extra, ok := got["extra"].(map[string]any); ok && code == "" {
					code, _ = extra["code"].(string)
				}
				if s != tt.status || code != tt.code {
					t.Errorf("%s: %d %v, want %d %s", path, s, got, tt.status, tt.code)
				}
			}
		})
	}
	if n := len(e.commitments(c.Operator)); n != 0 {
		t.Errorf("%d commitments recorded for bad input", n)
	}
}

func TestRateLimitedPerPublisher(t *testing.T) {
	e := newEnv(t, facilitator.Options{RatePerSecond: 0.001, Burst: 2})
	codes := []int{}
	for range 3 {
		codes = append(codes, e.post("/verify", e.token, "{}", nil))
	}
	if codes[0] != 400 || codes[1] != 400 || codes[2] != http.StatusTooManyRequests {
		t.Errorf("statuses %v, want 400 400 429", codes)
	}
}
