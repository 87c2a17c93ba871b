package archive_test

import (
	"testing"

	"github.com/paycrawl/paycrawl/pkg/money"
)

// BenchmarkArchiveDay archives one crawler-day of 20,000 commitments
// (write, read back and compare with the stream and the invoice, manifest,
// trim) into a local store and reports commitments/s and the segment's
// bytes per commitment. Run it once: -bench ArchiveDay -benchtime 1x. Its
// commitments repeat one placeholder signature, so the size is a floor:
// real signatures (64 random bytes each) do not compress.
func BenchmarkArchiveDay(b *testing.B) {
	const n = 20_000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		w := newWorld(b)
		prices := make([]money.Micros, n)
		for j := range prices {
			prices[j] = money.Micros(1000 + j%7)
		}
		w.use("op_bench", "news.example", "USD", prices...)
		w.close()
		w.void("op_bench", "USD")
		b.StartTimer()
		rep, err := w.archiver(nil).ArchiveDay(w.ctx, w.day)
		b.StopTimer()
		if err != nil || len(rep.Archived) != 1 {
			b.Fatalf("%+v %v", rep, err)
		}
		b.ReportMetric(float64(rep.Archived[0].Bytes)/n, "bytes/commitment")
		b.ReportMetric(float64(n)*float64(i+1)/b.Elapsed().Seconds(), "commitments/s")
	}
}
