package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// TestClientCall: what a Call sends and how it reads each kind of answer.
func TestClientCall(t *testing.T) {
	type got struct {
		method, uri, auth, accept, ctype, body string
	}
	var (
		mu   sync.Mutex
		last got
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/slow" {
			mu.Lock()
			last = got{r.Method, r.URL.RequestURI(), r.Header.Get("Authorization"), r.Header.Get("Accept"),
				r.Header.Get("Content-Type"), string(b)}
			mu.Unlock()
		}
		switch r.URL.Path {
		case "/v1/ok":
			_, _ = w.Write([]byte(`{"name":"a"}`))
		case "/v1/refused":
			w.Header().Set("X-Request-Id", "hdr-id")
			WriteJSON(w, http.StatusConflict, ErrorBody{Code: "duplicate_key", Message: "key already registered", RequestID: "r1"})
		case "/v1/refused-no-id":
			w.Header().Set("X-Request-Id", "hdr-id")
			WriteJSON(w, http.StatusNotFound, ErrorBody{Message: "no such thing"})
		case "/v1/proxy":
			http.Error(w, "bad gateway\x1b[31m from a proxy", http.StatusBadGateway)
		case "/v1/empty-error":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/v1/truncated":
			_, _ = w.Write([]byte(`{"name": [`))
		case "/v1/trailing":
			_, _ = w.Write([]byte(`{"name":"a"} {}`))
		case "/v1/slow":
			<-r.Context().Done() // until the client gives up
		case "/v1/big":
			_, _ = w.Write([]byte(`{"name":"` + strings.Repeat("a", 100) + `"}`))
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()

	type answer struct {
		Name string `json:"name"`
	}
	tests := []struct {
		name    string
		c       Client
		method  string
		path    string
		q       map[string]string
		in      any
		noOut   bool
		want    got
		wantOut string
		wantErr *APIError // nil: no API error
		errHas  string    // for an error that is not the API's
	}{
		{name: "get with token and query", c: Client{BaseURL: srv.URL + "/", Token: "pct_x"}, method: "GET", path: "/v1/ok",
			q:    map[string]string{"day": "2026-01-02"},
			want: got{method: "GET", uri: "/v1/ok?day=2026-01-02", auth: "Bearer pct_x", accept: "application/json"}, wantOut: "a"},
		{name: "query added to one in the path", c: Client{BaseURL: srv.URL}, method: "GET", path: "/v1/ok?wallet=0x1",
			q:    map[string]string{"day": "d"},
			want: got{method: "GET", uri: "/v1/ok?wallet=0x1&day=d", accept: "application/json"}, wantOut: "a"},
		{name: "post sends JSON", c: Client{BaseURL: srv.URL}, method: "POST", path: "/v1/ok", in: map[string]string{"reason": "x"},
			want: got{method: "POST", uri: "/v1/ok", accept: "application/json", ctype: "application/json", body: `{"reason":"x"}`}, wantOut: "a"},
		{name: "Timeout bounds a call without a deadline", c: Client{BaseURL: srv.URL, Timeout: 50 * time.Millisecond}, method: "GET", path: "/v1/slow",
			errHas: "context deadline exceeded"},
		{name: "no body, no out", c: Client{BaseURL: srv.URL}, method: "DELETE", path: "/v1/gone", noOut: true,
			want: got{method: "DELETE", uri: "/v1/gone", accept: "application/json"}},
		{name: "API error", c: Client{BaseURL: srv.URL}, method: "POST", path: "/v1/refused",
			wantErr: &APIError{Status: 409, Code: "duplicate_key", Message: "key already registered", RequestID: "r1"}},
		{name: "API error without code or id", c: Client{BaseURL: srv.URL}, method: "GET", path: "/v1/refused-no-id",
			wantErr: &APIError{Status: 404, Code: "http_404", Message: "no such thing", RequestID: "hdr-id"}},
		{name: "error answer that is not JSON", c: Client{BaseURL: srv.URL}, method: "GET", path: "/v1/proxy",
			wantErr: &APIError{Status: 502, Code: "http_502", Message: "GET /v1/proxy: HTTP 502: bad gateway [31m from a proxy"}},
		{name: "empty error answer", c: Client{BaseURL: srv.URL}, method: "GET", path: "/v1/empty-error",
			wantErr: &APIError{Status: 503, Code: "http_503", Message: "GET /v1/empty-error: HTTP 503"}},
		{name: "truncated answer", c: Client{BaseURL: srv.URL, Name: "test client"}, method: "GET", path: "/v1/truncated",
			errHas: "test client: GET /v1/truncated: decoding the answer"},
		{name: "data after the answer", c: Client{BaseURL: srv.URL}, method: "GET", path: "/v1/trailing",
			errHas: "decoding the answer"},
		{name: "answer over MaxResponse", c: Client{BaseURL: srv.URL, MaxResponse: 64}, method: "GET", path: "/v1/big",
			errHas: "GET /v1/big: the answer is over 64 bytes"},
		{name: "unencodable body", c: Client{BaseURL: srv.URL}, method: "POST", path: "/v1/ok", in: func() {},
			errHas: "POST /v1/ok: encoding the request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			last = got{}
			mu.Unlock()
			q := map[string][]string{}
			for k, v := range tt.q {
				q[k] = []string{v}
			}
			var out answer
			var outp any = &out
			if tt.noOut {
				outp = nil
			}
			err := tt.c.Call(context.Background(), tt.method, tt.path, q, tt.in, outp)
			var ae *APIError
			switch {
			case tt.wantErr != nil:
				if !errors.As(err, &ae) || *ae != *tt.wantErr || !IsAPICode(err, tt.wantErr.Code) {
					t.Fatalf("error %#v, want %#v", err, tt.wantErr)
				}
			case tt.errHas != "":
				if err == nil || errors.As(err, &ae) || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("error %v, want one mentioning %q", err, tt.errHas)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				sent := last
				mu.Unlock()
				if sent != tt.want || out.Name != tt.wantOut {
					t.Fatalf("sent %+v, decoded %q; want %+v, %q", sent, out.Name, tt.want, tt.wantOut)
				}
			}
		})
	}
}

// TestClientDo: Do hands a 2xx body to the caller unread and unbounded by
// Timeout; a request that gets no answer names the service.
func TestClientDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush()
		time.Sleep(100 * time.Millisecond) // a stream outlives Timeout
		_, _ = w.Write([]byte("a,b\n1,2\n"))
	}))
	defer srv.Close()
	c := Client{BaseURL: srv.URL, Timeout: 10 * time.Millisecond}
	resp, err := c.Do(context.Background(), "GET", "/x.csv", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(b) != "a,b\n1,2\n" {
		t.Fatalf("body %q", b)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	down := Client{BaseURL: "http://" + addr, Name: "finance client", Service: "settler"}
	err = down.Call(context.Background(), "GET", "/v1/invoices", nil, nil, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "finance client: GET /v1/invoices: ") ||
		!strings.HasSuffix(err.Error(), "(is the settler serving on "+addr+"?)") {
		t.Fatalf("error %v", err)
	}
}

// TestAPIErrorText: the text of an API error, as the CLIs show it.
func TestAPIErrorText(t *testing.T) {
	tests := []struct {
		e    APIError
		want string
	}{
		{APIError{Status: 409, Code: "wrong_status", Message: "invoice x is approved", RequestID: "r1"}, "invoice x is approved (wrong_status, request r1)"},
		{APIError{Status: 401, Code: "unauthorized", Message: "a token is required"}, "a token is required (unauthorized)"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// FuzzErrorFromAnswer: any error answer gives an *APIError with a code and
// a printable message of bounded size, never a panic.
func FuzzErrorFromAnswer(f *testing.F) {
	f.Add(502, []byte(`{"code":"x","message":"y","request_id":"z"}`))
	f.Add(404, []byte("<html>not found</html>"))
	f.Add(500, []byte("\xff\xfe\x1b[2J"))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := errorFromAnswer("GET", "/p", status, http.Header{}, body)
		if e.Code == "" || e.Status != status {
			t.Fatalf("%#v", e)
		}
		var eb ErrorBody
		if json.Unmarshal(body, &eb) == nil && (eb.Code != "" || eb.Message != "") {
			return // the server's own message
		}
		if !utf8.ValidString(e.Message) || len(e.Message) > len("GET /p: HTTP : ")+20+maxErrorText+len("…") {
			t.Fatalf("message %q", e.Message)
		}
		for _, r := range e.Message {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("control character in %q", e.Message)
			}
		}
	})
}
