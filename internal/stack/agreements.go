package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"

	"github.com/paycrawl/paycrawl/pkg/agreement"
	"github.com/paycrawl/paycrawl/pkg/registry/keydir"
)

// GatewayCLI runs the gateway command's publisher side (gateway agreements
// …) against the stack's key directory with a publisher's own token
// (pcp_…) and returns its standard output.
func (s *Stack) GatewayCLI(ctx context.Context, publisherToken string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.Bin("gateway"), args...)
	cmd.Env = append(cmd.Environ(), "PAYCRAWL_KEYDIR_URL="+s.Keydir, "PAYCRAWL_PUBLISHER_TOKEN="+publisherToken)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("gateway %v: %w\n%s%s", args, err, out.String(), errb.String())
	}
	return out.Bytes(), nil
}

// OfferAgreement has publisher p offer an agreement in its JSON form (the
// file `gateway agreements offer --file` reads) and returns the offered
// version as the key directory recorded it.
func (s *Stack) OfferAgreement(ctx context.Context, p *Publisher, offer any) (*agreement.Agreement, error) {
	raw, err := json.Marshal(offer)
	if err != nil {
		return nil, err
	}
	path, err := s.writeConfig("offer-"+p.ID+".json", string(raw))
	if err != nil {
		return nil, err
	}
	out, err := s.GatewayCLI(ctx, p.Token, "agreements", "offer", "--file", path, "--json")
	if err != nil {
		return nil, err
	}
	var a agreement.Agreement
	if err := json.Unmarshal(out, &a); err != nil {
		return nil, fmt.Errorf("gateway agreements offer output: %v\n%s", err, out)
	}
	s.logf("offered           %s v%d by %s to %s", a.ID, a.Version, p.ID, a.Account)
	return &a, nil
}

// AcceptAgreement has crawler c accept version v of agreement id with
// crawlctl (signed with c's key) and returns crawlctl's output for
// people.
func (s *Stack) AcceptAgreement(ctx context.Context, c *Crawler, id string, v int) ([]byte, error) {
	return s.Crawlctl(ctx, c.Token, "agreements", "accept", id, "--version", strconv.Itoa(v), "--key", c.KeyPath)
}

// Agreement returns agreement id's versions as operator c reads them from
// the key directory (crawlctl agreements show --json).
func (s *Stack) Agreement(ctx context.Context, c *Crawler, id string) ([]agreement.Agreement, error) {
	out, err := s.Crawlctl(ctx, c.Token, "agreements", "show", id, "--json")
	if err != nil {
		return nil, err
	}
	var got keydir.AgreementResponse
	if err := json.Unmarshal(out, &got); err != nil {
		return nil, fmt.Errorf("crawlctl agreements show output: %v\n%s", err, out)
	}
	return got.Versions, nil
}
