package settle_test

import (
	"crypto/ecdsa"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle/evm/devchain"
)

func commonAddress(hex string) common.Address { return common.HexToAddress(hex) }

// approve sets the allowance of key's wallet to the settler.
func approve(t *testing.T, e *env, key *ecdsa.PrivateKey, amount money.Micros) {
	t.Helper()
	if err := devchain.Approve(e.ctx, e.chain.Client(), key, e.token, e.settlerAddr, amount); err != nil {
		t.Fatal(err)
	}
}
