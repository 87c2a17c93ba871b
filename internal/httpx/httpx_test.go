package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestDecodeJSON(t *testing.T) {
	type body struct {
		Name string `json:"name"`
	}
	tests := []struct {
		name, in string
		status   int
	}{
		{"ok", `{"name":"a"}`, 0},
		{"empty", ``, 400},
		{"unknown field", `{"nope":1}`, 400},
		{"trailing data", `{"name":"a"} {}`, 400},
		{"not json", `name=a`, 400},
		{"too large", `{"name":"` + strings.Repeat("a", 200) + `"}`, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.in))
			var b body
			err := DecodeJSON(httptest.NewRecorder(), r, 100, &b)
			if tt.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != tt.status {
				t.Fatalf("got %v, want status %d", err, tt.status)
			}
		})
	}
}

func TestMiddlewareRecoversAndTagsRequests(t *testing.T) {
	h := Middleware(slog.New(slog.DiscardHandler), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		WriteError(w, r, Errorf(http.StatusTeapot, "teapot", "short and stout"))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/panic", nil))
	if rec.Code != 500 {
		t.Fatalf("panic answered %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-Request-Id", "abc-123")
	h.ServeHTTP(rec, req)
	var body ErrorBody
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	// The id is minted here, never taken from the client: a client-chosen id
	// could make one write's idempotency cover many requests.
	if rec.Code != http.StatusTeapot || body.Code != "teapot" || body.RequestID == "" || body.RequestID == "abc-123" ||
		rec.Header().Get("X-Request-Id") != body.RequestID {
		t.Fatalf("status %d body %+v header %q", rec.Code, body, rec.Header().Get("X-Request-Id"))
	}
	// A hostile request id is replaced.
	rec = httptest.NewRecorder()
	req.Header.Set("X-Request-Id", "bad id\r\n")
	h.ServeHTTP(rec, req)
	if got := rec.Header().Get("X-Request-Id"); got == "" || strings.ContainsAny(got, " \r\n") {
		t.Fatalf("request id = %q", got)
	}
}

func TestMiddlewareKeepsClientRequestIDApart(t *testing.T) {
	var got, gotClient []string
	h := Middleware(slog.New(slog.DiscardHandler), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, RequestID(r.Context()))
		gotClient = append(gotClient, ClientRequestID(r.Context()))
	}))
	for _, sent := range []string{"same-id", "same-id", "bad id\r\n", ""} {
		req := httptest.NewRequest("GET", "/", nil)
		if sent != "" {
			req.Header["X-Request-Id"] = []string{sent}
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	if got[0] == got[1] || got[0] == "same-id" || len(got[0]) != 16 {
		t.Fatalf("request ids %q: each must be minted anew", got)
	}
	if want := []string{"same-id", "same-id", "", ""}; fmt.Sprint(gotClient) != fmt.Sprint(want) {
		t.Fatalf("client request ids %q, want %q", gotClient, want)
	}
}

// A body shorter than its Content-Length is refused as the client's fault,
// at once when the client has finished sending, instead of being decoded as
// far as it goes and failing later as whatever the handler did next.
func TestDecodeJSONShortBodyIs400(t *testing.T) {
	handled := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v struct {
			Name string `json:"name"`
		}
		err := DecodeJSON(w, r, 1<<10, &v)
		handled <- err
		if err != nil {
			WriteError(w, r, err)
		}
	}))
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A complete JSON value, but 90 bytes short of the announced length.
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":\"a\"}")
	_ = c.(*net.TCPConn).CloseWrite()
	select {
	case err := <-handled:
		var e *Error
		if !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Code != "invalid_body" {
			t.Fatalf("short body: %v, want 400 invalid_body", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a short body was not refused at once")
	}
}
