// Package freeport picks a TCP port for a server that must be told its port
// before it listens (redis-server, the stack's processes, go-ethereum's
// node), which cannot be handed a listener. It is the one way paycrawl picks
// one, in tests (internal/testnet) and in the demo's processes alike.
package freeport

import (
	"net"
	"strconv"
)

// On returns a TCP port that was free on host (a loopback address) a moment
// ago. Another process may take it first: callers retry a failed start.
func On(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Addr returns "127.0.0.1:<port>" with a port from On.
func Addr() (string, error) {
	p, err := On("127.0.0.1")
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(p), nil
}
