// Package testnet holds network helpers for tests.
package testnet

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// CountingTLSServer starts an httptest TLS server on loopback that answers
// 404 to everything and counts the TCP connections it accepts, so that a
// test can prove a guarded client never connected. It stops with the test.
func CountingTLSServer(t testing.TB) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var accepted atomic.Int64
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepted.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &accepted
}
