package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

func cmdUsage(e *env, args []string) error {
	fs := e.flags("usage")
	day := fs.String("day", "", "day to show, YYYY-MM-DD (default: today, UTC)")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("usage takes no arguments, got %q", pos)
	}
	if *day != "" {
		if _, err := time.Parse(time.DateOnly, *day); err != nil {
			return usagef("usage: --day %q is not YYYY-MM-DD", *day)
		}
	}
	if err := e.needToken(); err != nil {
		return err
	}
	raw, err := e.client().Usage(e.ctx, *day)
	var ae *keydir.APIError
	if errors.As(err, &ae) && ae.Code == "not_implemented" {
		return fmt.Errorf("usage: not available yet: %s", ae.Message)
	}
	if err != nil {
		return err
	}
	// The usage document's shape is the ledger's; until it is wired in,
	// both modes print it as the key directory returns it.
	_, err = fmt.Fprintln(e.stdout, string(raw))
	return err
}
