package gateway_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paycrawl/paycrawl/pkg/deferred"
)

// rawExchange writes raw to the gateway on a fresh connection, optionally
// half-closes it, and reads one response; it also reports whether the
// gateway closed the connection after it.
func (h *harness) rawExchange(raw string, halfClose bool) (*http.Response, string, bool) {
	h.t.Helper()
	c, err := net.Dial("tcp", h.srv.Listener.Addr().String())
	if err != nil {
		h.t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		h.t.Fatal(err)
	}
	if halfClose {
		_ = c.(*net.TCPConn).CloseWrite()
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, err = br.ReadByte()
	return resp, string(body), err == io.EOF
}

// An uncharged HEAD or OPTIONS of a paid page carries no content, even from
// an origin that answers every method with the page.
func TestHeadAndOptionsOfPaidPageCarryNoBody(t *testing.T) {
	h := newHarness(t)
	for _, method := range []string{http.MethodOptions, http.MethodHead} {
		t.Run(method, func(t *testing.T) {
			req, _ := http.NewRequest(method, h.srv.URL+"/premium/"+method, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if len(body) != 0 || strings.Contains(string(body), "paid body") {
				t.Fatalf("%s of a paid page: %d with body %q", method, resp.StatusCode, body)
			}
			if h.hits("/premium/"+method) != 1 {
				t.Fatalf("origin hits %d, want 1", h.hits("/premium/"+method))
			}
		})
	}
	// The raw bytes on the wire: nothing after the OPTIONS headers.
	resp, body, _ := h.rawExchange("OPTIONS /premium/raw HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", true)
	if body != "" || resp.Header.Get("Content-Length") != "0" {
		t.Fatalf("raw OPTIONS: %d, Content-Length %q, body %q", resp.StatusCode, resp.Header.Get("Content-Length"), body)
	}
}

// A malformed or cut-short request body is the client's fault: a 400 with
// a code, never a 502 blamed on the origin.
func TestBadRequestBodiesAre400(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name, raw string
	}{
		{"malformed chunk size", "POST /free/a HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"},
		{"chunk longer than announced", "POST /free/b HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n"},
		{"shorter than Content-Length", "POST /free/c HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"a\":1}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, _ := h.rawExchange(tt.raw, true)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"invalid_body"`) || resp.Header.Get("crawler-error") != deferred.InvalidRequest {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}
}

// A request with both Transfer-Encoding and Content-Length is framed by
// Transfer-Encoding alone and its connection closed after the answer
// (RFC 9112 §6.1), so that nothing smuggled after it is read.
func TestTransferEncodingWithContentLengthClosesConnection(t *testing.T) {
	h := newHarness(t)
	resp, _, closed := h.rawExchange("POST /free/te HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"5\r\nhello\r\n0\r\n\r\nGET /free/smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", false)
	if resp.StatusCode != 200 || !closed {
		t.Fatalf("status %d, connection closed %v", resp.StatusCode, closed)
	}
	if h.hits("/free/smuggled") != 0 {
		t.Fatal("a request after the ambiguous one was served")
	}
}
