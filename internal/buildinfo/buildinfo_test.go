package buildinfo

import (
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// lineRE is the shape of Info.String.
var lineRE = regexp.MustCompile(`^\S+( \(revision [0-9a-f]+(, modified)?(, committed \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)?\))? go\S+ \S+/\S+$`)

// In a test binary the VCS settings are absent: Read still answers, with
// the Go version and platform.
func TestReadInTestBinary(t *testing.T) {
	info := Read()
	s := info.String()
	if !lineRE.MatchString(s) || info.Version == "" || info.GoVersion != runtime.Version() || strings.Contains(s, "\n") {
		t.Errorf("Read() = %q (%+v), want one line shaped %s", s, info, lineRE)
	}
}

func TestFromBuildInfo(t *testing.T) {
	const rev = "0d217f6e1f2a3b4c5d6e7f8091a2b3c4d5e6f708"
	vcs := func(modified string, withTime bool) *debug.BuildInfo {
		bi := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "github.com/mosaiclog/mosaic", Version: "v0.0.0-20260102030405-0d217f6e1f2a+dirty"}}
		bi.Settings = []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
		if withTime {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"})
		}
		return bi
	}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"none", nil, "(devel) " + runtime.Version() + " " + platform},
		{"test binary", &debug.BuildInfo{GoVersion: "go1.26.0"}, "(devel) go1.26.0 " + platform},
		{"release", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3 go1.26.0 " + platform},
		{"checkout", vcs("false", true), "v0.0.0-20260102030405-0d217f6e1f2a+dirty (revision " + rev + ", committed 2026-01-02T03:04:05Z) go1.26.0 " + platform},
		{"modified", vcs("true", true), "v0.0.0-20260102030405-0d217f6e1f2a+dirty (revision " + rev + ", modified, committed 2026-01-02T03:04:05Z) go1.26.0 " + platform},
		{"no time", vcs("true", false), "v0.0.0-20260102030405-0d217f6e1f2a+dirty (revision " + rev + ", modified) go1.26.0 " + platform},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fromBuildInfo(tc.bi).String()
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
			if !lineRE.MatchString(got) {
				t.Errorf("%q is not shaped %s", got, lineRE)
			}
		})
	}
	if info := fromBuildInfo(vcs("true", true)); !info.Modified || info.Revision != rev || !info.Time.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("fields: %+v", info)
	}
}
