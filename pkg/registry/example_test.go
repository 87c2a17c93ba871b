package registry_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/paycrawl/paycrawl/pkg/registry"
)

// A crawler proves it holds the key it registers by signing the proof
// message; the key directory checks it with Proof.Verify.
func ExampleSignProof() {
	seed, _ := base64.RawURLEncoding.DecodeString("n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU") // RFC 9421 test key
	priv := ed25519.NewKeyFromSeed(seed)
	at := time.Unix(1735689600, 0)
	proof, _ := registry.SignProof(priv, "op_abcdefghijklmnop", at)
	fmt.Printf("%s\n", registry.ProofMessage("op_abcdefghijklmnop", "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U", proof.Timestamp))
	key, err := proof.Verify("op_abcdefghijklmnop", at.Add(time.Minute))
	fmt.Println(key.ID, err)
	// Output:
	// paycrawl-key-registration:v1:op_abcdefghijklmnop:poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U:1735689600
	// poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U <nil>
}
