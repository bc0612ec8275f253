package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"

	"github.com/mosaiclog/mosaic/pkg/note"
	"github.com/mosaiclog/mosaic/pkg/verify"
)

// evidenceOutput is `mosaic verify-evidence --output json`.
type evidenceOutput struct {
	Holds      bool   `json:"holds"`
	Kind       string `json:"kind,omitempty"`
	Origin     string `json:"origin,omitempty"`
	Conclusive bool   `json:"conclusive"`
	KeyChecked bool   `json:"keyChecked"`
	Summary    string `json:"summary,omitempty"`
	Error      string `json:"error,omitempty"`
}

// cmdVerifyEvidence re-checks a split-view evidence file: exit 0 when it
// shows a split view, 1 when it does not.
func cmdVerifyEvidence(e *env, args []string) error {
	fs, output := newFlags(e, "verify-evidence", "verify-evidence FILE [--trusted-root T | --log-key PEM]")
	rootPath := fs.String("trusted-root", "", "trusted_root.json: the evidence's log key must be one of its tlogs'")
	keyPath := fs.String("log-key", "", "the log's public key (PEM): the evidence's log key must be this one")
	pos, err := parse(fs, output, args, 1, 1)
	if err != nil {
		return err
	}
	if *rootPath != "" && *keyPath != "" {
		return usagef("give --trusted-root or --log-key, not both")
	}
	raw, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	out := evidenceOutput{}
	ev, err := verify.ParseEvidence(raw)
	if err == nil {
		out.Kind, out.Origin = string(ev.Kind), ev.Origin
		err = checkEvidenceKey(ev, *rootPath, *keyPath)
		out.KeyChecked = err == nil && (*rootPath != "" || *keyPath != "")
	}
	var found *verify.Finding
	if err == nil {
		found, err = ev.Verify()
	}
	if err != nil {
		out.Error = err.Error()
		if *output == "json" {
			_ = emit(e, *output, out, nil)
		}
		return fmt.Errorf("%s does not show a split view: %w", pos[0], err)
	}
	out.Holds, out.Conclusive, out.Summary = true, found.Conclusive, found.Summary
	return emit(e, *output, out, func(w io.Writer) {
		fmt.Fprintf(w, "evidence holds: %s\n", found.Summary)
		if !found.Conclusive {
			fmt.Fprintf(w, "  not conclusive alone: the log signed both checkpoints and served a consistency proof between them that does not verify\n")
		}
		if !out.KeyChecked {
			fmt.Fprintf(w, "  the checkpoints are signed by the key in the file; give --trusted-root or --log-key to check that it is the log's key\n")
		}
	})
}

// checkEvidenceKey requires the evidence's log to be the trusted root's
// (by log ID and origin) or its key to be the given one.
func checkEvidenceKey(ev *verify.Evidence, rootPath, keyPath string) error {
	switch {
	case rootPath != "":
		tr, err := readTrustedRoot(rootPath)
		if err != nil {
			return err
		}
		for _, l := range tr.Tlogs {
			if bytes.Equal(l.LogID, ev.LogID) && l.Origin == ev.Origin {
				return nil
			}
		}
		return fmt.Errorf("the evidence's log %s (ID %s) is not a tlog of %s", ev.Origin, base64.StdEncoding.EncodeToString(ev.LogID), rootPath)
	case keyPath != "":
		raw, err := os.ReadFile(keyPath)
		if err != nil {
			return usagef("--log-key: %v", err)
		}
		pub, err := note.ParsePublicKey(raw)
		if err != nil {
			return usagef("--log-key %s: %v", keyPath, err)
		}
		id, err := note.LogID(ev.Origin, pub)
		if err != nil {
			return err
		}
		if !bytes.Equal(id, ev.LogID) {
			return fmt.Errorf("the evidence's log key is not %s", keyPath)
		}
	}
	return nil
}
