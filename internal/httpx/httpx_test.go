package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
