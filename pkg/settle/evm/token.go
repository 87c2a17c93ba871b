package evm

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"

	"github.com/paycrawl/paycrawl/contracts"
	"github.com/paycrawl/paycrawl/pkg/money"
)

// Decimals is the token's number of decimals the rail assumes: one base unit
// is one micro-unit.
const Decimals = money.Decimals

// TokenABI is the ABI of the ERC-20 calls the rail and the dev chain make
// (balanceOf, allowance, decimals, transferFrom, approve, mint). TestUSDC's
// ABI (contracts/) is the same as real USDC's for these calls, except mint.
var TokenABI = func() abi.ABI {
	a, err := abi.JSON(strings.NewReader(contracts.TestUSDCABI))
	if err != nil {
		panic("evm: bad embedded token ABI: " + err.Error())
	}
	return a
}()

// call runs a view method of the token at the latest block and returns its
// single output.
func call(ctx context.Context, c Client, token common.Address, method string, args ...any) (any, error) {
	data, err := TokenABI.Pack(method, args...)
	if err != nil {
		return nil, err
	}
	out, err := c.CallContract(ctx, ethereum.CallMsg{To: &token, Data: data}, nil)
	if err != nil {
		return nil, fmt.Errorf("evm: %s on token %s: %w", method, token, err)
	}
	vals, err := TokenABI.Unpack(method, out)
	if err != nil || len(vals) != 1 {
		return nil, fmt.Errorf("evm: %s on token %s: undecodable answer %x (is it an ERC-20?): %v", method, token, out, err)
	}
	return vals[0], nil
}

// BalanceOf returns the token balance of owner, in base units.
func BalanceOf(ctx context.Context, c Client, token, owner common.Address) (*big.Int, error) {
	v, err := call(ctx, c, token, "balanceOf", owner)
	if err != nil {
		return nil, err
	}
	return asBig(v)
}

// Allowance returns what spender may pull from owner, in base units.
func Allowance(ctx context.Context, c Client, token, owner, spender common.Address) (*big.Int, error) {
	v, err := call(ctx, c, token, "allowance", owner, spender)
	if err != nil {
		return nil, err
	}
	return asBig(v)
}

// TokenDecimals returns the token's decimals.
func TokenDecimals(ctx context.Context, c Client, token common.Address) (uint8, error) {
	v, err := call(ctx, c, token, "decimals")
	if err != nil {
		return 0, err
	}
	d, ok := v.(uint8)
	if !ok {
		return 0, fmt.Errorf("evm: decimals of %s: unexpected %T", token, v)
	}
	return d, nil
}

func asBig(v any) (*big.Int, error) {
	b, ok := v.(*big.Int)
	if !ok {
		return nil, fmt.Errorf("evm: unexpected %T for a uint256", v)
	}
	return b, nil
}

// BaseUnits converts micro-units to token base units.
func BaseUnits(m money.Micros) *big.Int { return big.NewInt(int64(m)) }

// FormatUnits formats base units as a decimal amount ("1.23").
func FormatUnits(v *big.Int) string {
	if v.IsInt64() {
		return money.Micros(v.Int64()).String()
	}
	q, r := new(big.Int).QuoRem(v, big.NewInt(money.Scale), new(big.Int))
	return fmt.Sprintf("%s.%06d", q, r.Int64())
}

// transferFrom decodes the arguments of a transferFrom call.
func decodeTransferFrom(data []byte) (from, to common.Address, amount *big.Int, err error) {
	m := TokenABI.Methods["transferFrom"]
	if len(data) < 4 || string(data[:4]) != string(m.ID) {
		return from, to, nil, errors.New("not a transferFrom call")
	}
	vals, err := m.Inputs.Unpack(data[4:])
	if err != nil || len(vals) != 3 {
		return from, to, nil, fmt.Errorf("undecodable transferFrom: %v", err)
	}
	from, ok1 := vals[0].(common.Address)
	to, ok2 := vals[1].(common.Address)
	amount, ok3 := vals[2].(*big.Int)
	if !ok1 || !ok2 || !ok3 {
		return from, to, nil, errors.New("undecodable transferFrom arguments")
	}
	return from, to, amount, nil
}
