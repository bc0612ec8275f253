// Command mosaic signs and verifies with a Mosaic deployment (or any Sigstore
// deployment with a Rekor v2 log) and reads, monitors and audits its log.
//
//	mosaic sign FILE --bundle OUT            keyless (OIDC token) or --key
//	mosaic attest FILE --predicate P --type URI --bundle OUT   an in-toto attestation (DSSE), as cosign attest-blob
//	mosaic verify FILE --bundle B --trusted-root T [identity policy | --key PUB]
//	mosaic log info|checkpoint|get|proof|consistency|search
//	mosaic proof --index N | --bundle B      write an entry and its C2SP tlog-proof file
//	mosaic verify-proof LEAF [PROOF]         verify a tlog-proof offline with the log's key
//	mosaic verify-evidence FILE              re-check split-view evidence mosaic verify or monitor wrote
//	mosaic monitor                           follow a log, alarm on forks and watched identities
//	mosaic audit                             re-derive a whole log from its entry bundles
//	mosaic trusted-root create, mosaic signing-config create
//	mosaic version                           the version, VCS revision and Go version it was built with
//
// Exit codes: 0 success, 1 verification or operation failed, 2 usage error,
// 3 monitor alarm (a log misbehaved), 4 split view (a log signed a
// checkpoint that contradicts one remembered in the state directory).
// Every command takes --output json.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mosaiclog/mosaic/internal/buildinfo"
	"github.com/mosaiclog/mosaic/internal/cmdline"
)

const usage = `usage: mosaic <command> [arguments] [flags]

commands:
  sign FILE --bundle OUT          sign FILE (keyless with an OIDC token, or --key KEY)
  attest FILE --predicate P --type URI --bundle OUT
                                  sign an in-toto attestation about FILE (DSSE, as cosign attest-blob)
  verify FILE --bundle B --trusted-root T
                                  verify a Sigstore bundle offline
  log info|checkpoint|get INDEX|proof INDEX|consistency FIRST SECOND|search
                                  read the log (proofs verified with --trusted-root)
  proof --index N | --bundle B    write the entry and its offline proof (C2SP tlog-proof)
  verify-proof LEAF [PROOF]       verify an entry's tlog-proof offline with the log's key
  verify-evidence FILE            re-check split-view evidence (exit 0: it holds)
  monitor --url URL --state FILE  follow a log: verify consistency, report watched identities
  audit --url URL                 re-derive the whole tree and check every tile
  trusted-root create             write a trusted_root.json (cosign's flags)
  signing-config create           write a signing_config.json (cosign's flags)
  version                         print the version, VCS revision and Go version (also --version)

Exit codes: 0 ok, 1 verification or operation failed, 2 usage, 3 monitor alarm,
4 split view (evidence written; check it with mosaic verify-evidence FILE).
Run 'mosaic <command> --help' for the command's flags.
`

// commands are the names run knows, for suggestions.
var commands = []string{"sign", "attest", "verify", "verify-evidence", "log", "proof", "verify-proof", "monitor", "audit", "trusted-root", "signing-config", "version", "help"}

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
	exitAlarm  = 3
	// exitSplitView: a log signed two checkpoints that contradict each
	// other (the verifier memory caught it); the evidence is written.
	exitSplitView = 4
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError marks a mistake in the command line (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// alarmError marks a monitor alarm (exit 3).
type alarmError struct{ err error }

func (e alarmError) Error() string { return e.err.Error() }
func (e alarmError) Unwrap() error { return e.err }

// env is what a command runs with.
type env struct {
	ctx            context.Context
	stdout, stderr io.Writer
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr}
	name := args[0]
	var err error
	switch name {
	case "sign":
		err = cmdSign(e, args[1:])
	case "attest":
		err = cmdAttest(e, args[1:])
	case "verify":
		err = cmdVerify(e, args[1:])
	case "verify-evidence":
		err = cmdVerifyEvidence(e, args[1:])
	case "log":
		err = cmdLog(e, args[1:])
	case "proof":
		err = cmdProof(e, args[1:])
	case "verify-proof":
		err = cmdVerifyProof(e, args[1:])
	case "monitor":
		err = cmdMonitor(e, args[1:])
	case "audit":
		err = cmdAudit(e, args[1:])
	case "trusted-root", "signing-config":
		if len(args) < 2 || args[1] != "create" {
			fmt.Fprintf(stderr, "mosaic %s: want 'mosaic %s create [flags]'\n", name, name)
			return exitUsage
		}
		name += " create"
		if args[0] == "trusted-root" {
			err = cmdTrustedRootCreate(e, args[2:])
		} else {
			err = cmdSigningConfigCreate(e, args[2:])
		}
	case "version":
		err = cmdVersion(e, args[1:])
	case "--version", "-version":
		fmt.Fprintf(stdout, "mosaic %s\n", buildinfo.Read())
		return exitOK
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "mosaic: %s\n", unknownCommand(name))
		return exitUsage
	}
	var ue usageError
	var ae alarmError
	var sv splitViewError
	var fe *cmdline.FlagError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &fe): // names the subcommand too: mosaic log info
		fmt.Fprintf(stderr, "%s: %v\n", fe.Command, err)
		return exitUsage
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "mosaic %s: %v\n", name, err)
		return exitUsage
	case errors.As(err, &sv):
		fmt.Fprintf(stderr, "mosaic %s: SPLIT VIEW: %v\n", name, err)
		return exitSplitView
	case errors.As(err, &ae):
		fmt.Fprintf(stderr, "mosaic %s: ALARM: %v\n", name, err)
		return exitAlarm
	default:
		fmt.Fprintf(stderr, "mosaic %s: %v\n", name, err)
		return exitFailed
	}
}

// unknownCommand explains a first argument that is no command, without
// the usage: the nearest command, or where flags go, and how to see the
// commands.
func unknownCommand(arg string) string {
	msg := cmdline.Unknown("command", arg, commands)
	if strings.HasPrefix(arg, "-") {
		msg = fmt.Sprintf("unknown flag --%s: flags go after the command (mosaic <command> --%[1]s ...)", strings.TrimLeft(arg, "-"))
	}
	return msg + "\nrun 'mosaic --help' for the commands"
}

// cmdVersion prints the build's version line, or with --output json its
// fields.
func cmdVersion(e *env, args []string) error {
	fs, output := newFlags(e, "version", "version [--output json]")
	if _, err := parse(fs, output, args, 0, 0); err != nil {
		return err
	}
	info := buildinfo.Read()
	return emit(e, *output, info, func(w io.Writer) { fmt.Fprintf(w, "mosaic %s\n", info) })
}

// newFlags returns a flag set that has the --output flag every command
// takes. Its usage (synopsis and flags, spelled --flag) goes to stderr,
// only on -h or --help.
func newFlags(e *env, name, synopsis string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("mosaic "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: mosaic %s\n\nflags:\n", synopsis)
		cmdline.PrintFlags(e.stderr, fs, nil)
	}
	output := fs.String("output", "text", "output format: text or json")
	return fs, output
}

// parse parses flags anywhere among the arguments (mosaic sign FILE --bundle
// OUT as well as mosaic sign --bundle OUT FILE) and returns the positional
// arguments, which must number between min and max.
func parse(fs *flag.FlagSet, output *string, args []string, min, max int) ([]string, error) {
	var pos []string
	for {
		if err := cmdline.Parse(fs, args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if *output != "text" && *output != "json" {
		return nil, usagef("--output %q: want text or json", *output)
	}
	switch {
	case len(pos) < min:
		return nil, usagef("missing arguments (want %d, got %d); run '%s --help'", min, len(pos), fs.Name())
	case len(pos) > max:
		return nil, usagef("unexpected arguments %q", pos[max:])
	}
	return pos, nil
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// emit writes v as indented JSON when output is json, else text.
func emit(e *env, output string, v any, text func(w io.Writer)) error {
	if output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(e.stdout)
	return nil
}

// defaultURL is the deployment the CLI talks to without --url: $MOSAIC_URL,
// else a local mosaicd.
func defaultURL() string {
	if u := os.Getenv("MOSAIC_URL"); u != "" {
		return u
	}
	return "http://127.0.0.1:3000"
}
