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
	f.Fuzz(func(t *testing.T, s string) {
		var p PaymentPayload
		_ = Decode(s, &p)
	})
}
