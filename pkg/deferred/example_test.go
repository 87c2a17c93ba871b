package deferred_test

import (
	"crypto/ed25519"
	"fmt"
	"net/http"

	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// A crawler pays for pages with a Transport: it signs every request and
// answers 402 offers up to a maximum price.
func ExampleTransport() {
	_, priv, _ := ed25519.GenerateKey(nil)
	signer, err := deferred.NewSigner(priv, "https://crawler.example")
	if err != nil {
		panic(err)
	}
	client := &http.Client{Transport: &deferred.Transport{
		Signer:   signer,
		MaxPrice: money.Amount{Currency: "USD", Value: 50_000}, // USD 0.05
		OnReceipt: func(req *http.Request, r *deferred.Receipt) {
			fmt.Println("charged", r.Charged, "for", req.URL, "commitment", r.CommitmentID)
		},
	}}
	_ = client // client.Get("https://news.example/article") pays at most USD 0.05
	fmt.Println(len(signer.KeyID()))
	// Output: 43
}
