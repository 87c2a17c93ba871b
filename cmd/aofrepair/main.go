// Command aofrepair makes a Redis 7 AOF directory safe to load after a crash:
// run it before every start of the ledger's redis-server, while it is stopped.
//
//	aofrepair [-n] <appendonlydir>
//
// It cuts an incomplete last command and any MULTI block without its EXEC
// (nothing it cuts was ever applied or acknowledged), prints what it cut, and
// exits 0; -n only reports. It exits 1 and changes nothing when a file is
// damaged rather than cut by a crash. See internal/aofrepair and the README's
// "Redis persistence and crash recovery".
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/paycrawl/paycrawl/internal/aofrepair"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "aofrepair:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("aofrepair", flag.ContinueOnError)
	dry := fs.Bool("n", false, "report what would be cut, change nothing")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: aofrepair [-n] <appendonlydir>   (redis-server stopped)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("want one AOF directory")
	}
	rep, err := aofrepair.Repair(fs.Arg(0), aofrepair.Options{DryRun: *dry})
	if err != nil {
		return err
	}
	verb := "repaired"
	if *dry {
		verb = "would repair"
	}
	if rep.Changed() {
		fmt.Fprintf(out, "%s %s:\n%s\n", verb, fs.Arg(0), rep)
		return nil
	}
	fmt.Fprintln(out, rep)
	return nil
}
