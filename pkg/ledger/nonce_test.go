package ledger

import (
	"errors"
	"sync"
	"testing"
)

// nonceCases are the suite's cases of the nonce journal.
var nonceCases = []suiteCase{
	{"NonceJournal", testNonceJournal},
	{"NonceClaimsRace", testNonceClaimsRace},
	{"NonceClaimOfARefund", testNonceClaimOfARefund},
}

// testNonceClaimOfARefund: a refund's claim (attempt RefundClaim(seq)) is
// apart from the charge attempts of its invoice and reads back as that
// refund.
func testNonceClaimOfARefund(t *testing.T, e *env) {
	a := InvoiceID("acme", "2026-11-21", "USDC")
	if _, err := e.l.ClaimNonce(e.ctx, testSender+"r", claim(3, a, 1, "0xc1")); err != nil {
		t.Fatal(err)
	}
	got, err := e.l.ClaimNonce(e.ctx, testSender+"r", claim(4, a, RefundClaim(1), "0xd1"))
	if err != nil || got.Refund() != 1 || got.TxHash != "0xd1" {
		t.Fatalf("refund claim = %+v, %v", got, err)
	}
	if got, err := e.l.ClaimNonce(e.ctx, testSender+"r", claim(5, a, RefundClaim(1), "0xd2")); err != nil || got.TxHash != "0xd1" {
		t.Fatalf("second claim of the refund = %+v, %v; want its first", got, err)
	}
	list, err := e.l.NonceClaims(e.ctx, testSender+"r")
	if err != nil || len(list) != 2 || list[0].Refund() != 0 || list[1].Refund() != 1 || list[1].Attempt != -1 {
		t.Fatalf("NonceClaims = %+v, %v", list, err)
	}
}

const testSender = "evm:1337:0x00000000000000000000000000000000000000aa"

func claim(nonce int64, invoice string, attempt int64, hash string) NonceClaim {
	return NonceClaim{Nonce: nonce, Invoice: invoice, Attempt: attempt, TxHash: hash, RawTx: "0x02f8" + hash[2:]}
}

// testNonceJournal: a nonce is claimed once; a claimed nonce names the next
// free one; an attempt that already claimed gets its own claim back; a
// release frees the nonce (and the attempt) only for the claiming hash.
func testNonceJournal(t *testing.T, e *env) {
	a := InvoiceID("acme", "2026-11-20", "USDC")
	b := InvoiceID("bolt", "2026-11-20", "USDC")
	for i := 0; i < 2; i++ { // a resent claim finds itself
		got, err := e.l.ClaimNonce(e.ctx, testSender, claim(7, a, 1, "0xa1"))
		if err != nil || got != claim(7, a, 1, "0xa1") {
			t.Fatalf("ClaimNonce #%d = %+v, %v", i+1, got, err)
		}
	}
	if _, err := e.l.ClaimNonce(e.ctx, testSender, claim(8, b, 1, "0xb1")); err != nil {
		t.Fatal(err)
	}
	_, err := e.l.ClaimNonce(e.ctx, testSender, claim(7, b, 2, "0xb2"))
	var te *NonceTakenError
	if !errors.As(err, &te) || !errors.Is(err, ErrNonceTaken) || te.Next != 9 {
		t.Fatalf("claiming a taken nonce: %v, want ErrNonceTaken naming 9", err)
	}
	// The attempt's earlier claim wins over another transaction of it.
	got, err := e.l.ClaimNonce(e.ctx, testSender, claim(9, a, 1, "0xa9"))
	if err != nil || got != claim(7, a, 1, "0xa1") {
		t.Fatalf("second claim of an attempt = %+v, %v; want its first", got, err)
	}
	list, err := e.l.NonceClaims(e.ctx, testSender)
	if err != nil || len(list) != 2 || list[0] != claim(7, a, 1, "0xa1") || list[1] != claim(8, b, 1, "0xb1") {
		t.Fatalf("NonceClaims = %+v, %v", list, err)
	}
	if ok, err := e.l.ReleaseNonce(e.ctx, testSender, 7, "0xdead"); err != nil || ok {
		t.Fatalf("release by another hash = %v, %v", ok, err)
	}
	if ok, err := e.l.ReleaseNonce(e.ctx, testSender, 7, "0xa1"); err != nil || !ok {
		t.Fatalf("release = %v, %v", ok, err)
	}
	// Nonce 7 and attempt (a, 1) are free again.
	if got, err := e.l.ClaimNonce(e.ctx, testSender, claim(7, a, 1, "0xa7")); err != nil || got.TxHash != "0xa7" {
		t.Fatalf("claim after release = %+v, %v", got, err)
	}
	for _, bad := range []NonceClaim{
		{Nonce: -1, Invoice: a, Attempt: 1, TxHash: "0x1", RawTx: "0x2"},
		{Nonce: 1, Invoice: a, Attempt: 0, TxHash: "0x1", RawTx: "0x2"},
		{Nonce: 1, Invoice: a, Attempt: 1, TxHash: "0x1 x", RawTx: "0x2"},
		{Nonce: 1, Invoice: "nope", Attempt: 1, TxHash: "0x1", RawTx: "0x2"},
	} {
		if _, err := e.l.ClaimNonce(e.ctx, testSender, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ClaimNonce(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := e.l.NonceClaims(e.ctx, "bad{tag}"); !errors.Is(err, ErrInvalid) {
		t.Errorf("sender with braces: %v", err)
	}
}

// testNonceClaimsRace: concurrent claimers of one sender, each starting at
// the same nonce and moving to the next free one it is told, end with
// distinct nonces, one per attempt, without gaps.
func testNonceClaimsRace(t *testing.T, e *env) {
	const n = 12
	var wg sync.WaitGroup
	got := make([]int64, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inv := InvoiceID("acct"+string(rune('a'+i)), "2026-11-20", "USDC")
			nonce := int64(3)
			for {
				c, err := e.l.ClaimNonce(e.ctx, testSender, claim(nonce, inv, 1, "0x"+string(rune('a'+i))))
				var te *NonceTakenError
				if errors.As(err, &te) {
					nonce = te.Next
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				got[i] = c.Nonce
				return
			}
		}()
	}
	wg.Wait()
	seen := map[int64]bool{}
	for _, v := range got {
		if seen[v] || v < 3 || v >= 3+n {
			t.Fatalf("nonces %v: want each of 3..%d once", got, 2+n)
		}
		seen[v] = true
	}
}
