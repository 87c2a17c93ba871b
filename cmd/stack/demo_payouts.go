package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/paycrawl/paycrawl/internal/publisher"
	"github.com/paycrawl/paycrawl/pkg/settle/evm/devchain"
)

// payPublishers pays the publishers what today's paid invoices earned
// them, now rather than after the week (payouts run -early): the news
// site by a Stripe Connect transfer (on stripe-mock), the API by an
// ERC-20 transfer from the treasury, which first lets the settler spend.
func payPublishers(ctx context.Context, d *demoRun) error {
	st, chain := d.st, d.chain
	if _, err := st.Settler(ctx, "devchain", "approve", "-rpc", chain.RPC, "-key", chain.TreasuryKey, "-token", chain.Token,
		"-spender", chain.Settler, "-amount", "100.00"); err != nil {
		return err
	}
	fmt.Printf("the treasury %s lets the settler pay publishers out of it (approve 100.00)\n", chain.Treasury)
	out, err := st.Settler(ctx, "payouts", "run", "-config", d.cfgPath, "-early")
	if err != nil {
		return err
	}
	fmt.Print(string(out))
	if out, err = st.Settler(ctx, "payouts", "list", "-config", d.cfgPath); err != nil {
		return err
	}
	fmt.Print(string(out))
	key, err := devchain.ParseKey(d.apiWalletKey)
	if err != nil {
		return err
	}
	return d.printBalance(ctx, d.api.ID+"'s wallet", crypto.PubkeyToAddress(key.PublicKey).Hex())
}

// publisherStatement fetches the news publisher's statement of the month
// with its own token, prints its totals and payouts, and writes it as
// HTML and CSV under the demo's output directory.
func publisherStatement(ctx context.Context, d *demoRun) error {
	month := time.Now().UTC().Format("2006-01")
	var st publisher.StatementJSON
	raw, err := d.statement(ctx, month, "json")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return fmt.Errorf("statement: %w", err)
	}
	fmt.Printf("%s (%s), %s to %s, %d entries, each traced to an invoice line\n", st.Name, st.Publisher, st.From, st.To, st.Entries)
	fmt.Fprintln(d.w, "CURRENCY\tREQUESTS\tGROSS\tCREDITS\tVOIDS\tREFUNDS\tCHARGEBACKS\tFEE\tNET\tPAID OUT\tBALANCE")
	curs := make([]string, 0, len(st.Totals))
	for cur := range st.Totals {
		curs = append(curs, cur)
	}
	sort.Strings(curs)
	for _, cur := range curs {
		t := st.Totals[cur]
		fmt.Fprintf(d.w, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cur, t.Requests, t.Gross, t.Credits, t.Voids, t.Refunds, t.Chargebacks, t.Fee, t.Net, t.PaidOut, st.Balance[cur])
	}
	d.w.Flush()
	fmt.Fprintln(d.w, "CRAWLER\tREQUESTS\tNET")
	for _, c := range st.Crawlers {
		fmt.Fprintf(d.w, "%s\t%d\t%s %s\n", c.Name, c.Requests, c.Currency, c.Net)
	}
	d.w.Flush()
	for _, p := range st.Payouts {
		fmt.Printf("payout %s: %s %s %s on %s, reference %s\n", p.ID, p.Status, p.Amount, p.Currency, p.Rail, p.Reference)
	}
	if err := os.MkdirAll(d.out, 0o755); err != nil {
		return err
	}
	for _, f := range []string{"html", "csv"} {
		body, err := d.statement(ctx, month, f)
		if err != nil {
			return err
		}
		path := filepath.Join(d.out, fmt.Sprintf("statement-%s-%s.%s", st.Publisher, month, f))
		if err := os.WriteFile(path, body, 0o644); err != nil {
			return err
		}
		fmt.Printf("written %s\n", path)
	}
	return nil
}

// statement is the news publisher's statement of month in format, from
// the settler's publisher API with the publisher's own token.
func (d *demoRun) statement(ctx context.Context, month, format string) ([]byte, error) {
	url := d.st.SettlerURL + "/v1/publisher/statement?month=" + month + "&format=" + format
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+d.news.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("statement %s: %s %s", format, resp.Status, body)
	}
	return body, nil
}
