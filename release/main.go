// Command release builds vigil's release archives from a commit of the
// repository: for linux, windows and darwin on amd64 and arm64, a static
// binary with README.md, LICENSE and docs/ in a tar.gz (zip for Windows),
// a CycloneDX SBOM of the binary's Go modules next to each archive, and a
// SHA256SUMS file over all of them.
//
// The build is reproducible: the same commit gives the same bytes. The
// source is the commit itself (git archive, never the working tree), the
// binary is built with -trimpath, no VCS stamping, an empty build id and
// the version, commit and commit time set with -X; archive entries are
// sorted, owned by 0:0 with fixed modes, and dated at the commit time;
// gzip headers carry no time or name. Nothing is fetched except modules
// through the Go module proxy.
//
//	go run ./release -out dist            # HEAD, every target
//	go run ./release -out dist -ref v1.2.0 -targets linux/amd64
//
// docs/deploy.md describes the archives and how to check them.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Targets are the platforms a release is built for.
var Targets = []string{"darwin/amd64", "darwin/arm64", "linux/amd64", "linux/arm64", "windows/amd64", "windows/arm64"}

func main() {
	out := flag.String("out", "dist", "directory to write the archives, SBOMs and SHA256SUMS to (created; must be empty or absent)")
	ref := flag.String("ref", "HEAD", "git commit, tag or branch to build")
	version := flag.String("version", "", "release version (default: git describe --tags of the commit, or the pseudo-version v0.0.0-TIME-COMMIT)")
	targets := flag.String("targets", strings.Join(Targets, ","), "comma-separated GOOS/GOARCH list")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log, *out, *ref, *version, strings.Split(*targets, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, out, ref, version string, targets []string) error {
	src, err := resolve(ref, version)
	if err != nil {
		return err
	}
	if err := checkEmpty(out); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "vigil-release-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	tree := filepath.Join(work, "src")
	if err := export(src.Commit, tree); err != nil {
		return err
	}
	files, err := payload(tree)
	if err != nil {
		return err
	}
	var written []string
	for _, t := range targets {
		goos, goarch, ok := strings.Cut(strings.TrimSpace(t), "/")
		if !ok {
			return fmt.Errorf("target %q: want GOOS/GOARCH", t)
		}
		start := time.Now()
		bin := filepath.Join(work, "bin", goos+"_"+goarch, binaryName(goos))
		if err := build(tree, bin, goos, goarch, src); err != nil {
			return err
		}
		names, err := pack(out, bin, files, goos, goarch, src)
		if err != nil {
			return err
		}
		written = append(written, names...)
		log.Info("built", "target", t, "archive", names[0], "seconds", time.Since(start).Round(time.Millisecond).Seconds())
	}
	if err := writeSums(out, written); err != nil {
		return err
	}
	log.Info("release written", "dir", out, "version", src.Version, "commit", src.Commit, "files", len(written)+1)
	return nil
}

// source is the commit a release is built from.
type source struct {
	Commit  string
	Time    time.Time // commit time, UTC
	Version string
}

func git(args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(b)), nil
}

func resolve(ref, version string) (source, error) {
	commit, err := git("rev-parse", "--verify", ref+"^{commit}")
	if err != nil {
		return source{}, err
	}
	ct, err := git("log", "-1", "--format=%ct", commit)
	if err != nil {
		return source{}, err
	}
	secs, err := strconv.ParseInt(ct, 10, 64)
	if err != nil {
		return source{}, fmt.Errorf("commit time %q: %w", ct, err)
	}
	s := source{Commit: commit, Time: time.Unix(secs, 0).UTC(), Version: version}
	if s.Version == "" {
		// A tag when the commit has one (v1.2.0, or v1.2.0-3-gabc...
		// after it); else a pseudo-version like Go's.
		if d, err := exec.Command("git", "describe", "--tags", "--match", "v[0-9]*", commit).Output(); err == nil {
			s.Version = strings.TrimSpace(string(d))
		} else {
			s.Version = "v0.0.0-" + s.Time.Format("20060102150405") + "-" + commit[:12]
		}
	}
	if strings.ContainsAny(s.Version, "/\\ \t\n'\"") {
		return source{}, fmt.Errorf("version %q: not usable in a file name", s.Version)
	}
	return s, nil
}

func checkEmpty(dir string) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s is not empty: a release is written into an empty directory", dir)
	}
	return nil
}

// export writes the commit's tree to dir (git archive: exactly what is
// committed, without the working tree's changes).
func export(commit, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	arch := exec.Command("git", "archive", "--format=tar", commit)
	untar := exec.Command("tar", "-x", "-C", dir)
	pipe, err := arch.StdoutPipe()
	if err != nil {
		return err
	}
	untar.Stdin = pipe
	arch.Stderr, untar.Stderr = os.Stderr, os.Stderr
	if err := untar.Start(); err != nil {
		return err
	}
	if err := arch.Run(); err != nil {
		return fmt.Errorf("git archive %s: %w", commit, err)
	}
	if err := untar.Wait(); err != nil {
		return fmt.Errorf("extracting git archive: %w", err)
	}
	return nil
}

func binaryName(goos string) string {
	if goos == "windows" {
		return "vigil.exe"
	}
	return "vigil"
}

// build compiles cmd/vigil for one platform, reproducibly.
func build(tree, bin, goos, goarch string, s source) error {
	const pkg = "github.com/vigil-detect/vigil/buildinfo"
	ldflags := strings.Join([]string{
		"-s", "-w", "-buildid=",
		"-X", pkg + ".version=" + s.Version,
		"-X", pkg + ".commit=" + s.Commit,
		"-X", pkg + ".date=" + s.Time.Format(time.RFC3339),
	}, " ")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", bin, "./cmd/vigil")
	cmd.Dir = tree
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch, "GOFLAGS=-mod=readonly", "GOTOOLCHAIN=local")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s/%s: %w", goos, goarch, err)
	}
	return nil
}
