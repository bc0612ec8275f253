package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// The driver counts what it asks of PostgreSQL, by operation, so that the
// cost of sequencing, integrating and publishing is a number that tests can
// hold to, not only a timing. A pgx tracer installed on the pools the driver
// opens (Connect, Config.URL) does the counting; the operation comes from the
// context of each call (withOp). A pool the caller built without the tracer
// counts nothing.
//
// A round trip is one request that waits for the server's answer: a
// statement sent on its own (Exec, Query, QueryRow, including BEGIN and
// COMMIT), or a pipelined batch of statements (SendBatch), or a COPY. The
// one-time preparation of a statement on a new connection (pgx caches
// prepared statements per connection) is not counted.

// Operation labels.
const (
	opSequence  = "sequence"  // assigning indices and storing a batch
	opIntegrate = "integrate" // appending sequenced batches to the tree
	opPublish   = "publish"   // signing and storing a checkpoint
	opRead      = "read"      // reading the checkpoint, tiles and bundles
	opState     = "state"     // NextIndex, IntegratedSize, CheckpointPublishedAt, Frozen: the log's own polling
	opOther     = "other"     // opening a log, identity, pings
)

// pgOp is the counters of one operation of one log.
type pgOp struct {
	roundTrips prometheus.Counter
	statements prometheus.Counter
}

type pgOpKey struct{}

// withOp marks ctx so that the tracer charges what is sent with it to op.
func (m *Metrics) withOp(ctx context.Context, op string) context.Context {
	return context.WithValue(ctx, pgOpKey{}, m.ops[op])
}

func opFrom(ctx context.Context) *pgOp {
	op, _ := ctx.Value(pgOpKey{}).(*pgOp)
	return op
}

// roundTripTracer counts round trips and statements (see above).
type roundTripTracer struct{}

var (
	_ pgx.QueryTracer    = roundTripTracer{}
	_ pgx.BatchTracer    = roundTripTracer{}
	_ pgx.CopyFromTracer = roundTripTracer{}
)

func (roundTripTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	if op := opFrom(ctx); op != nil {
		op.roundTrips.Inc()
		op.statements.Inc()
	}
	return ctx
}

func (roundTripTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (roundTripTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	if op := opFrom(ctx); op != nil {
		op.roundTrips.Inc()
	}
	return ctx
}

func (roundTripTracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchQueryData) {
	if op := opFrom(ctx); op != nil {
		op.statements.Inc()
	}
}

func (roundTripTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (roundTripTracer) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	if op := opFrom(ctx); op != nil {
		op.roundTrips.Inc()
		op.statements.Inc()
	}
	return ctx
}

func (roundTripTracer) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}
