package facilitator

import (
	"encoding/json"
	"testing"
)

// FuzzSignedRequest feeds the signed-request extension's parsers: any
// input is refused with an *inputError or accepted as a request the
// verifier can read, never a panic.
func FuzzSignedRequest(f *testing.F) {
	f.Add(`{"method":"GET","url":"https://api.example/a?q=1","headers":{"signature-input":"sig1=()","signature":"sig1=:AA==:","payment-signature":"e30="}}`)
	f.Add(`{"method":"get","url":"//x","headers":{"Host":"a"}}`)
	f.Add(`{"url":"https://u:p@h/#f","headers":{"x":"a\r\nb"}}`)
	f.Fuzz(func(t *testing.T, ext string) {
		p := &PaymentPayload{Extensions: map[string]json.RawMessage{ExtensionSignedRequest: json.RawMessage(ext)}}
		sr, err := signedRequest(p)
		if err != nil {
			if _, ok := err.(*inputError); !ok {
				t.Fatalf("signedRequest: %T %v", err, err)
			}
			return
		}
		u, err := requestURL(sr.URL)
		if err == nil && (u.Host == "" || u.User != nil || u.Fragment != "") {
			t.Fatalf("accepted url %q", sr.URL)
		}
		h, err := requestHeaders(sr.Headers)
		if err == nil {
			if h.Get("Host") != "" || h.Get("Payment-Signature") == "" {
				t.Fatalf("accepted headers %v", sr.Headers)
			}
			_ = sameCommitment(h.Get("Payment-Signature"), p)
		}
		_ = validMethod(sr.Method)
	})
}
