package gateway_test

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"slices"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/yaronf/httpsign"
)

// signWithout signs req with @method, @authority, @path, the dictionary
// form of signature-agent and any crawler-max-price, leaving out omit.
func signWithout(t *testing.T, req *http.Request, c *crawler, omit string) {
	t.Helper()
	nonce := make([]byte, 64)
	_, _ = rand.Read(nonce)
	req.Header.Set("Signature-Agent", `agent1="`+c.agent+`"`)
	cfg := httpsign.NewSignConfig().SetTag(deferred.TagWebBotAuth).SetKeyID(c.signer.KeyID()).
		SetNonce(base64.StdEncoding.EncodeToString(nonce)).SetExpiresAfter(60)
	comps := slices.DeleteFunc([]string{"@method", "@authority", "@path"}, func(s string) bool { return s == omit })
	fields := httpsign.NewFields().AddHeaders(comps...).AddDictHeader("signature-agent", "agent1")
	if req.Header.Get(deferred.HeaderCrawlerMaxPrice) != "" {
		fields.AddHeader(deferred.HeaderCrawlerMaxPrice)
	}
	signer, err := httpsign.NewEd25519Signer(c.key, cfg, *fields)
	if err != nil {
		t.Fatal(err)
	}
	view := *req
	view.Host = req.URL.Host
	in, sig, err := httpsign.SignRequest("sig1", *signer, &view)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Signature-Input", in)
	req.Header.Set("Signature", sig)
}
