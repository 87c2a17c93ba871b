package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/paycrawl/paycrawl/pkg/deferred"
)

// receipt is one line of the receipt log: a request sent with a payment
// commitment, and what became of it. crawlctl reconcile compares these with
// the ledger's commitments of a day.
type receipt struct {
	Sent        time.Time `json:"sent"`
	URL         string    `json:"url"`
	SignatureID string    `json:"signature_id"`
	// Status is the answer's HTTP status; 0 when none arrived.
	Status       int    `json:"status"`
	RequestID    string `json:"request_id,omitempty"`
	CrawlerError string `json:"crawler_error,omitempty"`
	// Charged and Currency are what the answer said it charged.
	Charged    string `json:"charged,omitempty"`
	Currency   string `json:"currency,omitempty"`
	Commitment string `json:"commitment,omitempty"`
	// Delivered is true once the whole body of a 2xx answer was read.
	Delivered bool   `json:"delivered"`
	Error     string `json:"error,omitempty"`
}

// receiptFromAttempt fills a log line from the Transport's report.
func receiptFromAttempt(a *deferred.Attempt) receipt {
	r := receipt{Sent: a.Sent.UTC(), URL: a.URL, SignatureID: a.SignatureID, Status: a.Status,
		RequestID: a.RequestID, CrawlerError: a.CrawlerError}
	if a.Receipt != nil {
		r.Charged, r.Currency, r.Commitment = a.Receipt.Charged.Value.String(), a.Receipt.Charged.Currency, a.Receipt.CommitmentID
	}
	if a.Err != nil {
		r.Error = a.Err.Error()
	}
	return r
}

// receiptsPath is the receipt log's path: --receipts, else
// PAYCRAWL_RECEIPTS, else receipts.jsonl in the user's state directory
// ($XDG_STATE_HOME/paycrawl, or ~/.local/state/paycrawl). "off" keeps none.
func (e *env) receiptsPath(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if p := e.getenv("PAYCRAWL_RECEIPTS"); p != "" {
		return p, nil
	}
	dir := e.getenv("XDG_STATE_HOME")
	if dir == "" {
		home := e.getenv("HOME")
		if home == "" {
			fmt.Fprintln(e.stderr, "crawlctl: warning: no HOME, so no receipt log: set --receipts or PAYCRAWL_RECEIPTS to reconcile later")
			return "off", nil
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "paycrawl", "receipts.jsonl"), nil
}

// appendReceipt adds r to the log at path as one JSON line, written with a
// single write on a file opened for appending, so that concurrent crawlctl
// runs do not interleave lines.
func appendReceipt(path string, r receipt) error {
	if path == "off" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("receipt log: %w", err)
	}
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("receipt log: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("receipt log %s: %w", path, err)
	}
	return f.Close()
}

// readReceipts calls fn with every well-formed line of the log at path; a
// line that does not parse (a write cut short by a crash) is counted and
// skipped. A missing log holds no receipts.
func readReceipts(path string, fn func(receipt)) (skipped int, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("receipt log: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			var r receipt
			if json.Unmarshal(line, &r) != nil || r.SignatureID == "" {
				skipped++
			} else {
				fn(r)
			}
		}
		if err == io.EOF {
			return skipped, nil
		}
		if err != nil {
			return skipped, fmt.Errorf("receipt log %s: %w", path, err)
		}
	}
}
