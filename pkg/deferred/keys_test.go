package deferred

import (
	"encoding/base64"
	"encoding/json"
	"testing"
)

// TestKeyJWKIsJSONMarshal checks the direct JWK serialization against
// json.Marshal of its map, for a thumbprint id and for an id that needs
// escaping.
func TestKeyJWKIsJSONMarshal(t *testing.T) {
	pub, _ := oracleKey(t)
	k, err := NewKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{k.ID, `a"<b>&c`, ""} {
		k.ID = id
		want, _ := json.Marshal(map[string]string{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(pub), "kid": id})
		if got := k.JWK(); string(got) != string(want) {
			t.Fatalf("JWK() = %s, want %s", got, want)
		}
	}
}
