package settle_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/paycrawl/paycrawl/pkg/archive"
	"github.com/paycrawl/paycrawl/pkg/archive/localstore"
	"github.com/paycrawl/paycrawl/pkg/deferred"
	"github.com/paycrawl/paycrawl/pkg/ledger"
	"github.com/paycrawl/paycrawl/pkg/money"
	"github.com/paycrawl/paycrawl/pkg/settle"
)

// BenchmarkCloseAndArchiveDay closes and archives a day of 1,000,000
// commitments over 1,000 crawlers, each made as the gateway records it: a
// Signature-Input with a 64-byte random nonce, a real Ed25519 signature
// (over the request's signature base) by the crawler's own key,
// deferred.ReplayIDs, a 16-hex request id. After the load (untimed,
// load-s) it closes the day (close-s), makes every invoice final (void,
// untimed), then archives the day to a local store (archive-s): each
// crawler-day's segment written, read back and compared with the stream
// and the invoices, the manifest, the trim. It reports the archive's
// commitments/s, the segments' bytes per commitment on disk, and Redis's
// used_memory per commitment before and after the archive (the replay
// keys are still live: they would expire minutes after each request).
// SETTLE_BENCH_COMMITMENTS and SETTLE_BENCH_CRAWLERS change the size.
//
//	go test -run '^$' -bench CloseAndArchiveDay -benchtime 1x -timeout 60m ./pkg/settle/
func BenchmarkCloseAndArchiveDay(b *testing.B) {
	commitments, crawlers := envInt("SETTLE_BENCH_COMMITMENTS", 1_000_000), envInt("SETTLE_BENCH_CRAWLERS", 1_000)
	b.Run(fmt.Sprintf("commitments=%d/crawlers=%d", commitments, crawlers), func(b *testing.B) {
		rdb := benchRedis(b)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			r := closeAndArchive(b, rdb, "b"+strconv.Itoa(i), commitments, crawlers)
			b.ReportMetric(r.load.Seconds(), "load-s")
			b.ReportMetric(r.close.Seconds(), "close-s")
			b.ReportMetric(r.archive.Seconds(), "archive-s")
			b.ReportMetric(float64(commitments)/r.archive.Seconds(), "archived-commitments/s")
			b.ReportMetric(float64(r.disk)/float64(commitments), "disk-bytes/commitment")
			b.ReportMetric(float64(r.redisBefore)/float64(commitments), "redis-bytes/commitment")
			b.ReportMetric(float64(r.redisAfter)/float64(commitments), "redis-bytes-after/commitment")
			if err := rdb.FlushAll(context.Background()).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestCloseAndArchiveDaySmall runs the benchmark's day at a small size in
// the ordinary test pass, so that the benchmark cannot rot.
func TestCloseAndArchiveDaySmall(t *testing.T) {
	closeAndArchive(t, benchRedis(t), "small", 2_000, 20)
}

// archived is what closing and archiving a day took.
type archived struct {
	load, close, archive    time.Duration
	disk                    int64 // bytes of the day's segments
	redisBefore, redisAfter int64 // used_memory above the empty server's
}

func closeAndArchive(tb testing.TB, rdb redis.UniversalClient, prefix string, commitments, crawlers int) archived {
	tb.Helper()
	ctx := context.Background()
	empty := usedMemory(tb, rdb)
	cd := prepareDay(tb, rdb, prefix, commitments, crawlers, newSigner(crawlers).commitment)
	out := archived{load: cd.loaded, redisBefore: usedMemory(tb, rdb) - empty}
	start := time.Now()
	rep, err := cd.s.Close(ctx, cd.day)
	out.close = time.Since(start)
	cd.check(tb, rep, err)
	for c := 0; c < crawlers; c++ {
		id := ledger.InvoiceID("op_bench"+strconv.Itoa(c), cd.day, "USD")
		if _, err := cd.s.Void(ctx, id, settle.Review{Actor: "bench", Reason: "final"}); err != nil {
			tb.Fatal(err)
		}
	}
	st, err := localstore.Open(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	a, err := archive.New(archive.Options{Ledger: cd.l, Store: st, TempDir: tb.TempDir(), Now: cd.now})
	if err != nil {
		tb.Fatal(err)
	}
	start = time.Now()
	arep, err := a.ArchiveDay(ctx, cd.day)
	out.archive = time.Since(start)
	if err != nil {
		tb.Fatal(err)
	}
	var n int64
	for _, e := range arep.Archived {
		n += e.Count
		out.disk += e.Bytes
	}
	if len(arep.Archived) != crawlers || len(arep.Trimmed) != crawlers || n != int64(commitments) {
		tb.Fatalf("archived %d crawler-days (%d commitments), trimmed %d; want %d and %d", len(arep.Archived), n, len(arep.Trimmed), crawlers, commitments)
	}
	out.redisAfter = usedMemory(tb, rdb) - empty
	return out
}

// usedMemory is redis-server's INFO used_memory.
func usedMemory(tb testing.TB, rdb redis.UniversalClient) int64 {
	tb.Helper()
	v, err := rdb.InfoMap(context.Background(), "memory").Result()
	if err != nil {
		tb.Fatal(err)
	}
	n, err := strconv.ParseInt(v["Memory"]["used_memory"], 10, 64)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// signer makes commitments signed as the gateway records them, one
// Ed25519 key per crawler.
type signer struct {
	keys []ed25519.PrivateKey
	kids []string
}

func newSigner(crawlers int) *signer {
	s := &signer{}
	for c := 0; c < crawlers; c++ {
		seed := sha256.Sum256([]byte("bench crawler " + strconv.Itoa(c)))
		k := ed25519.NewKeyFromSeed(seed[:])
		kid := sha256.Sum256(k.Public().(ed25519.PublicKey))
		s.keys = append(s.keys, k)
		s.kids = append(s.kids, base64.RawURLEncoding.EncodeToString(kid[:]))
	}
	return s
}

func (s *signer) commitment(i int64, crawlers int, at time.Time) *ledger.Commitment {
	c := plainCommitment(i, crawlers, at)
	k := int(i % int64(crawlers))
	var rnd [8 + 64]byte
	_, _ = rand.Read(rnd[:])
	c.RequestID = fmt.Sprintf("%x", rnd[:8])
	c.KeyID, c.Agent, c.Scheme, c.Authority, c.Dialect, c.Label = s.kids[k], "https://crawler"+strconv.Itoa(k)+".example/agent", "https", c.Site, "crawler-price", "sig1"
	c.PublicKey = `{"kty":"OKP","crv":"Ed25519","x":"` + base64.RawURLEncoding.EncodeToString(s.keys[k].Public().(ed25519.PublicKey)) + `"}`
	nonce := base64.StdEncoding.EncodeToString(rnd[8:])
	created := at.Unix()
	c.Covered = map[string]string{"signature-agent": `"` + c.Agent + `"`, "crawler-max-price": "0.010000"}
	params := `("@authority" "@path" "signature-agent" "crawler-max-price");created=` + strconv.FormatInt(created, 10) +
		`;expires=` + strconv.FormatInt(created+60, 10) + `;keyid="` + c.KeyID + `";alg="ed25519";nonce="` + nonce + `";tag="web-bot-auth"`
	c.SignatureInput = "sig1=" + params
	base := `"@authority": ` + c.Authority + "\n\"@path\": " + c.Path + "\n\"signature-agent\": " + c.Covered["signature-agent"] +
		"\n\"crawler-max-price\": " + c.Covered["crawler-max-price"] + "\n\"@signature-params\": " + params
	sig := ed25519.Sign(s.keys[k], []byte(base))
	c.Signature = "sig1=:" + base64.StdEncoding.EncodeToString(sig) + ":"
	c.ReplayIDs = deferred.ReplayIDs(c.KeyID, nonce, sig)
	c.ReplayKeys = deferred.ReplayKeys(nonce)
	c.Price = money.Micros(1_000 + i%9_000)
	return c
}
