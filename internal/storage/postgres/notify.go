package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// listenLoop keeps a connection listening for other frontends' sequencing
// notifications and wakes the integrator on each, reconnecting with backoff
// when the connection fails. Missing notifications only costs latency: the
// integrator also polls every integrateFallback.
func (a *appender) listenLoop(ctx context.Context) {
	var bo backoff
	for {
		err := a.listen(ctx, &bo)
		if ctx.Err() != nil {
			return
		}
		a.s.logFailure(ctx, "listening", err)
		// Cap the wait: until LISTEN is back, other frontends' batches are
		// integrated here only by the fallback ticker.
		if !sleep(ctx, min(bo.next(), 2*time.Second)) {
			return
		}
	}
}

// listen takes a connection out of the pool, LISTENs and relays
// notifications for this log until the connection fails or ctx ends. The
// connection is closed afterwards rather than returned to the pool, so no
// pooled connection is left listening.
func (a *appender) listen(ctx context.Context, bo *backoff) error {
	pc, err := a.s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquiring a connection: %w", err)
	}
	conn := pc.Hijack()
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(closeCtx) // The connection is being discarded either way.
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{notifyChannel}.Sanitize()); err != nil {
		return fmt.Errorf("LISTEN: %w", err)
	}
	bo.reset()
	a.s.health.OK()
	// Batches sequenced while not listening went unannounced.
	a.wakeIntegrator()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("waiting for notifications: %w", err)
		}
		if n.Payload == a.s.cfg.LogID {
			a.wakeIntegrator()
		}
	}
}
