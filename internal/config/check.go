package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
)

// Validator is a configuration part that checks itself.
type Validator interface {
	// Validate reports every problem of the part, joined with errors.Join.
	Validate() error
}

// Validate runs the Validate method of every part and joins what they
// report; nil parts are skipped.
func Validate(parts ...Validator) error {
	var errs []error
	for _, p := range parts {
		if p != nil {
			errs = append(errs, p.Validate())
		}
	}
	return errors.Join(errs...)
}

// Problems collects the problems of a configuration so that all of them are
// reported at once.
type Problems struct{ errs []error }

// Addf records a problem.
func (p *Problems) Addf(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf(format, args...))
}

// Add records err unless it is nil.
func (p *Problems) Add(err error) {
	if err != nil {
		p.errs = append(p.errs, err)
	}
}

// Err joins the problems (errors.Join); nil when there are none.
func (p *Problems) Err() error { return errors.Join(p.errs...) }

// FromEnv overrides each destination with its environment variable when
// that is set and not empty (secrets: tokens, API keys, passwords).
func FromEnv(getenv func(string) string, vars map[string]*string) {
	for name, dst := range vars {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
}

// Secret returns s, or for "env:NAME" the value of the environment variable
// NAME, which must not be empty.
func Secret(s string) (string, error) {
	name, ok := strings.CutPrefix(s, "env:")
	if !ok {
		return s, nil
	}
	v := os.Getenv(name)
	if v == "" {
		return "", fmt.Errorf("environment variable %s is empty", name)
	}
	return v, nil
}

// HTTPURL checks that s is an absolute http or https URL without a query or
// fragment.
func HTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("want an absolute http(s) URL")
	}
	return nil
}

// Origin checks that s is an http or https origin: scheme and host, no
// user, path, query or fragment.
func Origin(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("want an http(s) origin")
	}
	return nil
}

// HostPort checks a listen address.
func HostPort(s string) error {
	_, _, err := net.SplitHostPort(s)
	return err
}

// ParseLevel reads a log level: debug, info, warn or error (any case,
// surrounding spaces ignored).
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(strings.TrimSpace(s)))
	return l, err
}

// NewLogger returns a JSON logger to w at level.
func NewLogger(w io.Writer, level string) (*slog.Logger, error) {
	l, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}
