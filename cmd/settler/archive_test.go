package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paycrawl/paycrawl/pkg/archive"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

type noPayers struct{}

func (noPayers) Payer(context.Context, string) (settle.Payer, error) {
	return settle.Payer{}, settle.ErrNoPayer
}

// TestArchiveCommands: `settler archive run` moves a day's final
// crawler-days to a local archive and trims them; `settler archive verify`
// checks it, and fails once a segment is damaged.
func TestArchiveCommands(t *testing.T) {
	w := newWorld(t)
	dir := t.TempDir()
	cfg := w.config("archive:\n  store: local\n  dir: " + dir + "\n")
	if _, err := w.cli("archive", "run", "-config", w.config(""), "--day", w.day); err == nil ||
		!strings.Contains(err.Error(), "no archive configured") {
		t.Fatalf("without an archive: %v", err)
	}
	if _, err := w.cli("close", "-config", cfg, "--day", w.day); err != nil {
		t.Fatal(err)
	}
	s, err := settle.New(settle.Options{Ledger: w.l, Payers: noPayers{}, Config: settle.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{ledger.InvoiceID(w.card, w.day, "USD"), ledger.InvoiceID(w.coin, w.day, "USDC")} {
		if _, err := s.Void(w.ctx, id, settle.Review{Actor: "alice", Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := w.cli("archive", "run", "-config", cfg, "--day", w.day, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var run archiveRunJSON
	if err := json.Unmarshal([]byte(out), &run); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(run.Archived) != 2 || len(run.Trimmed) != 2 || len(run.Kept) != 0 || run.Manifest == "" {
		t.Fatalf("archive run: %s", out)
	}
	if out, err = w.cli("archive", "verify", "-config", cfg); err != nil || !strings.HasPrefix(out, "archive verified: 1 manifests, 2 entries") {
		t.Fatalf("verify: %s %v", out, err)
	}
	seg := filepath.Join(dir, filepath.FromSlash(archive.SegmentName(w.card, w.day)))
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err = w.cli("archive", "verify", "-config", cfg, "--day", w.day); err == nil || !strings.Contains(out, "DOES NOT VERIFY") {
		t.Fatalf("verify of a damaged archive: %s %v", out, err)
	}
}
