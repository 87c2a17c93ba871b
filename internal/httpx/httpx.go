// Package httpx holds the HTTP plumbing shared by paycrawl's services: one
// JSON error encoder, body decoding with size caps, request ids, access
// logs, panic recovery, health endpoints and servers with every timeout set.
package httpx

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"
)

// Error is an API error: an HTTP status, a machine-readable snake_case code
// and a message for people.
type Error struct {
	Status  int
	Code    string
	Message string
	Err     error
}

// Errorf builds an *Error; a %w verb wraps its operand.
func Errorf(status int, code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Status: status, Code: code, Message: err.Error(), Err: errors.Unwrap(err)}
}

// Error implements error.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ErrorBody is the JSON shape of every error response.
type ErrorBody struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
}

// WriteError writes err as {code, message, request_id}. An *Error keeps its
// status and code; anything else is a 500 internal_error whose detail is
// logged, not shown.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		Logger(r.Context()).Error("internal error", "err", err)
		e = &Error{Status: http.StatusInternalServerError, Code: "internal_error", Message: "internal error"}
	}
	WriteJSON(w, e.Status, ErrorBody{Code: e.Code, Message: e.Message, RequestID: RequestID(r.Context())})
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// BodyReadTimeout bounds how long DecodeJSON waits for a request body once
// its handler asks for it.
const BodyReadTimeout = 10 * time.Second

// DecodeJSON reads a JSON request body of at most maxBytes into v, refusing
// unknown fields and trailing data, with 4xx errors for every failure. The
// whole body is read before it is decoded, so that a body cut short (400
// invalid_body) or sent too slowly (408 body_timeout, after
// BodyReadTimeout) is refused as such instead of surfacing later as a
// failure of whatever the handler does next.
func DecodeJSON(w http.ResponseWriter, r *http.Request, maxBytes int64, v any) error {
	// Not every ResponseWriter supports deadlines (a test recorder does
	// not); the server's own ReadTimeout still bounds the read then.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(BodyReadTimeout))
	defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		var ne net.Error
		switch {
		case errors.As(err, &tooBig):
			return Errorf(http.StatusRequestEntityTooLarge, "body_too_large", "request body over %d bytes", maxBytes)
		case errors.As(err, &ne) && ne.Timeout():
			return Errorf(http.StatusRequestTimeout, "body_timeout", "the request body did not arrive within %s", BodyReadTimeout)
		default:
			return Errorf(http.StatusBadRequest, "invalid_body", "the request body could not be read (shorter than its Content-Length, or malformed): %v", err)
		}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return Errorf(http.StatusBadRequest, "invalid_json", "request body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Errorf(http.StatusBadRequest, "invalid_json", "request body: %v", err)
	}
	if dec.More() {
		return Errorf(http.StatusBadRequest, "invalid_json", "request body has data after the JSON value")
	}
	return nil
}

type ctxKey int

const (
	requestIDKey ctxKey = iota
	clientRequestIDKey
	loggerKey
)

// RequestID returns the request's id, minted by this server (see
// Middleware), or "". Being ours, it may make a write idempotent.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// ClientRequestID returns the X-Request-Id the client sent, when it was
// short and printable, or "". It is for correlating logs only: a client
// chooses it, so it must never decide what a write does.
func ClientRequestID(ctx context.Context) string {
	id, _ := ctx.Value(clientRequestIDKey).(string)
	return id
}

// Logger returns the request's logger (with its request id), or slog.Default.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// NewRequestID returns 16 random hex characters (64 bits from crypto/rand).
func NewRequestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Middleware gives every request an id minted here (answered in
// X-Request-Id), a logger carrying it, an access log line, and turns a panic
// into a logged 500 instead of a dead connection. A client's own
// X-Request-Id, when short and printable, is kept apart (ClientRequestID)
// and logged as client_request_id; it never becomes the request's id, since
// ids that make writes idempotent are minted by our servers (a client that
// chose them could make one payment count for many requests).
func Middleware(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := NewRequestID()
		l := logger.With("request_id", id)
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		if cid := r.Header.Get("X-Request-Id"); printableID(cid) {
			ctx = context.WithValue(ctx, clientRequestIDKey, cid)
			l = l.With("client_request_id", cid)
		}
		ctx = context.WithValue(ctx, loggerKey, l)
		r = r.WithContext(ctx)
		w.Header().Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				l.Error("panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if sw.status == 0 {
					WriteError(sw, r, errors.New("panic"))
				}
			}
			l.Info("request", "method", r.Method, "host", r.Host, "path", r.URL.Path, "status", sw.status,
				"bytes", sw.bytes, "duration_ms", float64(time.Since(start).Microseconds())/1000, "remote", r.RemoteAddr)
		}()
		next.ServeHTTP(sw, r)
	})
}

func printableID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// NewServer returns an http.Server with every limit set: header read
// timeout, read and write timeouts, idle timeout and a 64 KiB header cap.
// writeTimeout 0 means 60 s.
func NewServer(addr string, h http.Handler, logger *slog.Logger, writeTimeout time.Duration) *http.Server {
	if writeTimeout <= 0 {
		writeTimeout = 60 * time.Second
	}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// Serve runs srv on ln until ctx ends, then shuts it down, giving in-flight
// requests up to grace to finish.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	return err
}

// Check is a named readiness probe.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Health serves /healthz (the process is up) and /readyz (every check
// passes within 2 s), answering JSON.
func Health(mux *http.ServeMux, checks ...Check) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		result := map[string]string{}
		status := http.StatusOK
		for _, c := range checks {
			if err := c.Fn(ctx); err != nil {
				result[c.Name] = err.Error()
				status = http.StatusServiceUnavailable
			} else {
				result[c.Name] = "ok"
			}
		}
		WriteJSON(w, status, result)
	})
}
