// Command install-keys copies key files into a directory of the running
// user's own, readable by that user alone (mode 0600), as mosaicd requires.
//
//	install-keys SRC DST
//
// It exists for Kubernetes: a Secret mounted as a volume is owned by root,
// or with the pod's fsGroup made readable by the group (mode 0440), and
// mosaicd refuses a key file that group or others may read. The Helm
// chart runs it as an init container of the mosaicd image (which has no
// shell and no cp) to copy the Secret's files into a memory-backed
// emptyDir that mosaicd then reads. Every regular file of SRC (symbolic
// links followed, as Kubernetes lays Secrets out) is copied; hidden
// entries (Kubernetes' ..data bookkeeping) are skipped.
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxFile bounds one copied file: keys and certificate chains are small.
const maxFile = 1 << 20

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: install-keys SRC DST")
		os.Exit(2)
	}
	n, err := install(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintf(os.Stderr, "install-keys: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("install-keys: copied %d files from %s to %s (mode 0600)\n", n, os.Args[1], os.Args[2])
}

// install copies SRC's visible regular files into DST with mode 0600.
func install(src, dst string) (int, error) {
	entries, err := os.ReadDir(src)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		from := filepath.Join(src, e.Name())
		fi, err := os.Stat(from) // follows Kubernetes' symbolic links
		if err != nil {
			return n, err
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		if err := copyFile(from, filepath.Join(dst, e.Name())); err != nil {
			return n, err
		}
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("no files in %s", src)
	}
	return n, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	data, err := io.ReadAll(io.LimitReader(in, maxFile+1))
	if err != nil {
		return fmt.Errorf("reading %s: %w", from, err)
	}
	if len(data) > maxFile {
		return fmt.Errorf("%s is over %d bytes", from, maxFile)
	}
	_ = os.Remove(to) // a restarted init container finds its earlier copy
	if err := os.WriteFile(to, data, 0o600); err != nil {
		return err
	}
	return os.Chmod(to, 0o600) // whatever the umask
}
