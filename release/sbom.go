package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"sort"
	"time"
)

// The CycloneDX 1.5 JSON document vigil's release writes for each binary:
// the Go modules compiled into it, read from the binary's own build
// information (debug/buildinfo), so it lists exactly what was linked for
// that platform (golang.org/x/sys only where the code uses it, ...).
type cdxDoc struct {
	BOMFormat    string         `json:"bomFormat"`
	SpecVersion  string         `json:"specVersion"`
	SerialNumber string         `json:"serialNumber"`
	Version      int            `json:"version"`
	Metadata     cdxMetadata    `json:"metadata"`
	Components   []cdxComponent `json:"components"`
	Dependencies []cdxDep       `json:"dependencies"`
}

type cdxMetadata struct {
	Timestamp  string        `json:"timestamp"`
	Tools      cdxTools      `json:"tools"`
	Component  cdxComponent  `json:"component"`
	Properties []cdxProperty `json:"properties"`
}

type cdxTools struct {
	Components []cdxComponent `json:"components"`
}

type cdxComponent struct {
	Type       string        `json:"type"`
	BOMRef     string        `json:"bom-ref,omitempty"`
	Name       string        `json:"name"`
	Version    string        `json:"version,omitempty"`
	PURL       string        `json:"purl,omitempty"`
	Properties []cdxProperty `json:"properties,omitempty"`
}

type cdxProperty struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type cdxDep struct {
	Ref       string   `json:"ref"`
	DependsOn []string `json:"dependsOn"`
}

func purl(path, version string) string { return "pkg:golang/" + path + "@" + version }

// cycloneDX returns the SBOM of a binary built from s for goos/goarch,
// shipped in archive. Its serial number is derived from its content and
// its timestamp is the commit time, so the same build gives the same
// bytes.
func cycloneDX(bi *debug.BuildInfo, s source, goos, goarch, archive string) ([]byte, error) {
	main := cdxComponent{
		Type: "application", BOMRef: purl(bi.Main.Path, s.Version), Name: bi.Main.Path, Version: s.Version, PURL: purl(bi.Main.Path, s.Version),
		Properties: []cdxProperty{{"vigil:commit", s.Commit}, {"vigil:archive", archive}},
	}
	doc := cdxDoc{
		BOMFormat: "CycloneDX", SpecVersion: "1.5", Version: 1,
		Metadata: cdxMetadata{
			Timestamp: s.Time.UTC().Format(time.RFC3339),
			Tools:     cdxTools{Components: []cdxComponent{{Type: "application", Name: "vigil release (go run ./release)"}}},
			Component: main,
			Properties: []cdxProperty{
				{"go:version", bi.GoVersion}, {"go:os", goos}, {"go:arch", goarch},
			},
		},
		Components: []cdxComponent{},
	}
	// Settings (CGO_ENABLED, -trimpath, -ldflags) describe how the binary
	// was built.
	for _, st := range bi.Settings {
		doc.Metadata.Properties = append(doc.Metadata.Properties, cdxProperty{"go:build:" + st.Key, st.Value})
	}
	deps := cdxDep{Ref: main.BOMRef, DependsOn: []string{}}
	mods := append([]*debug.Module(nil), bi.Deps...)
	sort.Slice(mods, func(i, j int) bool { return mods[i].Path < mods[j].Path })
	for _, m := range mods {
		if m.Replace != nil {
			m = &debug.Module{Path: m.Replace.Path, Version: m.Replace.Version, Sum: m.Replace.Sum}
		}
		c := cdxComponent{Type: "library", BOMRef: purl(m.Path, m.Version), Name: m.Path, Version: m.Version, PURL: purl(m.Path, m.Version)}
		if m.Sum != "" {
			// The go.sum hash of the module (h1: SHA-256 of its file
			// list and hashes), as the Go checksum database records it.
			c.Properties = []cdxProperty{{"go:sum", m.Sum}}
		}
		doc.Components = append(doc.Components, c)
		deps.DependsOn = append(deps.DependsOn, c.BOMRef)
	}
	doc.Dependencies = []cdxDep{deps}
	// A content-derived serial number (a UUID of version 5 layout from
	// the document's SHA-256 without it): stable for the same build,
	// distinct across builds.
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(body)
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	doc.SerialNumber = fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
