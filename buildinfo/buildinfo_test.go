package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFrom(t *testing.T) {
	vcs := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/vigil-detect/vigil", Version: "(devel)"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.time", Value: "2026-12-06T07:08:17Z"}, {Key: "vcs.modified", Value: "true"}}}
	installed := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/vigil-detect/vigil", Version: "v1.2.0"}}
	for _, tc := range []struct {
		name                  string
		bi                    *debug.BuildInfo
		ldV, ldC, ldD         string
		version, commit, date string
		modified              bool
		line                  string
	}{
		{"checkout", vcs, "", "", "", "devel", "0123456789abcdef0123456789abcdef01234567", "2026-12-06T07:08:17Z", true, "vigil devel (0123456789ab+modified, 2026-12-06T07:08:17Z)"},
		{"go install", installed, "", "", "", "v1.2.0", "", "", false, "vigil v1.2.0"},
		{"release ldflags win", vcs, "v1.3.0", "fedcba9876543210fedcba9876543210fedcba98", "2026-12-07T00:00:00Z", "v1.3.0", "fedcba9876543210fedcba9876543210fedcba98", "2026-12-07T00:00:00Z", true, "vigil v1.3.0 (fedcba987654+modified, 2026-12-07T00:00:00Z)"},
		{"no build info", nil, "", "", "", "devel", "", "", false, "vigil devel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := from(tc.bi, tc.ldV, tc.ldC, tc.ldD)
			if i.Version != tc.version || i.Commit != tc.commit || i.Date != tc.date || i.Modified != tc.modified {
				t.Errorf("got %+v", i)
			}
			if i.String() != tc.line {
				t.Errorf("String() = %q, want %q", i.String(), tc.line)
			}
			if i.GoVersion == "" || !strings.Contains(i.Platform, "/") {
				t.Errorf("toolchain %q platform %q", i.GoVersion, i.Platform)
			}
			if i.Advisories.Version == "unversioned" || !strings.HasPrefix(i.Advisories.Digest, "sha256:") ||
				i.Mapping.Version == "unversioned" || !strings.HasPrefix(i.Mapping.Digest, "sha256:") {
				t.Errorf("content %+v %+v", i.Advisories, i.Mapping)
			}
		})
	}
}

func ExampleInfo_String() {
	i := Info{Version: "v1.2.0", Commit: "0123456789abcdef0123456789abcdef01234567", Date: "2026-12-06T07:08:17Z"}
	fmt.Println(i)
	// Output: vigil v1.2.0 (0123456789ab, 2026-12-06T07:08:17Z)
}
