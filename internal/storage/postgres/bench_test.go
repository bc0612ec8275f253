package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/tessera"

	"github.com/mosaiclog/mosaic/internal/pgtest"
	"github.com/mosaiclog/mosaic/internal/storage/postgres"
)

// BenchmarkAppend measures adds that wait for publication (as a Rekor write
// does before it can return an inclusion proof), with many concurrent
// clients: 64 per GOMAXPROCS.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	s := newStore(b, pgtest.NewDatabase(b), nil)
	key := newLogKey(b)
	fe := startFrontend(b, s, key, tessera.NewAppendOptions().
		WithBatching(256, 10*time.Millisecond).WithPushback(1<<20))
	waitCheckpoint(b, s, key, 0)
	var n atomic.Uint64
	b.SetParallelism(64)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := tessera.NewEntry(fmt.Appendf(nil, "benchmark entry %d", n.Add(1)))
			if _, _, err := fe.awaiter.Await(ctx, fe.appender.Add(ctx, e)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkSequence measures adds that wait only for their durable index
// (the future), not for publication: the sequencing capacity, with and
// without the authoritative duplicate check (the identities lookup and
// insert in the sequencing transaction) that mosaicd always runs.
func BenchmarkSequence(b *testing.B) {
	for _, dedup := range []bool{false, true} {
		b.Run(fmt.Sprintf("dedup=%t", dedup), func(b *testing.B) {
			ctx := context.Background()
			s := newStore(b, pgtest.NewDatabase(b), func(c *postgres.Config) { c.Dedup = dedup })
			key := newLogKey(b)
			fe := startFrontend(b, s, key, tessera.NewAppendOptions().
				WithBatching(256, 10*time.Millisecond).WithPushback(1<<20))
			var n atomic.Uint64
			b.SetParallelism(64)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					e := tessera.NewEntry(fmt.Appendf(nil, "benchmark entry %d", n.Add(1)))
					if _, err := fe.appender.Add(ctx, e)(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/entry")
		})
	}
}
