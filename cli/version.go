package cli

import (
	"encoding/json"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigil-detect/vigil/buildinfo"
)

// addVersion gives root a --version flag and a version command, both
// printing the build information (package buildinfo).
func addVersion(root *cobra.Command, env *Env) {
	info := buildinfo.Get()
	root.Version = info.Version
	root.SetVersionTemplate(versionText(info))
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print vigil's version, commit, build date and content versions",
		Long: `vigil version prints the build: release version, commit, commit date (release
builds are reproducible and carry the commit's time), Go version and
platform, and the versions and digests of the detection content compiled in
(the built-in advisory pack and the mapping tables). --summary-json and the
service's /healthz carry the same, so an alert can be traced to the build
that raised it.`,
		Example: `  vigil version
  vigil --version
  vigil version --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				return versionWriteErr(enc.Encode(info))
			}
			return versionWriteErr(info.Write(env.Stdout))
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the build information as JSON")
	root.AddCommand(cmd)
}

// versionText is the build information as a cobra version template
// (a text/template: braces are quoted).
func versionText(info buildinfo.Info) string {
	var b strings.Builder
	_ = info.Write(&b)
	return strings.ReplaceAll(b.String(), "{{", `{{"{{"}}`)
}

// versionWriteErr marks a failure to write the output as a runtime
// failure (exit 1).
func versionWriteErr(err error) error {
	if err != nil {
		return &exitError{ExitFailure, err}
	}
	return nil
}
