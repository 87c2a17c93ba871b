package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/paycrawl/paycrawl/internal/httpx"
)

// originHandler serves the same page of size bytes for every path.
func originHandler(size int) http.Handler {
	page := []byte("<!doctype html><title>bench</title><p>" + strings.Repeat("x", max(0, size-40)) + "</p>\n")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Length", fmt.Sprint(len(page)))
		_, _ = w.Write(page)
	})
}

// bareProxy is the baseline: a plain reverse proxy with the gateway's
// transport settings and nothing else.
func bareProxy(target *url.URL) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
		Transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          1024,
			MaxIdleConnsPerHost:   256,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
		},
		// The gateway's copy buffers are pooled too.
		BufferPool: &httpx.BufferPool{},
	}
}

func serveUntil(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fmt.Fprintln(os.Stderr, "listening on", ln.Addr())
	return httpx.Serve(ctx, httpx.NewServer(addr, h, logger, 0), ln, 5*time.Second)
}

func cmdOrigin(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("origin", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9000", "address")
	size := fs.Int("size", 2048, "page size in bytes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return serveUntil(ctx, *listen, originHandler(*size))
}

func cmdProxy(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:9001", "address")
	target := fs.String("target", "http://127.0.0.1:9000", "origin URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(*target)
	if err != nil || u.Host == "" {
		return fmt.Errorf("-target %q is not a URL", *target)
	}
	return serveUntil(ctx, *listen, bareProxy(u))
}
