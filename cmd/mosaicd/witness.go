package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mosaiclog/mosaic/internal/server"
	"github.com/mosaiclog/mosaic/internal/tlog"
)

// witnessConfig is the flags of checkpoint witnessing.
type witnessConfig struct {
	policy     string
	timeout    time.Duration
	failClosed bool
}

func witnessFlags(fs *flag.FlagSet, c *witnessConfig) {
	fs.StringVar(&c.policy, "witness-policy", "", "witness policy file (Tessera's and rekor-tiles' format: 'witness NAME VKEY URL', "+
		"'group NAME all|any|N MEMBER...', 'quorum NAME'): each checkpoint is cosigned by the policy's witnesses before it is published")
	fs.DurationVar(&c.timeout, "witness-timeout", tlog.DefaultWitnessTimeout, "longest a checkpoint's publication waits for the witness quorum; "+
		"then it is published without (and /readyz and the metrics say so), or with --witness-fail-closed held back")
	fs.BoolVar(&c.failClosed, "witness-fail-closed", false, "publish no checkpoint that lacks the witness quorum: adds then wait "+
		"(and time out, their entries kept) until the quorum answers, and /readyz says not ready")
}

// rangeChecks are the witness flags' ranges. Publication waits for the
// witnesses inside a PostgreSQL transaction: keep it well below its
// idle timeout.
func (c *witnessConfig) rangeChecks() []rangeCheck {
	return []rangeCheck{durationIn("witness-timeout", c.timeout, 100*time.Millisecond, 30*time.Second)}
}

// config reads and checks the policy file.
func (c *witnessConfig) config() (server.WitnessConfig, error) {
	if c.policy == "" {
		if c.failClosed {
			return server.WitnessConfig{}, usageError{fmt.Errorf("--witness-fail-closed needs --witness-policy")}
		}
		return server.WitnessConfig{}, nil
	}
	f, err := os.Open(c.policy)
	if err != nil {
		return server.WitnessConfig{}, fmt.Errorf("--witness-policy: %w", err)
	}
	defer f.Close()
	text, err := io.ReadAll(io.LimitReader(f, tlog.MaxWitnessPolicyBytes+1))
	if err != nil {
		return server.WitnessConfig{}, fmt.Errorf("--witness-policy: reading %s: %w", c.policy, err)
	}
	p, err := tlog.ParseWitnessPolicy(text)
	if err != nil {
		return server.WitnessConfig{}, usageError{fmt.Errorf("--witness-policy %s: %w", c.policy, err)}
	}
	return server.WitnessConfig{Policy: p, Timeout: c.timeout, FailClosed: c.failClosed}, nil
}
