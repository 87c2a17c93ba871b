package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/paycrawl/paycrawl/pkg/archive"
)

// cmdArchive is `settler archive run|verify`.
func cmdArchive(ctx context.Context, args []string, e ioEnv) error {
	if len(args) == 0 {
		return errors.New("usage: settler archive run --day D | verify [--day D] [-config file] [--json]")
	}
	switch args[0] {
	case "run":
		return withApp(ctx, "archive run", args[1:], e, true, wiring{}, func(o opts, a *app) error {
			if a.archiver == nil {
				return errors.New("archive: no archive configured (archive.store in the configuration)")
			}
			rep, err := a.settler.Archive(ctx, o.day)
			if rep == nil {
				return err
			}
			return report(e, o, archiveRunView(rep), func(w io.Writer) { writeArchiveRun(w, rep) }, err)
		})
	case "verify":
		return cmdArchiveVerify(ctx, args[1:], e)
	}
	return fmt.Errorf("archive: unknown subcommand %q (run, verify)", args[0])
}

// cmdArchiveVerify checks the chain of manifests and the segments of one
// day (or all).
func cmdArchiveVerify(ctx context.Context, args []string, e ioEnv) error {
	var o opts
	fs := flag.NewFlagSet("settler archive verify", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.StringVar(&o.config, "config", "", "YAML configuration file (see configs/settler.example.yaml)")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON")
	fs.StringVar(&o.day, "day", "", "check the segments of this UTC day only, YYYY-MM-DD (default: every day)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.day != "" {
		day, err := parseDay(o.day, time.Now())
		if err != nil {
			return err
		}
		o.day = day
	}
	a, err := setup(ctx, o, e, wiring{})
	if err != nil {
		return err
	}
	defer a.Close()
	if a.archiver == nil {
		return errors.New("archive: no archive configured (archive.store in the configuration)")
	}
	rep, err := a.archiver.Check(ctx, o.day)
	if err != nil {
		return err
	}
	if !rep.OK() {
		err = fmt.Errorf("archive: %d problems found", len(rep.Problems))
	}
	return report(e, o, archiveCheckView(rep), func(w io.Writer) { writeArchiveCheck(w, rep) }, err)
}

// archiveRunJSON is what `settler archive run --json` prints.
type archiveRunJSON struct {
	Day      string            `json:"day"`
	Manifest string            `json:"manifest,omitempty"`
	Archived []archivedJSON    `json:"archived"`
	Trimmed  []string          `json:"trimmed"`
	Kept     map[string]string `json:"kept"`
}

type archivedJSON struct {
	Account     string `json:"account"`
	Commitments int64  `json:"commitments"`
	Segment     string `json:"segment"`
	Bytes       int64  `json:"bytes"`
	SHA256      string `json:"sha256"`
}

func archiveRunView(r *archive.DayReport) archiveRunJSON {
	v := archiveRunJSON{Day: r.Day, Manifest: r.Manifest, Archived: []archivedJSON{}, Trimmed: r.Trimmed, Kept: r.Kept}
	for _, e := range r.Archived {
		v.Archived = append(v.Archived, archivedJSON{Account: e.Account, Commitments: e.Count, Segment: e.Segment, Bytes: e.Bytes, SHA256: e.SHA256})
	}
	if v.Trimmed == nil {
		v.Trimmed = []string{}
	}
	return v
}

func writeArchiveRun(w io.Writer, r *archive.DayReport) {
	var n, bytes int64
	for _, e := range r.Archived {
		n += e.Count
		bytes += e.Bytes
	}
	fmt.Fprintf(w, "%s: archived %d crawler-days (%d commitments, %d bytes)", r.Day, len(r.Archived), n, bytes)
	if r.Manifest != "" {
		fmt.Fprintf(w, " in %s", r.Manifest)
	}
	fmt.Fprintf(w, "; %d streams trimmed\n", len(r.Trimmed))
	kept := make([]string, 0, len(r.Kept))
	for a := range r.Kept {
		kept = append(kept, a)
	}
	sort.Strings(kept)
	for _, a := range kept {
		fmt.Fprintf(w, "  kept %s: %s\n", a, r.Kept[a])
	}
}

// archiveCheckJSON is what `settler archive verify --json` prints.
type archiveCheckJSON struct {
	OK          bool     `json:"ok"`
	Manifests   int      `json:"manifests"`
	Entries     int      `json:"entries"`
	Segments    int      `json:"segments"`
	Commitments int64    `json:"commitments"`
	Problems    []string `json:"problems"`
}

func archiveCheckView(r *archive.CheckReport) archiveCheckJSON {
	v := archiveCheckJSON{OK: r.OK(), Manifests: r.Manifests, Entries: r.Entries, Segments: r.Segments,
		Commitments: r.Commitments, Problems: r.Problems}
	if v.Problems == nil {
		v.Problems = []string{}
	}
	return v
}

func writeArchiveCheck(w io.Writer, r *archive.CheckReport) {
	verdict := "verified"
	if !r.OK() {
		verdict = "DOES NOT VERIFY"
	}
	fmt.Fprintf(w, "archive %s: %d manifests, %d entries in the chain; %d segments read back, %d commitments\n",
		verdict, r.Manifests, r.Entries, r.Segments, r.Commitments)
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  %s\n", p)
	}
}
