// Package contracts embeds the compiled test stablecoin (see README.md):
// a 6-decimal ERC-20 used by the stablecoin rail's tests and the demo.
package contracts

import (
	_ "embed"
	"strings"
)

// TestUSDCABI is the ABI of TestUSDC, as JSON.
//
//go:embed TestUSDC.abi.json
var TestUSDCABI string

//go:embed TestUSDC.bin
var testUSDCBin string

// TestUSDCBin is the creation bytecode of TestUSDC, in hex without 0x.
var TestUSDCBin = strings.TrimSpace(testUSDCBin)

// SolcVersion is the compiler that produced the artifacts.
const SolcVersion = "0.8.37+commit.f401782d.Emscripten.clang"
