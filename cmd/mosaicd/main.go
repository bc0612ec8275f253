// Command mosaicd is the Mosaic transparency log server.
//
//	mosaicd serve   serve the log (Rekor v2 write API, tlog-tiles read API)
//	mosaicd keygen  write a checkpoint signing key
//	mosaicd migrate apply pending PostgreSQL schema migrations
//	mosaicd freeze  publish a shard's final checkpoint and make it read-only
//	mosaicd ca init create the keys and certificates of a private keyless deployment
//	mosaicd backup  copy a log (while it is served) into a backup directory
//	mosaicd restore restore a backup into a new, empty store
//	mosaicd import  copy any tlog-tiles log over HTTP into a new, empty store
//	mosaicd version the module version, VCS revision and Go version it was built with
//
// Every flag has an environment equivalent: --listen is MOSAIC_LISTEN, and
// so on (upper case, dashes as underscores, MOSAIC_ prefix). serve's flags
// are also keys of its --config file (listen: 127.0.0.1:3000). A flag given
// on the command line wins over the environment, which wins over the file.
package main

import (
	"context"
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

const usage = `usage: mosaicd <command> [flags]

commands:
  serve    serve the log
  keygen   write a checkpoint signing key (PKCS#8 PEM, mode 0600)
  migrate  apply pending PostgreSQL schema migrations
  freeze   publish a shard's final checkpoint and make it read-only, for
           good (running or stopped server)
  ca init  create the CA, TSA and certificate-log keys and certificates for
           keyless signing (then: mosaicd serve --keyless-dir DIR)
  backup   copy a log, while it is served, into a backup directory
           (tlog-tiles files and a manifest; checked with fsck)
  restore  restore a backup into a new, empty store (file:DIR or PostgreSQL)
  import   copy any tlog-tiles log over HTTP, checked against its key,
           into a new, empty store (also moves a log between stores)
  version  print the version, VCS revision and Go version (also --version)

Run 'mosaicd <command> --help' for the command's flags.
`

// commands are the names run knows, for suggestions.
var commands = []string{"serve", "keygen", "migrate", "freeze", "ca", "backup", "restore", "import", "version", "help"}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes a subcommand and returns the process exit code: 0 success,
// 1 runtime failure, 2 usage error.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr)
	case "keygen":
		err = keygen(args[1:], stdout, stderr)
	case "migrate":
		err = migrate(ctx, args[1:], stdout, stderr)
	case "backup":
		err = backupCmd(ctx, args[1:], stdout, stderr)
	case "restore":
		err = restoreCmd(ctx, args[1:], stdout, stderr)
	case "import":
		err = importCmd(ctx, args[1:], stdout, stderr)
	case "freeze":
		err = freeze(ctx, args[1:], stdout, stderr)
	case "ca":
		if len(args) < 2 || args[1] != "init" {
			fmt.Fprintf(stderr, "mosaicd ca: want 'mosaicd ca init --dir DIR'\n")
			return 2
		}
		args = append([]string{"ca init"}, args[2:]...)
		err = caInit(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "mosaicd %s\n", buildinfo.Read())
		return 0
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "mosaicd: %s\n", unknownCommand(args[0]))
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "mosaicd %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "mosaicd %s: %v\n", args[0], err)
		return 1
	}
}

// unknownCommand explains a first argument that is no command, without
// the usage: the nearest command, or where flags go, and how to see the
// commands.
func unknownCommand(arg string) string {
	msg := cmdline.Unknown("command", arg, commands)
	if strings.HasPrefix(arg, "-") {
		msg = fmt.Sprintf("unknown flag --%s: flags go after the command (mosaicd serve --%[1]s ...)", strings.TrimLeft(arg, "-"))
	}
	return msg + "\nrun 'mosaicd --help' for the commands"
}

// usageError marks errors in how the command was called.
type usageError struct{ error }
