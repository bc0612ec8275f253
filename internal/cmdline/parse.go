package cmdline

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// FlagError is a mistake in a command's flags, reported without the usage.
type FlagError struct {
	// Command is the command as the user types it ("mosaicd serve").
	Command string
	// Msg says what is wrong and, for an unknown flag, which known flag is
	// nearest; flags in it are spelled --flag.
	Msg string
}

// Error is Msg, then on a second line how to see every flag.
func (e *FlagError) Error() string {
	return fmt.Sprintf("%s\nrun '%s --help' for the flags", e.Msg, e.Command)
}

// Parse parses args with fs, which must have been made with
// flag.ContinueOnError and named for the command as the user types it
// ("mosaicd serve", "mosaic log info"): the name goes into the hint.
//
// On -h or --help it calls fs.Usage (the full usage) and returns
// flag.ErrHelp. On any other mistake it prints nothing and returns a
// *FlagError. fs's Usage and output are left as they were.
func Parse(fs *flag.FlagSet, args []string) error {
	usage, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.Usage = usage
	fs.SetOutput(out)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		if usage != nil {
			usage()
		} else {
			fmt.Fprintf(out, "usage of %s:\n", fs.Name())
			PrintFlags(out, fs, nil)
		}
		return flag.ErrHelp
	}
	return &FlagError{Command: fs.Name(), Msg: explain(fs, err.Error())}
}

// The flag package's error messages (Go 1.26), which name flags with one
// dash. A message none of them matches is passed on as it is.
var (
	undefinedRE  = regexp.MustCompile(`^flag provided but not defined: -(.*)$`)
	noArgumentRE = regexp.MustCompile(`^flag needs an argument: -(.*)$`)
	badValueRE   = regexp.MustCompile(`(?s)^invalid (?:boolean )?value (".*") for (?:flag )?-([^:]+): (.*)$`)
	badBoolRE    = regexp.MustCompile(`(?s)^invalid boolean flag ([^:]+): (.*)$`)
)

// explain rewrites the flag package's message msg with two-dash flags and,
// for an unknown flag, the nearest flags fs knows.
func explain(fs *flag.FlagSet, msg string) string {
	if m := undefinedRE.FindStringSubmatch(msg); m != nil {
		s := "unknown flag --" + m[1]
		if near := Suggest(m[1], flagNames(fs)); len(near) > 0 {
			s += "; did you mean " + orList("--", near) + "?"
		}
		return s
	}
	if m := noArgumentRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("flag --%s needs a value", m[1])
	}
	if m := badValueRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("invalid value %s for --%s: %s", m[1], m[2], m[3])
	}
	if m := badBoolRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("invalid boolean flag --%s: %s", m[1], m[2])
	}
	return msg
}

// flagNames is every flag fs defines, and help, which the flag package
// always answers.
func flagNames(fs *flag.FlagSet) []string {
	names := []string{}
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	if fs.Lookup("help") == nil {
		names = append(names, "help")
	}
	return names
}

// orList spells names as "--a", "--a or --b", "--a, --b or --c".
func orList(prefix string, names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = prefix + n
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// Unknown returns the error for an unknown command or subcommand name
// among known, with the nearest known names: `unknown command "serv"; did
// you mean serve?`. what is "command" or "subcommand".
func Unknown(what, name string, known []string) string {
	s := fmt.Sprintf("unknown %s %q", what, name)
	if near := Suggest(name, known); len(near) > 0 {
		s += "; did you mean " + orList("", near) + "?"
	}
	return s
}
