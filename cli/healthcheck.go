package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

// newHealthcheckCmd is vigil healthcheck URL: an HTTP probe for images
// without curl or wget (the distroless container's HEALTHCHECK).
func newHealthcheckCmd(env *Env) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck URL",
		Short: "Probe a vigil serve health endpoint; exit 0 when it answers 2xx",
		Long: `vigil healthcheck GETs URL (http or https) and exits 0 when the answer is
2xx within --timeout, 1 otherwise (redirects are not followed), 2 for a URL
that is not http or https; it prints the status or the error. It is the
container image's HEALTHCHECK on vigil serve's /readyz: the image has no
shell, curl or wget.`,
		Example: `  vigil healthcheck http://127.0.0.1:8470/readyz
  vigil healthcheck --timeout 2s http://127.0.0.1:8470/healthz`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return healthcheck(cmd.Context(), env, args[0], timeout)
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	return cmd
}

func healthcheck(ctx context.Context, env *Env, raw string, timeout time.Duration) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageErr("healthcheck: %q is not an http or https URL", raw)
	}
	if timeout <= 0 {
		return usageErr("healthcheck: --timeout must be positive")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return &exitError{ExitFailure, err}
	}
	// No redirects: a health endpoint answers itself.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return &exitError{ExitFailure, fmt.Errorf("healthcheck: %w", err)}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &exitError{ExitFailure, fmt.Errorf("healthcheck: %s answered %s", u.Redacted(), resp.Status)}
	}
	_, err = fmt.Fprintf(env.Stdout, "%s: %s\n", u.Redacted(), resp.Status)
	return versionWriteErr(err)
}
