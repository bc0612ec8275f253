package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mosaiclog/mosaic/internal/cmdline"
)

// newFlagSet returns the flag set of 'mosaicd name'. Its usage, printed
// only on -h or --help, lists each flag as --flag with its environment
// variable.
func newFlagSet(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("mosaicd "+name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "usage: mosaicd %s [flags]\n\nflags (environment variable in brackets):\n", name)
		cmdline.PrintFlags(out, fs, envName)
	}
	return fs
}

func envName(flagName string) string {
	return "MOSAIC_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseWithEnv parses args, first taking each flag not given on the command
// line from its environment variable. A mistake is a usageError holding a
// short message (the nearest flag, how to see them all), not the usage.
func parseWithEnv(fs *flag.FlagSet, args []string) error {
	if err := cmdline.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %q", fs.Args())}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		v, ok := os.LookupEnv(envName(f.Name))
		if given[f.Name] || !ok || err != nil {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = usageError{fmt.Errorf("%s=%q: %v", envName(f.Name), v, e)}
		}
	})
	return err
}

// applyConfigFile reads the configuration file at path, if any, and sets
// from it each flag of fs that neither the command line nor the
// environment set. Every key and value is checked, also those a flag or
// variable overrides: scratch returns a fresh flag set of the same
// command to try them on.
func applyConfigFile(fs *flag.FlagSet, path string, scratch func() *flag.FlagSet) error {
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return usageError{fmt.Errorf("--config: %w", err)}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, cmdline.MaxConfigBytes+1))
	if err != nil {
		return usageError{fmt.Errorf("--config: reading %s: %w", path, err)}
	}
	cf, err := cmdline.ParseConfig(path, data, fs, "config")
	if err != nil {
		return usageError{err}
	}
	if err := cf.Apply(scratch(), nil); err != nil {
		return usageError{err}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := cf.Apply(fs, func(name string) bool { return set[name] }); err != nil {
		return usageError{err}
	}
	return nil
}
