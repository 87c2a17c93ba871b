package devchain

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/paycrawl/paycrawl/contracts"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle/evm"
)

// DeployToken deploys TestUSDC (6 decimals) from key, which becomes its
// minter, and waits for it to be mined.
func DeployToken(ctx context.Context, c evm.Client, key *ecdsa.PrivateKey) (common.Address, error) {
	code := common.FromHex(contracts.TestUSDCBin)
	rcpt, err := Send(ctx, c, key, nil, code)
	if err != nil {
		return common.Address{}, fmt.Errorf("devchain: deploying TestUSDC: %w", err)
	}
	return rcpt.ContractAddress, nil
}

// Mint mints amount of token to to; key must be the token's deployer.
func Mint(ctx context.Context, c evm.Client, key *ecdsa.PrivateKey, token, to common.Address, amount money.Micros) error {
	return transact(ctx, c, key, token, "mint", to, evm.BaseUnits(amount))
}

// Approve lets spender pull up to amount of token from key's address.
func Approve(ctx context.Context, c evm.Client, key *ecdsa.PrivateKey, token, spender common.Address, amount money.Micros) error {
	return transact(ctx, c, key, token, "approve", spender, evm.BaseUnits(amount))
}

// Transfer sends amount of token from key's address to to.
func Transfer(ctx context.Context, c evm.Client, key *ecdsa.PrivateKey, token, to common.Address, amount money.Micros) error {
	return transact(ctx, c, key, token, "transfer", to, evm.BaseUnits(amount))
}

func transact(ctx context.Context, c evm.Client, key *ecdsa.PrivateKey, token common.Address, method string, args ...any) error {
	data, err := evm.TokenABI.Pack(method, args...)
	if err != nil {
		return err
	}
	if _, err := Send(ctx, c, key, &token, data); err != nil {
		return fmt.Errorf("devchain: %s on %s: %w", method, token, err)
	}
	return nil
}

// Send signs a transaction from key to to (nil: a contract creation) with
// data, broadcasts it and waits for its successful receipt.
func Send(ctx context.Context, c evm.Client, key *ecdsa.PrivateKey, to *common.Address, data []byte) (*types.Receipt, error) {
	return send(ctx, c, key, to, nil, data)
}

// Fund sends wei (ether for gas) from key's address to to and waits for it.
func Fund(ctx context.Context, c evm.Client, key *ecdsa.PrivateKey, to common.Address, wei *big.Int) error {
	if _, err := send(ctx, c, key, &to, wei, nil); err != nil {
		return fmt.Errorf("devchain: funding %s: %w", to, err)
	}
	return nil
}

func send(ctx context.Context, c evm.Client, key *ecdsa.PrivateKey, to *common.Address, value *big.Int, data []byte) (*types.Receipt, error) {
	from := crypto.PubkeyToAddress(key.PublicKey)
	chainID, err := c.ChainID(ctx)
	if err != nil {
		return nil, err
	}
	nonce, err := c.PendingNonceAt(ctx, from)
	if err != nil {
		return nil, err
	}
	gas, err := c.EstimateGas(ctx, ethereum.CallMsg{From: from, To: to, Value: value, Data: data})
	if err != nil {
		return nil, fmt.Errorf("estimating gas: %w", err)
	}
	tip, err := c.SuggestGasTipCap(ctx)
	if err != nil {
		return nil, err
	}
	head, err := c.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, err
	}
	feeCap := new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip)
	tx, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: chainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap,
		Gas: gas + gas/4, To: to, Value: value, Data: data}), types.LatestSignerForChainID(chainID), key)
	if err != nil {
		return nil, err
	}
	if err := c.SendTransaction(ctx, tx); err != nil {
		return nil, err
	}
	rcpt, err := WaitReceipt(ctx, c, tx.Hash())
	if err != nil {
		return nil, err
	}
	if rcpt.Status != types.ReceiptStatusSuccessful {
		return rcpt, fmt.Errorf("transaction %s reverted", tx.Hash())
	}
	return rcpt, nil
}

// WaitReceipt polls for a transaction's receipt until ctx ends (give it a
// deadline: on a chain that commits no blocks it waits forever).
func WaitReceipt(ctx context.Context, c evm.Client, hash common.Hash) (*types.Receipt, error) {
	for {
		rcpt, err := c.TransactionReceipt(ctx, hash)
		if err == nil {
			return rcpt, nil
		}
		if !errors.Is(err, ethereum.NotFound) && !evm.Indexing(err) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %s: %w", hash, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Balance returns owner's token balance in micro-units.
func Balance(ctx context.Context, c evm.Client, token, owner common.Address) (money.Micros, error) {
	b, err := evm.BalanceOf(ctx, c, token, owner)
	if err != nil {
		return 0, err
	}
	if !b.IsInt64() {
		return 0, fmt.Errorf("devchain: balance %s does not fit in micro-units", b)
	}
	return money.Micros(b.Int64()), nil
}
