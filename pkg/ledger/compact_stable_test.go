package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"testing"
	"time"
)

// TestCompactEncodingIsStable pins the bytes compact writes (profile,
// target, body) for commitments of each shape: stored records must decode
// whichever ledger wrote them, and interned entries are found by their
// bytes. The hashes are of what the encoder wrote before it was rewritten to
// allocate less (checked then against the old encoder by a differential
// fuzz run).
func TestCompactEncodingIsStable(t *testing.T) {
	now := time.Date(2026, 12, 1, 19, 30, 0, 123456789, time.UTC)
	tests := []struct {
		name string
		c    func() *Commitment
		want string
	}{
		{"signed like the gateway", func() *Commitment { return signedCommitment("acme", 7, now) }, "37450edf203d86d61b095d5daf6df78715db5dae574c24950229ad94d5ea4075"},
		{"sample", func() *Commitment { return sampleCommitment("acme", 7, 1_000, now) }, "7b8f57f961059efc92f29131bc2a9af1a4ade8be0e69a3a341e01ee4f34975df"},
		{"integers, base64 forms, hex ids", func() *Commitment {
			c := sampleCommitment("acme", 7, 1_000, now)
			c.SignatureInput = `sig1=();created=0017;expires=-5;nonce="YQ"`
			c.Signature = "sig1=:1000:, sig2=:YQ:, sig3=:-_8=:"
			c.RequestID, c.OfferID = "00ff", "o:YWJj"
			c.Covered["payment"] = `id="o:YWJj", again="o:YWJj"`
			c.ReplayIDs = []string{"0123456789abcdef", "ABCD"}
			return c
		}, "68967725f287be70f426ee5bff30361fa36bb5b6c377c3792686e8bb52458040"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp, err := tt.c().compact()
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			for _, b := range [][]byte{cp.prof.enc, cp.tgt.enc, cp.body} {
				h.Write(b)
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != tt.want {
				t.Errorf("encoding hash %s, want %s", got, tt.want)
			}
		})
	}
}

// Interned entries are shared copies: the same bytes give the same entry,
// whatever the caller does with its buffer afterwards.
func TestEntriesIntern(t *testing.T) {
	var es entries
	buf := []byte("\x02\x03pub\x04site")
	a := es.intern(buf)
	buf[1] = 'X'
	if b := es.intern([]byte("\x02\x03pub\x04site")); b != a {
		t.Error("the same encoding interned twice")
	}
	if string(a.enc) != "\x02\x03pub\x04site" || a.id != entryID(a.enc) || a.encArg.([]byte) == nil || a.idArg.(string) != a.id {
		t.Errorf("entry %+v", a)
	}
	if c := (*entries)(nil).intern(buf); c == a || string(c.enc) != string(buf) {
		t.Errorf("nil entries: %+v", c)
	}
	for i := 0; i < entriesMax+1; i++ {
		es.intern([]byte{byte(i), byte(i >> 8)})
	}
	if len(es.m) > entriesMax {
		t.Errorf("%d entries held, at most %d", len(es.m), entriesMax)
	}
}

// An append's keys and memo keys, cut from one string, are the keys the
// rest of the ledger names.
func TestAppendCallKeys(t *testing.T) {
	l := &Ledger{prefix: "pc"}
	c := signedCommitment("acme", 1, time.Now())
	cp, err := c.compact()
	if err != nil {
		t.Fatal(err)
	}
	day := Day(c.Received)
	for _, guarded := range [][]string{c.ReplayIDs[:1], c.ReplayIDs, {"a", "b", "c"}} {
		call := l.newAppendCall(c, day, guarded, cp)
		want := []string{l.streamKey(c.Account, day), l.aggKey(c.Account, day), l.pubKeyKey(c.Account, c.KeyID), l.profileKey(c.Account, day)}
		for _, id := range guarded {
			want = append(want, l.replayKey(c.Account, id))
		}
		if !slices.Equal(call.keys, want) {
			t.Errorf("keys %q, want %q", call.keys, want)
		}
		for got, want := range map[string]string{
			call.field:      c.Currency + "|" + c.Publisher + "|" + c.Site,
			call.archiveKey: c.Account + " " + c.KeyID,
			call.indexKey:   day + " " + c.Account,
			call.profKey:    c.Account + " " + day + " " + cp.prof.id,
			call.tgtKey:     c.Account + " " + day + " " + cp.tgt.id,
		} {
			if got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		}
	}
}
