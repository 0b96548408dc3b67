// Package buildinfo says which build of vigil is running: its version,
// the commit and time it was built from, the Go toolchain, and the
// versions of the detection content compiled into it (the advisory pack
// and the mapping tables). vigil version prints it, hunt's --summary-json
// and the service's /healthz include it, so an alert can be traced to the
// build that raised it.
//
// The values come from the build information the Go toolchain embeds
// (runtime/debug.ReadBuildInfo: the module version and, when built from a
// checkout, vcs.revision, vcs.time and vcs.modified). A release build
// may set them instead with the linker:
//
//	go build -ldflags "-X github.com/vigil-detect/vigil/buildinfo.version=v1.2.0
//	  -X github.com/vigil-detect/vigil/buildinfo.commit=$(git rev-parse HEAD)
//	  -X github.com/vigil-detect/vigil/buildinfo.date=2026-12-06T07:00:00Z"
package buildinfo

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/mapping"
)

// Set by the linker (-X) in release builds; never written at run time.
var (
	version string
	commit  string
	date    string
)

// Info describes a build. Its JSON form is part of --summary-json and of
// the service's /healthz body (docs/cli.md).
type Info struct {
	// Version is the release version (v1.2.0), the module version
	// go install recorded, or "devel" for a build from a checkout.
	Version string `json:"version"`
	// Commit is the full revision built from; empty when unknown.
	Commit string `json:"commit"`
	// Date is the commit time (RFC 3339, UTC): release builds are
	// reproducible, so they carry the commit's time, not the clock's.
	Date string `json:"date"`
	// Modified reports a build from a checkout with uncommitted changes.
	Modified bool `json:"modified"`
	// GoVersion is the toolchain that built the binary.
	GoVersion string `json:"go_version"`
	// Platform is GOOS/GOARCH.
	Platform string `json:"platform"`
	// Advisories and Mapping are the embedded detection content.
	Advisories Content `json:"advisories"`
	Mapping    Content `json:"mapping"`
}

// Content identifies embedded detection content: the version its files
// declare and a digest of their bytes.
type Content struct {
	Version string `json:"version"`
	Digest  string `json:"digest"`
}

// Get returns the running binary's build information.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return from(bi, version, commit, date)
}

// from assembles Info from the toolchain's build information and the
// linker's overrides (which win when set).
func from(bi *debug.BuildInfo, ldVersion, ldCommit, ldDate string) Info {
	info := Info{Version: "devel", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			info.Version = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Commit = s.Value
			case "vcs.time":
				info.Date = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if ldVersion != "" {
		info.Version = ldVersion
	}
	if ldCommit != "" {
		info.Commit = ldCommit
	}
	if ldDate != "" {
		info.Date = ldDate
	}
	info.Advisories.Version, info.Advisories.Digest = advisory.Version()
	info.Mapping.Version, info.Mapping.Digest = mapping.Version()
	return info
}

// String is the one-line form: "vigil v1.2.0 (abc123def456, 2026-12-06T07:00:00Z)".
func (i Info) String() string {
	var details []string
	if i.Commit != "" {
		c := i.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		if i.Modified {
			c += "+modified"
		}
		details = append(details, c)
	}
	if i.Date != "" {
		details = append(details, i.Date)
	}
	s := "vigil " + i.Version
	if len(details) > 0 {
		s += " (" + strings.Join(details, ", ") + ")"
	}
	return s
}

// Write prints the information for a person, one field a line.
func (i Info) Write(w io.Writer) error {
	commit := i.Commit
	if commit == "" {
		commit = "unknown"
	}
	if i.Modified {
		commit += " (modified)"
	}
	d := i.Date
	if d == "" {
		d = "unknown"
	}
	_, err := fmt.Fprintf(w, "vigil %s\ncommit:     %s\ndate:       %s\ngo:         %s %s\nadvisories: %s (%s)\nmapping:    %s (%s)\n",
		i.Version, commit, d, i.GoVersion, i.Platform, i.Advisories.Version, i.Advisories.Digest, i.Mapping.Version, i.Mapping.Digest)
	return err
}
