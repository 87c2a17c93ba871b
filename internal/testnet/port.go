package testnet

import "github.com/paycrawl/paycrawl/internal/freeport"

// FreePort returns a TCP port that was free on 127.0.0.1 a moment ago, for
// a server process a test starts (a process cannot be handed a listener).
// Another process may take it first: callers retry a failed start.
func FreePort() (int, error) { return freeport.On("127.0.0.1") }
