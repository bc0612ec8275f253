package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// RecordIdentity records origin and publicKey as the log's identity if the
// log has none yet, and returns the identity recorded afterwards: the
// arguments on first use, the earlier identity otherwise. Concurrent calls
// from several processes record exactly one identity and all return it. The
// caller decides what a mismatch means (mosaicd refuses to serve).
func (s *Store) RecordIdentity(ctx context.Context, origin string, publicKey []byte) (string, []byte, error) {
	if origin == "" || len(publicKey) == 0 {
		return "", nil, errors.New("recording log identity: origin and public key must not be empty")
	}
	ctx, cancel := s.readCtx(ctx)
	defer cancel()
	// Under READ COMMITTED, ON CONFLICT waits for a concurrent inserter to
	// finish, and the SELECT (a new statement, so a new snapshot) then sees
	// whichever row won.
	_, err := s.pool.Exec(ctx, `INSERT INTO log_identity (log_id, origin, public_key) VALUES ($1, $2, $3)
		ON CONFLICT (log_id) DO NOTHING`, s.cfg.LogID, origin, publicKey)
	if err != nil {
		return "", nil, fmt.Errorf("recording log identity: %w", err)
	}
	var recOrigin string
	var recKey []byte
	err = s.pool.QueryRow(ctx, `SELECT origin, public_key FROM log_identity WHERE log_id = $1`, s.cfg.LogID).
		Scan(&recOrigin, &recKey)
	if err != nil {
		return "", nil, fmt.Errorf("reading recorded log identity: %w", err)
	}
	return recOrigin, recKey, nil
}

// Identity returns the log's recorded identity, or ok == false when none
// is recorded yet.
func (s *Store) Identity(ctx context.Context) (origin string, publicKey []byte, ok bool, err error) {
	ctx, cancel := s.readCtx(ctx)
	defer cancel()
	err = s.pool.QueryRow(ctx, `SELECT origin, public_key FROM log_identity WHERE log_id = $1`, s.cfg.LogID).
		Scan(&origin, &publicKey)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, fmt.Errorf("reading recorded log identity: %w", err)
	}
	return origin, publicKey, true, nil
}
