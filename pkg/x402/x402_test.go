package x402

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestEncodeDecode(t *testing.T) {
	in := PaymentRequired{X402Version: 2, Accepts: []PaymentRequirements{{Scheme: "deferred", Network: "n", Amount: "10000", Asset: "USD", PayTo: "p"}}}
	s, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(in)
	for name, form := range map[string]string{
		"standard":     s,
		"unpadded":     strings.TrimRight(s, "="),
		"url-safe":     base64.URLEncoding.EncodeToString(raw),
		"url unpadded": base64.RawURLEncoding.EncodeToString(raw),
	} {
		var out PaymentRequired
		if err := Decode(form, &out); err != nil || out.Accepts[0].Amount != "10000" {
			t.Errorf("%s: %+v, %v", name, out, err)
		}
	}
	var out PaymentRequired
	if err := Decode("%%%", &out); err == nil {
		t.Error("invalid base64 accepted")
	}
	if err := Decode(base64.StdEncoding.EncodeToString([]byte("{")), &out); err == nil {
		t.Error("invalid JSON accepted")
	}
	if err := Decode(strings.Repeat("A", MaxHeaderLen+1), &out); !errors.Is(err, ErrHeaderTooLong) {
		t.Errorf("oversize: %v", err)
	}
}

// TestWireFieldNames pins the JSON names the specs give the fields.
func TestWireFieldNames(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"requirements", PaymentRequirements{Scheme: "batch-settlement", Network: "paycrawl:402", Amount: "1", Asset: "USD", PayTo: "p", MaxTimeoutSeconds: 60},
			`{"scheme":"batch-settlement","network":"paycrawl:402","amount":"1","asset":"USD","payTo":"p","maxTimeoutSeconds":60}`},
		{"settle response", SettleResponse{Success: true, Transaction: "c1", Network: "paycrawl:402", Payer: "a", Amount: "1", Asset: "USD"},
			`{"success":true,"payer":"a","transaction":"c1","network":"paycrawl:402","amount":"1","asset":"USD"}`},
		{"failed settle keeps transaction", SettleResponse{ErrorReason: "unknown", Network: "n"},
			`{"success":false,"errorReason":"unknown","transaction":"","network":"n"}`},
		{"extension info", HTTPMessageSignaturesInfo{RegistrationURL: "https://r.example", SignatureSchemes: []string{"ed25519"}, Tags: []string{"web-bot-auth"}},
			`{"registrationUrl":"https://r.example","signatureSchemes":["ed25519"],"tags":["web-bot-auth"]}`},
		{"v1 description always present", V1Requirements{Scheme: "deferred"},
			`{"scheme":"deferred","network":"","resource":"","maxAmountRequired":"","asset":"","payTo":"","description":""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.v)
			if err != nil || string(b) != tt.want {
				t.Fatalf("got %s, %v\nwant %s", b, err, tt.want)
			}
		})
	}
}

func TestV1ExtrasSpelling(t *testing.T) {
	for _, body := range []string{
		`{"scheme":"deferred","extra":{"id":"a"}}`,
		`{"scheme":"deferred","extras":{"id":"a"}}`,
	} {
		var r V1Requirements
		if err := json.Unmarshal([]byte(body), &r); err != nil || r.Extra["id"] != "a" {
			t.Errorf("%s: %+v, %v", body, r, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("eyJ4NDAyVmVyc2lvbiI6Mn0=")
	f.Add("%%")
	f.Add("eyJ4NDAyVmVyc2lvbiI6MiwiYWNjZXB0cyI6W3sic2NoZW1lIjoiYmF0Y2gtc2V0dGxlbWVudCIsImFtb3VudCI6IjEifV19")
	f.Add("eyJzdWNjZXNzIjp0cnVlLCJ0cmFuc2FjdGlvbiI6ImMxIn0")
	f.Fuzz(func(t *testing.T, s string) {
		var p PaymentPayload
		_ = Decode(s, &p)
		var pr PaymentRequired
		_ = Decode(s, &pr)
		var sr SettleResponse
		_ = Decode(s, &sr)
		var v1 V1PaymentRequired
		_ = Decode(s, &v1)
	})
}
