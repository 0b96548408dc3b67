package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/vigil-detect/vigil/serve"
	"github.com/vigil-detect/vigil/serve/streams"
	"github.com/vigil-detect/vigil/web"
)

type serveFlags struct {
	config      string
	load        loadOptions
	sel         selection
	builtin     bool
	strictRules bool

	dataDir, natsURL, natsCreds, natsListen string
	natsCA                                  string
	replicas, partitions                    int
	eventsMaxAge, alertsMaxAge              time.Duration
	eventsMaxBytes                          int64

	httpAddr, beatsAddr    string
	tlsCert, tlsKey, tlsCA string
	tokenFile              string
	insecure               bool
	maxBody                int64
	noIngest, noDetect     bool
	maxLateness, failover  time.Duration
	idleAdvance            time.Duration
	maxGroups              int
	sinks                  sinkFlags
	logFormat, logLevel    string
	drainTimeout           time.Duration
	cpuprof, memprof       string
}

func newServeCmd(env *Env) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve [flags] [-]",
		Short: "Run detection continuously on events shipped over HTTP, Beats or NATS",
		Long: `Run Sigma rules continuously, as a service. Events come in over HTTP
(POST /v1/events), the Beats protocol (Winlogbeat, Filebeat, Elastic
Agent's Logstash output), NATS subjects vigil.events.>, or standard input
("-"); each input acknowledges events only once they are stored in the
JetStream events stream. Detection is vigil hunt's code path (same rules,
mapping, correlations and advisories), on event time with a watermark
(--max-lateness); alerts go to the JetStream alerts stream, exactly once
across crashes, and to GET /v1/alerts and /v1/alerts/stream.

By default vigil serve embeds a NATS server with JetStream, storing under
--data-dir and listening on loopback only; --nats URL uses an existing
cluster instead, where several vigil serve processes share the partitions
(--no-ingest: detection only; --no-detect: ingest only).

Operations: GET /healthz, /readyz and /metrics (Prometheus) on --http;
SIGHUP or POST /v1/reload reloads the rules and the token file (a rule set
with any error is refused and the running one stays); SIGTERM drains
in-flight work and exits 0. Logs are structured (--log-format json|text)
on standard error.

Every flag can be set in a YAML file (--config) under the flag's name;
flags given on the command line win. Listening on a non-loopback address
requires --token-file (HTTP) and --tls-client-ca (Beats), or --insecure.
See docs/serve.md.`,
		Example: `  # the built-in advisory over events POSTed to localhost:8470
  vigil serve

  # SigmaHQ rules, Winlogbeat over TLS, tokens for HTTP
  vigil serve -r sigma/rules/windows --http :8470 --beats :5044 \
    --token-file tokens.txt --tls-cert vigil.pem --tls-key vigil.key --tls-client-ca beats-ca.pem

  # a detection worker on an existing three-node NATS cluster
  vigil serve --nats nats://n1:4222,nats://n2:4222 --nats-creds vigil.creds --replicas 3 --no-ingest

  # a shell pipeline
  zcat export.jsonl.gz | vigil serve -r rules/ -`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServe(cmd, env, &f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "YAML file of settings named like the flags (flags win)")
	addRuleFlags(fl, &f.load, &f.builtin, &f.sel)
	fl.BoolVar(&f.strictRules, "strict-rules", false, "refuse to start when any rule fails to load")

	fl.StringVar(&f.dataDir, "data-dir", "vigil-data", "the embedded NATS server's storage")
	fl.StringVar(&f.natsListen, "nats-listen", "127.0.0.1:4222", `the embedded NATS server's client address, loopback only ("" for none)`)
	fl.StringVar(&f.natsURL, "nats", "", "use this NATS cluster (comma-separated URLs) instead of the embedded server")
	fl.StringVar(&f.natsCreds, "nats-creds", "", "NATS credentials file for --nats")
	fl.StringVar(&f.natsCA, "nats-ca", "", "CA certificates (PEM) of the --nats cluster's TLS (default: the system's)")
	fl.IntVar(&f.replicas, "replicas", 0, "stream replicas when creating them (default 1; use 3 on a three-node cluster)")
	fl.IntVar(&f.partitions, "partitions", 0, "partitions of the events stream, fixed when it is created (default 16)")
	fl.DurationVar(&f.eventsMaxAge, "events-max-age", 0, "how long the events stream keeps events (default 168h)")
	fl.Int64Var(&f.eventsMaxBytes, "events-max-bytes", 0, "largest size of the events stream; full, ingest answers 503 (default: no limit)")
	fl.DurationVar(&f.alertsMaxAge, "alerts-max-age", 0, "how long the alerts stream keeps alerts (default 720h)")

	fl.StringVar(&f.httpAddr, "http", "127.0.0.1:8470", `HTTP address: ingest, alerts API, health, metrics ("" for none)`)
	fl.StringVar(&f.beatsAddr, "beats", "", "Beats (lumberjack v2) address, e.g. 127.0.0.1:5044")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate (PEM) for HTTP and Beats")
	fl.StringVar(&f.tlsKey, "tls-key", "", "TLS private key (PEM) for HTTP and Beats")
	fl.StringVar(&f.tlsCA, "tls-client-ca", "", "require client certificates signed by this CA (PEM) on HTTP and Beats")
	fl.StringVar(&f.tokenFile, "token-file", "", "bearer tokens for HTTP, one per line")
	fl.BoolVar(&f.insecure, "insecure", false, "allow a non-loopback address without authentication")
	fl.Int64Var(&f.maxBody, "max-body", 16<<20, "largest HTTP request body in bytes, after decompression")
	fl.BoolVar(&f.noIngest, "no-ingest", false, "run no input: a detection-only worker")
	fl.BoolVar(&f.noDetect, "no-detect", false, "run no detection: an ingest-only node")

	fl.DurationVar(&f.maxLateness, "max-lateness", 30*time.Second, "how far behind the newest event time an event may come and still be correlated")
	fl.DurationVar(&f.idleAdvance, "idle-advance", 0, "after this long without events, a partition holding open correlation windows moves its event time on by the idle time (0: --max-lateness; negative: never)")
	fl.DurationVar(&f.failover, "failover", 30*time.Second, "time after which a silent worker's partitions move to another")
	fl.IntVar(&f.maxGroups, "max-groups", 0, "most correlation groups held open per partition (default 1048576)")

	fl.StringVar(&f.logFormat, "log-format", "text", "log format on standard error: text or json")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", 20*time.Second, "bound of each shutdown step")
	fl.StringVar(&f.cpuprof, "cpuprofile", "", "write a CPU profile of the run to this file")
	_ = fl.MarkHidden("cpuprofile")
	fl.StringVar(&f.memprof, "memprofile", "", "write a heap profile to this file when stopping")
	_ = fl.MarkHidden("memprofile")
	addDetectFlags(fl, &f)
	return cmd
}

// applyConfig sets every flag not given on the command line from the YAML
// file: a mapping of flag names to values (lists for repeatable flags).
func applyConfig(fl *pflag.FlagSet, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return usageErr("--config: %v", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return usageErr("--config %s: %v", path, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return usageErr("%s:%d:%d: want a mapping of flag names to values", path, m.Line, m.Column)
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		flag := fl.Lookup(k.Value)
		if flag == nil || k.Value == "config" {
			return usageErr("%s:%d:%d: unknown setting %q (settings are named like vigil serve's flags)", path, k.Line, k.Column, k.Value)
		}
		if flag.Changed {
			continue
		}
		var vals []string
		switch v.Kind {
		case yaml.ScalarNode:
			vals = []string{v.Value}
		case yaml.SequenceNode:
			if !strings.HasSuffix(flag.Value.Type(), "Array") && !strings.HasSuffix(flag.Value.Type(), "Slice") {
				return usageErr("%s:%d:%d: %s takes one value, not a list", path, v.Line, v.Column, k.Value)
			}
			for _, it := range v.Content {
				if it.Kind != yaml.ScalarNode {
					return usageErr("%s:%d:%d: %s: want a list of values", path, it.Line, it.Column, k.Value)
				}
				vals = append(vals, it.Value)
			}
		default:
			return usageErr("%s:%d:%d: %s: want a value or a list", path, v.Line, v.Column, k.Value)
		}
		for _, s := range vals {
			if err := fl.Set(k.Value, s); err != nil {
				return usageErr("%s:%d:%d: %s: %v", path, v.Line, v.Column, k.Value, err)
			}
		}
	}
	return nil
}

func newLogger(f *serveFlags, env *Env) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, usageErr("--log-level %q: want debug, info, warn or error", f.logLevel)
	}
	o := &slog.HandlerOptions{Level: level}
	switch f.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(env.Stderr, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(env.Stderr, o)), nil
	}
	return nil, usageErr("--log-format %q: want text or json", f.logFormat)
}

func runServe(cmd *cobra.Command, env *Env, f *serveFlags, args []string) error {
	if f.config != "" {
		if err := applyConfig(cmd.Flags(), f.config); err != nil {
			return err
		}
	}
	stdin := false
	for _, a := range args {
		if a != "-" {
			return usageErr("vigil serve takes no path, only - for standard input (got %q); to hunt files use vigil hunt", a)
		}
		stdin = true
	}
	if f.noIngest && stdin {
		return usageErr("- (standard input) with --no-ingest")
	}
	log, err := newLogger(f, env)
	if err != nil {
		return err
	}
	if err := f.sel.prepare(); err != nil {
		return err
	}
	o := serve.Options{
		DataDir: f.dataDir, NATSURL: f.natsURL, NATSCreds: f.natsCreds, NATSCA: f.natsCA, NATSListen: f.natsListen,
		Streams: streams.Options{Partitions: f.partitions, Replicas: f.replicas, EventsMaxAge: f.eventsMaxAge,
			EventsMaxBytes: f.eventsMaxBytes, AlertsMaxAge: f.alertsMaxAge},
		HTTPAddr: f.httpAddr, BeatsAddr: f.beatsAddr,
		TLSCert: f.tlsCert, TLSKey: f.tlsKey, TLSClientCA: f.tlsCA,
		TokenFile: f.tokenFile, Insecure: f.insecure, MaxBody: f.maxBody,
		NoIngest: f.noIngest, NoDetect: f.noDetect,
		Logger: log, DrainTimeout: f.drainTimeout,
	}
	if f.natsURL == "" && (f.natsCreds != "" || f.natsCA != "") {
		return usageErr("--nats-creds and --nats-ca are for --nats")
	}
	if f.natsURL != "" && cmd.Flags().Changed("nats-listen") {
		return usageErr("--nats-listen is for the embedded server; with --nats there is none")
	}
	if f.natsURL != "" {
		o.NATSListen = ""
	}
	if stdin {
		o.Stdin = env.Stdin
	}
	var ruleInfos map[string]web.RuleInfo
	if !f.noDetect {
		f.load.builtin = f.builtin || len(f.load.paths) == 0
		f.load.sel = &f.sel
		d, err := newServeDetection(f, log)
		if err != nil {
			return err
		}
		if d.stdout, err = alertsOnStdout(env, f.sinks.stdout); err != nil {
			return err
		}
		o.NewDetector, o.Reload = d.newDetector, d.reload
		ruleInfos = d.infos
	}
	var mount *consoleMount
	if f.httpAddr != "" {
		mount = &consoleMount{}
		o.Console = mount
	}

	stopProfile, err := startCPUProfile(f.cpuprof)
	if err != nil {
		return &exitError{ExitFailure, err}
	}
	defer stopProfile()
	ctx, stop := context.WithCancel(cmd.Context())
	defer stop()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	srv, err := serve.Start(ctx, o)
	if err != nil {
		return &exitError{ExitFailure, err}
	}
	var con interface{ Close() error }
	if mount != nil {
		h, err := startConsole(ctx, srv, f, mount, ruleInfos, log)
		if err != nil {
			// Detection goes on without the console.
			log.Error("console unavailable", "err", err)
		} else {
			con = h
		}
	}
	var runErr error
loop:
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				srv.Reload(ctx) // logged; a failure keeps the running rules
				continue
			}
			log.Info("draining", "signal", sig.String())
			break loop
		case <-cmd.Context().Done():
			log.Info("draining", "reason", "interrupted")
			break loop
		case err := <-srv.Err():
			runErr = err
			break loop
		}
	}
	if f.memprof != "" {
		if pf, err := os.Create(f.memprof); err == nil {
			pprof.WriteHeapProfile(pf)
			pf.Close()
		}
	}
	if con != nil {
		con.Close() // its event streams would hold the HTTP server's drain
	}
	if err := srv.Shutdown(context.Background()); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		return &exitError{ExitFailure, runErr}
	}
	return nil
}

// errRules is the error of a rule set that failed to load.
func errRules(rs *ruleSet) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d rule errors (%s)", len(rs.errs), rs.summary())
	for i, e := range rs.errs {
		if i == 10 {
			fmt.Fprintf(&b, "; and %d more", len(rs.errs)-10)
			break
		}
		fmt.Fprintf(&b, "; %v", e)
	}
	return errors.New(b.String())
}
