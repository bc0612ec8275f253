package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/verify"
	tclient "github.com/transparency-dev/tessera/client"
)

// The verifier's state directory holds checkpoints/ (one file per log:
// the largest checkpoint verified, see verify.DirMemory) and evidence/
// (split-view evidence files, for mosaic verify-evidence).
const (
	memorySubdir   = "checkpoints"
	evidenceSubdir = "evidence"
)

// defaultStateDir is $XDG_STATE_HOME/mosaic, else ~/.local/state/mosaic
// (Go has no os.UserStateDir; this is the XDG base directory rule).
func defaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "mosaic")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "mosaic")
	}
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "mosaic", "state")
	}
	return ""
}

// stateFlags choose the verifier memory: where it is, whether to use it,
// and whether consistency proofs may be fetched.
type stateFlags struct {
	name    string // the directory flag's name: "state" or "verifier-state"
	dir     *string
	none    *bool
	offline *bool
}

// addStateFlags adds --NAME DIR and --no-NAME, and with offline --offline.
func addStateFlags(fs *flag.FlagSet, name string, offline bool) *stateFlags {
	s := &stateFlags{
		name: name,
		dir:  fs.String(name, defaultStateDir(), "verifier state directory (shared by mosaic verify and monitor): the largest checkpoint verified per log, and split-view evidence"),
		none: fs.Bool("no-"+name, false, "neither read nor write the verifier state directory"),
	}
	s.offline = new(bool)
	if offline {
		s.offline = fs.Bool("offline", false, "fetch no consistency proofs: a checkpoint larger or smaller than the remembered one is "+
			"reported as not checked, and not remembered")
	}
	return s
}

// memory opens the memory, or returns nil with --no-NAME.
func (s *stateFlags) memory() (*verify.DirMemory, error) {
	if *s.none {
		return nil, nil
	}
	if *s.dir == "" {
		return nil, usagef("no home directory for the default state directory: give --%s DIR or --no-%[1]s", s.name)
	}
	m, err := verify.NewDirMemory(filepath.Join(*s.dir, memorySubdir))
	if err != nil {
		return nil, fmt.Errorf("--%s %s: %w", s.name, *s.dir, err)
	}
	return m, nil
}

// tilesProver fetches consistency proofs from the tlog-tiles log at
// tilesURL, building them from its tiles (any tlog-tiles log serves them).
func tilesProver(tilesURL string) (verify.ConsistencyProver, error) {
	c, err := client.New(tilesURL, client.WithTilesURL(tilesURL))
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, first, second uint64) ([][]byte, error) {
		pb, err := tclient.NewProofBuilder(ctx, second, c.ReadTile)
		if err != nil {
			return nil, fmt.Errorf("reading %s's tiles at size %d: %w", tilesURL, second, err)
		}
		return pb.ConsistencyProof(ctx, first, second)
	}, nil
}

// splitViewError marks a log caught in a split view (exit 4).
type splitViewError struct{ err error }

func (e splitViewError) Error() string { return e.err.Error() }
func (e splitViewError) Unwrap() error { return e.err }

// remember checks a verified checkpoint against the memory (fetching proofs
// from tilesURL unless offline) and reports on w what was not checked. A
// split view writes its evidence under the state directory and returns a
// splitViewError naming the file.
func (s *stateFlags) remember(ctx context.Context, m *verify.DirMemory, cp *verify.Checkpoint, tilesURL string, w io.Writer) error {
	var prove verify.ConsistencyProver
	if !*s.offline {
		var err error
		if prove, err = tilesProver(tilesURL); err != nil {
			return err
		}
	}
	rec, err := verify.Remember(ctx, m, cp, prove)
	var sv *verify.SplitViewError
	if errors.As(err, &sv) {
		return s.splitView(sv)
	}
	var ve *verify.Error
	if errors.As(err, &ve) && ve.Check == verify.CheckConsistencyProof {
		return fmt.Errorf("%w (give --offline to verify without it; the remembered checkpoint then stays)", err)
	}
	if err != nil {
		return err
	}
	if rec.Unchecked != "" {
		fmt.Fprintf(w, "note: log %s: %s\n", cp.Origin, rec.Unchecked)
	}
	return nil
}

// splitView writes the evidence and returns the error to exit with.
func (s *stateFlags) splitView(sv *verify.SplitViewError) error {
	data, err := sv.Evidence.Marshal()
	if err != nil {
		return splitViewError{fmt.Errorf("%w (writing the evidence failed: %v)", sv, err)}
	}
	dir := filepath.Join(*s.dir, evidenceSubdir)
	name := fmt.Sprintf("%s-%s.json", time.Now().UTC().Format("20060102T150405.000000000Z"), strings.NewReplacer("/", "_", "\\", "_").Replace(sv.Evidence.Origin))
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return splitViewError{fmt.Errorf("%w (writing the evidence failed: %v)", sv, err)}
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return splitViewError{fmt.Errorf("%w (writing the evidence failed: %v)", sv, err)}
	}
	return splitViewError{fmt.Errorf("%w; evidence in %s (check it with: mosaic verify-evidence %s)", sv, path, path)}
}
