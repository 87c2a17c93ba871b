package testnet

import "net"

// FreePort returns a TCP port that was free on 127.0.0.1 a moment ago, for
// a server process a test starts (a process cannot be handed a listener).
// Another process may take it first: callers retry a failed start.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
