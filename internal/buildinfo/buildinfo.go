// Package buildinfo reports what the Go toolchain recorded about how the
// running binary was built: the module version, the VCS revision it was
// built from and the Go version. `mosaicd version` and `mosaic version`
// print it; a bug report should quote it.
//
// The revision is there only when the binary was built with go build in a
// git checkout (-buildvcs, on by default there); go run, go test and a
// build from a module download leave it out.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Info is what the toolchain recorded about a build.
type Info struct {
	// Version is the main module's version: a release tag, a
	// pseudo-version naming the revision (with +dirty when the checkout
	// was modified), or "(devel)" when the toolchain did not say.
	Version string `json:"version"`
	// Revision is the full VCS commit hash, "" when unknown.
	Revision string `json:"revision,omitempty"`
	// Modified is whether the checkout had uncommitted changes.
	Modified bool `json:"modified,omitempty"`
	// Time is the commit time of Revision, zero when unknown. (The Go
	// toolchain records no build time.)
	Time time.Time `json:"commitTime,omitzero"`
	// GoVersion is the toolchain's version, e.g. go1.26.0.
	GoVersion string `json:"goVersion"`
	// Platform is GOOS/GOARCH.
	Platform string `json:"platform"`
}

// Read returns the running binary's build information. It never fails:
// what was not recorded is left empty.
func Read() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuildInfo(bi)
}

// fromBuildInfo extracts Info from bi, which may be nil.
func fromBuildInfo(bi *debug.BuildInfo) Info {
	info := Info{Version: "(devel)", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		return info
	}
	if v := bi.Main.Version; v != "" {
		info.Version = v
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		case "vcs.time":
			info.Time, _ = time.Parse(time.RFC3339, s.Value)
		}
	}
	return info
}

// String is one line for a bug report:
//
//	v0.3.0 (revision 0d217f6…, modified, committed 2026-01-02T03:04:05Z) go1.26.0 linux/amd64
//	(devel) go1.26.0 linux/amd64
func (i Info) String() string {
	var b strings.Builder
	b.WriteString(i.Version)
	if i.Revision != "" {
		fmt.Fprintf(&b, " (revision %s", i.Revision)
		if i.Modified {
			b.WriteString(", modified")
		}
		if !i.Time.IsZero() {
			fmt.Fprintf(&b, ", committed %s", i.Time.UTC().Format(time.RFC3339))
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, " %s %s", i.GoVersion, i.Platform)
	return b.String()
}
