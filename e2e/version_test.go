package e2e

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pseudoRE matches a pseudo-version's revision: v0.0.0-20260102030405-0d217f6e1f2a.
var pseudoRE = regexp.MustCompile(`[-.]\d{14}-([0-9a-f]{12})(\+dirty)?$`)

// Binaries built with go build in this checkout name the commit they were
// built from. They are built here with -buildvcs=true, since GOFLAGS (or
// the go env file) may turn stamping off for TestMain's build. The
// revision is checked to be HEAD or an ancestor of it: others may commit
// while the tests run.
func TestVersion(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not in a git checkout (or no git): %v", err)
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-buildvcs=true", "-o", dir+"/", "../cmd/mosaicd", "../cmd/mosaic")
	if out, err := build.CombinedOutput(); err != nil {
		if strings.Contains(string(out), "VCS") {
			t.Skipf("go cannot read the checkout's VCS status:\n%s", out)
		}
		t.Fatalf("go build: %v\n%s", err, out)
	}
	line := regexp.MustCompile(`^(mosaicd|mosaic) (\S+) \(revision ([0-9a-f]{40})(, modified)?(, committed \S+)?\) go\S+ \S+/\S+\n$`)
	for _, c := range [][]string{{"mosaicd", "version"}, {"mosaicd", "--version"}, {"mosaic", "version"}, {"mosaic", "--version"}} {
		out, err := exec.Command(filepath.Join(dir, c[0]), c[1:]...).Output()
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		m := line.FindStringSubmatch(string(out))
		if m == nil || m[1] != c[0] {
			t.Errorf("%s printed %q; want a line shaped %s", c, out, line)
			continue
		}
		if rev := m[3]; rev != strings.TrimSpace(string(head)) {
			if err := exec.Command("git", "merge-base", "--is-ancestor", rev, "HEAD").Run(); err != nil {
				t.Errorf("%s: revision %s is neither HEAD (%s) nor an ancestor of it: %v", c, rev, strings.TrimSpace(string(head)), err)
			}
		}
		// The toolchain derives the module version from the revision: a
		// tag on it, or a pseudo-version naming it.
		v := m[2]
		if pseudo := pseudoRE.FindStringSubmatch(v); !strings.HasPrefix(v, "v") || pseudo != nil && pseudo[1] != m[3][:12] {
			t.Errorf("%s: module version %q does not name revision %s", c, v, m[3])
		}
	}
}
