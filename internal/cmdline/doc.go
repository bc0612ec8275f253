// Package cmdline gives Mosaic's commands (mosaicd, mosaic, mosaic-load) one
// manner on the command line:
//
//   - flags are spelled with two dashes (--storage) in usage and in errors,
//     although the flag package accepts one as well;
//   - a mistake in the flags is answered with one short error, the nearest
//     known flag and the way to the full list ("unknown flag --storag; did
//     you mean --storage?" then "run 'mosaicd serve --help' for the flags"):
//     the full usage is printed only when asked for, with -h or --help.
//
// Commands exit 2 on such a mistake; that stays with the command.
package cmdline
