// Package testlog gives tests a logger that is silent unless asked for: with
// the environment variable PAYCRAWL_TEST_LOG set (to anything), it writes
// every record, debug included, to standard error.
package testlog

import (
	"io"
	"log/slog"
	"os"
)

// Env is the environment variable that turns the logs of tests on.
const Env = "PAYCRAWL_TEST_LOG"

// New returns a logger that discards everything, or writes text to standard
// error at debug level when Env is set.
func New() *slog.Logger {
	if os.Getenv(Env) != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
