package main

import (
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/mosaiclog/mosaic/internal/cmdline"
	"github.com/mosaiclog/mosaic/internal/entry"
	"github.com/mosaiclog/mosaic/pkg/client"
	"github.com/mosaiclog/mosaic/pkg/verify"
	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

const logUsage = `usage: mosaic log <subcommand> [flags]

subcommands:
  info                      origin, size, root, keys and search-index lag
  checkpoint                the latest signed checkpoint
  get INDEX                 an entry and its inclusion proof
  proof INDEX               an inclusion proof (--tree-size N for an older tree)
  consistency FIRST SECOND  a consistency proof between two tree sizes
                            (or --checkpoint FILE: from a saved checkpoint to the latest)
  search                    entries by --digest, --fingerprint, --san, --issuer

With --trusted-root T every checkpoint is verified against the log keys in T
and every proof against a verified checkpoint; without it, answers are shown
as the server gave them.
`

// logCmd holds what every log subcommand shares.
type logCmd struct {
	e      *env
	output *string
	url    *string
	root   *string
	c      *client.Client
	tr     *verify.TrustedRoot
}

func cmdLog(e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(e.stderr, logUsage)
		if len(args) == 0 {
			return usagef("missing subcommand")
		}
		return nil
	}
	sub := args[0]
	fs, output := newFlags(e, "log "+sub, "log "+sub+" [flags]")
	lc := &logCmd{e: e, output: output}
	lc.url = fs.String("url", defaultURL(), "the log's base URL (default from $MOSAIC_URL when set)")
	lc.root = fs.String("trusted-root", "", "trusted_root.json: verify checkpoints and proofs against its log keys")
	switch sub {
	case "info":
		return lc.info(fs, args[1:])
	case "checkpoint":
		return lc.checkpoint(fs, args[1:])
	case "get":
		return lc.get(fs, args[1:])
	case "proof":
		return lc.proof(fs, args[1:])
	case "consistency":
		return lc.consistency(fs, args[1:])
	case "search":
		return lc.search(fs, args[1:])
	}
	known := []string{"info", "checkpoint", "get", "proof", "consistency", "search"}
	return usagef("%s\nrun 'mosaic log --help' for the subcommands", cmdline.Unknown("subcommand", sub, known))
}

// begin parses the flags and positional arguments, then opens the client
// and the trusted root.
func (lc *logCmd) begin(fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	pos, err := parse(fs, lc.output, args, min, max)
	if err != nil {
		return nil, err
	}
	return pos, lc.setup()
}

// emitProto writes a protobuf answer as protojson.
func (lc *logCmd) emitProto(m proto.Message) error {
	raw, err := protojson.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(lc.e.stdout, "%s\n", raw)
	return err
}

// proveLeaf verifies leaf's inclusion proof ip against its checkpoint when a
// trusted root was given, and reports whether it did.
func (lc *logCmd) proveLeaf(leaf []byte, index uint64, ip *rekorpb.InclusionProof) (bool, error) {
	env := ip.GetCheckpoint().GetEnvelope()
	if lc.tr == nil || env == "" {
		return false, nil
	}
	cp, err := lc.verified([]byte(env))
	if err != nil {
		return false, err
	}
	if leaf == nil {
		tle, err := lc.c.Entry(lc.e.ctx, index)
		if err != nil {
			return false, err
		}
		leaf = tle.GetCanonicalizedBody()
	}
	return true, checkInclusion(cp, leaf, index, uint64(ip.GetTreeSize()), ip.GetHashes())
}

// setup opens the client and trusted root.
func (lc *logCmd) setup() error {
	c, err := client.New(*lc.url)
	if err != nil {
		return usagef("--url: %v", err)
	}
	lc.c = c
	if *lc.root != "" {
		if lc.tr, err = readTrustedRoot(*lc.root); err != nil {
			return err
		}
	}
	return nil
}

// verified checks a checkpoint when a trusted root was given; it returns
// nil (and no error) without one.
func (lc *logCmd) verified(note []byte) (*verify.Checkpoint, error) {
	if lc.tr == nil {
		return nil, nil
	}
	cp, err := lc.tr.VerifyCheckpoint(note)
	if err != nil {
		return nil, fmt.Errorf("the log's checkpoint does not verify against %s: %w", *lc.root, err)
	}
	return cp, nil
}

func parseIndex(name, s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, usagef("%s %q: want a non-negative integer", name, s)
	}
	return n, nil
}

func (lc *logCmd) info(fs *flag.FlagSet, args []string) error {
	if _, err := lc.begin(fs, args, 0, 0); err != nil {
		return err
	}
	info, err := lc.c.Info(lc.e.ctx)
	if err != nil {
		return err
	}
	cp, err := lc.verified([]byte(info.Checkpoint))
	if err != nil {
		return err
	}
	return emit(lc.e, *lc.output, info, func(w io.Writer) {
		fmt.Fprintf(w, "origin:       %s\ntree size:    %d\nroot hash:    %s\nlog ID:       %s\n",
			info.Origin, info.TreeSize, b64(info.RootHash), b64(info.LogID))
		if info.VerifierKey != "" {
			fmt.Fprintf(w, "verifier key: %s\n", info.VerifierKey)
		}
		if info.Index != nil {
			fmt.Fprintf(w, "search index: %d of %d entries indexed (lag %d)\n", info.Index.IndexedSize, info.TreeSize, info.Index.Lag)
		}
		if cp != nil {
			fmt.Fprintf(w, "checkpoint verified against %s\n", *lc.root)
		}
		fmt.Fprintf(w, "public key:\n%s", info.PublicKey)
	})
}

func (lc *logCmd) checkpoint(fs *flag.FlagSet, args []string) error {
	if _, err := lc.begin(fs, args, 0, 0); err != nil {
		return err
	}
	raw, err := lc.c.Checkpoint(lc.e.ctx)
	if err != nil {
		return err
	}
	cp, err := lc.verified(raw)
	if err != nil {
		return err
	}
	out := map[string]any{"checkpoint": string(raw), "verified": cp != nil}
	return emit(lc.e, *lc.output, out, func(w io.Writer) { _, _ = w.Write(raw) })
}

func (lc *logCmd) get(fs *flag.FlagSet, args []string) error {
	pos, err := lc.begin(fs, args, 1, 1)
	if err != nil {
		return err
	}
	idx, err := parseIndex("INDEX", pos[0])
	if err != nil {
		return err
	}
	tle, err := lc.c.Entry(lc.e.ctx, idx)
	if err != nil {
		return err
	}
	ip := tle.GetInclusionProof()
	verified, err := lc.proveLeaf(tle.GetCanonicalizedBody(), idx, ip)
	if err != nil {
		return err
	}
	if *lc.output == "json" {
		return lc.emitProto(tle)
	}
	facts, ferr := entry.Describe(tle.GetCanonicalizedBody())
	w := lc.e.stdout
	fmt.Fprintf(w, "index:      %d\nkind:       %s %s\n", idx, tle.GetKindVersion().GetKind(), tle.GetKindVersion().GetVersion())
	if ferr == nil {
		fmt.Fprintf(w, "digest:     %s\nkey:        %s\n", facts.Digest, facts.KeyFingerprint)
		for _, san := range facts.SANs {
			fmt.Fprintf(w, "identity:   %s (issuer %s)\n", san, facts.Issuer)
		}
	}
	fmt.Fprintf(w, "proven in:  tree of size %d, root %s (inclusion proof verified: %v)\n", ip.GetTreeSize(), b64(ip.GetRootHash()), verified)
	return nil
}

// checkInclusion verifies leaf at index against a verified checkpoint.
func checkInclusion(cp *verify.Checkpoint, leaf []byte, index, size uint64, hashes [][]byte) error {
	if size != cp.Size {
		return fmt.Errorf("the proof is for tree size %d but the checkpoint is of size %d", size, cp.Size)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, rfc6962.DefaultHasher.HashLeaf(leaf), hashes, cp.Hash); err != nil {
		return fmt.Errorf("inclusion proof of %d in the verified checkpoint of size %d fails: %w", index, size, err)
	}
	return nil
}

func (lc *logCmd) proof(fs *flag.FlagSet, args []string) error {
	treeSize := fs.Uint64("tree-size", 0, "prove against this tree size (default: the latest checkpoint)")
	pos, err := lc.begin(fs, args, 1, 1)
	if err != nil {
		return err
	}
	idx, err := parseIndex("INDEX", pos[0])
	if err != nil {
		return err
	}
	ip, err := lc.c.InclusionProof(lc.e.ctx, idx, *treeSize)
	if err != nil {
		return err
	}
	verified, err := lc.proveLeaf(nil, idx, ip)
	if err != nil {
		return err
	}
	if *lc.output == "json" {
		return lc.emitProto(ip)
	}
	fmt.Fprintf(lc.e.stdout, "inclusion proof of %d in tree size %d, root %s (verified against a signed checkpoint: %v)\n",
		idx, ip.GetTreeSize(), b64(ip.GetRootHash()), verified)
	for _, h := range ip.GetHashes() {
		fmt.Fprintf(lc.e.stdout, "  %s\n", b64(h))
	}
	return nil
}

func (lc *logCmd) consistency(fs *flag.FlagSet, args []string) error {
	saved := fs.String("checkpoint", "", "a checkpoint saved earlier: prove the latest checkpoint consistent with it (needs --trusted-root)")
	pos, err := lc.begin(fs, args, 0, 2)
	if err != nil {
		return err
	}
	if *saved != "" {
		if len(pos) != 0 {
			return usagef("give FIRST SECOND or --checkpoint, not both")
		}
		return lc.consistencyFromSaved(*saved)
	}
	if len(pos) != 2 {
		return usagef("want FIRST SECOND (tree sizes)")
	}
	first, err := parseIndex("FIRST", pos[0])
	if err != nil {
		return err
	}
	second, err := parseIndex("SECOND", pos[1])
	if err != nil {
		return err
	}
	cp, err := lc.c.ConsistencyProof(lc.e.ctx, first, second)
	if err != nil {
		return err
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, first, second, cp.Hashes, cp.FirstRootHash, cp.SecondRootHash); err != nil {
		return fmt.Errorf("the consistency proof from %d to %d does not verify: %w", first, second, err)
	}
	if vcp, err := lc.verified([]byte(cp.Checkpoint)); err != nil {
		return err
	} else if vcp != nil && vcp.Size == second && !bytes.Equal(vcp.Hash, cp.SecondRootHash) {
		return fmt.Errorf("the signed checkpoint of size %d has root %s, the proof's root is %s", second, b64(vcp.Hash), b64(cp.SecondRootHash))
	}
	return emit(lc.e, *lc.output, cp, func(w io.Writer) {
		fmt.Fprintf(w, "tree %d (root %s) is a prefix of tree %d (root %s): proof of %d hashes verified\n",
			first, b64(cp.FirstRootHash), second, b64(cp.SecondRootHash), len(cp.Hashes))
	})
}

// consistencyFromSaved proves the latest checkpoint consistent with a saved
// one: the auditor's question "is the log I see now an extension of the log
// I saw then?".
func (lc *logCmd) consistencyFromSaved(path string) error {
	if lc.tr == nil {
		return usagef("--checkpoint needs --trusted-root to verify both checkpoints")
	}
	older, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	oldCP, err := lc.verified(older)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	newer, err := lc.c.Checkpoint(lc.e.ctx)
	if err != nil {
		return err
	}
	newCP, err := lc.verified(newer)
	if err != nil {
		return err
	}
	var hashes [][]byte
	if oldCP.Size > 0 && newCP.Size > oldCP.Size {
		p, err := lc.c.ConsistencyProof(lc.e.ctx, oldCP.Size, newCP.Size)
		if err != nil {
			return err
		}
		hashes = p.Hashes
	}
	if _, err := verify.VerifyConsistency(oldCP.Log, older, newer, hashes); err != nil {
		return fmt.Errorf("the log's latest checkpoint is NOT consistent with %s: %w", path, err)
	}
	out := map[string]any{"consistent": true, "firstSize": oldCP.Size, "secondSize": newCP.Size, "checkpoint": string(newer)}
	return emit(lc.e, *lc.output, out, func(w io.Writer) {
		fmt.Fprintf(w, "consistent: the log grew from %d to %d entries without rewriting history\n", oldCP.Size, newCP.Size)
	})
}

func (lc *logCmd) search(fs *flag.FlagSet, args []string) error {
	var q client.SearchQuery
	fs.StringVar(&q.Digest, "digest", "", "artifact digest, sha256:<hex>")
	fs.StringVar(&q.PublicKeyFingerprint, "fingerprint", "", "signer public key fingerprint, sha256:<hex of the SPKI DER>")
	fs.StringVar(&q.SAN, "san", "", "certificate identity (email, URI or username)")
	fs.StringVar(&q.OIDCIssuer, "issuer", "", "certificate OIDC issuer")
	fs.IntVar(&q.PageSize, "page-size", 0, "results per page (server default 100, at most 1000)")
	fs.StringVar(&q.PageToken, "page-token", "", "continue from a previous page")
	all := fs.Bool("all", false, "follow every page")
	if _, err := lc.begin(fs, args, 0, 0); err != nil {
		return err
	}
	if q.Digest == "" && q.PublicKeyFingerprint == "" && q.SAN == "" && q.OIDCIssuer == "" {
		return usagef("give at least one of --digest, --fingerprint, --san, --issuer")
	}
	var results []client.SearchResult
	var last *client.SearchResponse
	for {
		resp, err := lc.c.Search(lc.e.ctx, q)
		if err != nil {
			return err
		}
		results, last = append(results, resp.Results...), resp
		if !*all || resp.NextPageToken == "" {
			break
		}
		q.PageToken = resp.NextPageToken
	}
	out := *last
	out.Results = results
	return emit(lc.e, *lc.output, out, func(w io.Writer) {
		for _, r := range results {
			fmt.Fprintf(w, "%d\n", r.LogIndex)
		}
		if out.Index != nil {
			fmt.Fprintf(lc.e.stderr, "%d result(s); index covers %d of %d entries (lag %d)\n",
				len(results), out.Index.IndexedSize, out.Index.LogSize, out.Index.Lag)
		}
		if out.NextPageToken != "" {
			fmt.Fprintf(lc.e.stderr, "more results: --page-token %s (or --all)\n", out.NextPageToken)
		}
	})
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
