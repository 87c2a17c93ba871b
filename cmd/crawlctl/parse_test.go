package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
)

// Arguments after "--" are positional even when they start with "-", as
// one key id in 64 does; without "--" such an id is refused with a hint.
func TestParseDoubleDash(t *testing.T) {
	const keyID = "-vErn-EllrDGlI4SUD50txkKA49XlOKUx9zCSSdDRfQ"
	tests := []struct {
		args []string
		pos  string
		yes  bool
		err  string
	}{
		{[]string{"--", keyID}, "[" + keyID + "]", false, ""},
		{[]string{"--yes", "--", keyID}, "[" + keyID + "]", true, ""},
		{[]string{"abc", "--yes"}, "[abc]", true, ""},
		{[]string{keyID}, "", false, `goes after "--"`},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("crawlctl revoke", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		yes := fs.Bool("yes", false, "")
		pos, err := parse(fs, tt.args)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parse(%q) = %v, want an error containing %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(pos) != tt.pos || *yes != tt.yes {
			t.Errorf("parse(%q) = %q, yes=%v, %v; want %s yes=%v", tt.args, pos, *yes, err, tt.pos, tt.yes)
		}
	}
}
