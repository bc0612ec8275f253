package cmdline

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"strings"
)

// PrintFlags writes fs's flags to w as flag.PrintDefaults does (type,
// usage, and the default unless it is the zero value), but spelled
// --flag. With env, each flag's line also names env(name) in brackets:
// the environment variable that sets it.
func PrintFlags(w io.Writer, fs *flag.FlagSet, env func(name string) string) {
	var buf bytes.Buffer
	out := fs.Output()
	fs.SetOutput(&buf)
	fs.PrintDefaults()
	fs.SetOutput(out)
	for line := range strings.Lines(buf.String()) {
		rest, ok := strings.CutPrefix(line, "  -")
		if !ok { // a usage line, or PrintDefaults' report of a broken flag.Value
			io.WriteString(w, line)
			continue
		}
		// rest is "name[ type]\n" or, for a one-letter boolean flag,
		// "x\tusage\n".
		head, tail, _ := strings.Cut(strings.TrimSuffix(rest, "\n"), "\t")
		name, _, _ := strings.Cut(head, " ")
		fmt.Fprintf(w, "  --%s", head)
		if env != nil {
			fmt.Fprintf(w, "  [%s]", env(name))
		}
		if tail != "" {
			fmt.Fprintf(w, "\n    \t%s", tail)
		}
		io.WriteString(w, "\n")
	}
}
