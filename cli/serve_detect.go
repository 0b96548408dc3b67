package cli

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/vigil-detect/vigil/serve"
	"github.com/vigil-detect/vigil/serve/detect"
	"github.com/vigil-detect/vigil/serve/sink"
	"github.com/vigil-detect/vigil/web"
)

// serveDetection loads the rules as vigil hunt does (loadRules) and builds
// the detection worker of vigil serve from them; reload loads them again.
type serveDetection struct {
	f      *serveFlags
	log    *slog.Logger
	rules  *detect.Rules
	worker *detect.Worker
	// stdout gets the alerts with --stdout (or when it is a terminal).
	stdout io.Writer
	// infos describe the rules for the live console.
	infos map[string]web.RuleInfo
}

// sinkFlags are the alert outputs of vigil serve besides the alerts
// stream (package serve/sink).
type sinkFlags struct {
	alertsFile      string
	alertsFileBytes int64
	webhook         string
	webhookTimeout  time.Duration
	stdout          string // auto, always, never
}

func addDetectFlags(fl *pflag.FlagSet, f *serveFlags) {
	fl.StringVar(&f.sinks.alertsFile, "alerts-file", "", "also append alerts to this JSON Lines file (synced before acknowledged; each alert once)")
	fl.Int64Var(&f.sinks.alertsFileBytes, "alerts-file-max-bytes", sink.DefaultMaxBytes, "rotate the alerts file at this size (renamed FILE.<UTC time>)")
	fl.StringVar(&f.sinks.webhook, "webhook", "", "also POST each alert (JSON) to this URL, retrying with backoff until a 2xx")
	fl.DurationVar(&f.sinks.webhookTimeout, "webhook-timeout", 10*time.Second, "time allowed for one webhook POST")
	fl.StringVar(&f.sinks.stdout, "stdout", "auto", "print alerts (JSON Lines) on standard output: auto (when it is a terminal), always, never")
}

// sinkName is a sink's durable consumer name: stable for the same output
// on the same host, so that a restart resumes where it stopped.
func sinkName(kind, target string, perHost bool) string {
	h := fnv.New64a()
	h.Write([]byte(target))
	if perHost {
		host, _ := os.Hostname()
		h.Write([]byte{0})
		h.Write([]byte(host))
	}
	return kind + "-" + strconv.FormatUint(h.Sum64(), 36)
}

// withSinks runs the detection worker and the alert sinks together.
type withSinks struct {
	worker serve.Detector
	sinks  []func(ctx context.Context) error
}

// Run runs the worker and every sink until ctx ends; the sinks stop after
// the worker has drained, so that they deliver its last alerts.
func (d *withSinks) Run(ctx context.Context) error {
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	var wg sync.WaitGroup
	errs := make([]error, len(d.sinks))
	for i, run := range d.sinks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = run(sctx)
		}()
	}
	err := d.worker.Run(ctx)
	// Give the sinks a moment for the alerts of the drain.
	select {
	case <-time.After(time.Second):
	case <-sctx.Done():
	}
	stop()
	wg.Wait()
	return errors.Join(append(errs, err)...)
}

// sinks builds the alert sinks asked for.
func (d *serveDetection) sinks(ctx context.Context, env serve.DetectorEnv) ([]func(context.Context) error, error) {
	f := d.f.sinks
	var out []func(context.Context) error
	opts := sink.Options{Logger: env.Logger.With("component", "sink"), AckWait: d.f.failover}
	if f.alertsFile != "" {
		abs, err := filepath.Abs(f.alertsFile)
		if err != nil {
			return nil, err
		}
		file, err := sink.OpenFile(abs, f.alertsFileBytes)
		if err != nil {
			return nil, fmt.Errorf("--alerts-file: %w", err)
		}
		name := sinkName("file", abs, true)
		out = append(out, func(ctx context.Context) error {
			defer file.Close()
			return sink.Run(ctx, env.JS, name, file, opts)
		})
	}
	if f.webhook != "" {
		u, err := url.Parse(f.webhook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--webhook %q: want an http or https URL", f.webhook)
		}
		name := sinkName("webhook", f.webhook, false)
		kv, err := sink.DeliveredBucket(ctx, env.JS, name, 7*24*time.Hour, env.Replicas)
		if err != nil {
			return nil, fmt.Errorf("--webhook: delivered ids: %w", err)
		}
		hook := &sink.Webhook{URL: f.webhook, Delivered: kv, Client: &http.Client{Timeout: f.webhookTimeout}}
		out = append(out, func(ctx context.Context) error { return sink.Run(ctx, env.JS, name, hook, opts) })
	}
	if d.stdout != nil {
		host, _ := os.Hostname()
		name := sinkName("stdout", host+"|"+strconv.Itoa(os.Getpid()), false)
		so := opts
		so.DeliverNew, so.InactiveThreshold = true, time.Minute
		w := sink.Writer{W: d.stdout}
		out = append(out, func(ctx context.Context) error { return sink.Run(ctx, env.JS, name, w, so) })
	}
	return out, nil
}

func detectRules(rs *ruleSet, builtin bool) *detect.Rules {
	return &detect.Rules{Engine: rs.eng, Normalizer: rs.norm, Correlations: rs.corr, Advisory: builtin, Hidden: rs.hidden}
}

func newServeDetection(f *serveFlags, log *slog.Logger) (*serveDetection, error) {
	rs, err := loadRules(f.load)
	if err != nil {
		return nil, err
	}
	for _, e := range rs.errs {
		log.Warn("rule not loaded", "err", e)
	}
	if f.strictRules && len(rs.errs) > 0 {
		return nil, &exitError{ExitFailure, errors.New("--strict-rules: " + errRules(rs).Error())}
	}
	if len(rs.eng.Rules()) == 0 {
		return nil, &exitError{ExitFailure, errors.New("no rule loaded (" + rs.summary() + ")")}
	}
	log.Info("rules loaded", "summary", rs.summary())
	return &serveDetection{f: f, log: log, rules: detectRules(rs, f.load.builtin), infos: rs.ruleInfos()}, nil
}

func (d *serveDetection) newDetector(ctx context.Context, env serve.DetectorEnv) (serve.Detector, error) {
	w, err := detect.New(ctx, env.JS, d.rules, detect.Options{
		Partitions:  env.Partitions,
		MaxLateness: d.f.maxLateness,
		IdleAdvance: d.f.idleAdvance,
		Failover:    d.f.failover,
		MaxGroups:   d.f.maxGroups,
		Replicas:    env.Replicas,
		Logger:      env.Logger,
		Registerer:  env.Registerer,
	})
	if err != nil {
		return nil, err
	}
	d.worker = w
	sinks, err := d.sinks(ctx, env)
	if err != nil {
		return nil, err
	}
	if len(sinks) == 0 {
		return w, nil
	}
	return &withSinks{worker: w, sinks: sinks}, nil
}

// reload loads the rules again; a set with any error is refused, so that
// a typo never silently drops rules from a running service.
func (d *serveDetection) reload(ctx context.Context) (string, error) {
	rs, err := loadRules(d.f.load)
	if err != nil {
		return "", err
	}
	if len(rs.errs) > 0 {
		return "", errRules(rs)
	}
	if len(rs.eng.Rules()) == 0 {
		return "", errors.New("no rule loaded (" + rs.summary() + ")")
	}
	d.worker.SetRules(detectRules(rs, d.f.load.builtin))
	return rs.summary(), nil
}

// alertsOnStdout returns standard output when alerts are to be printed on
// it (--stdout).
func alertsOnStdout(env *Env, mode string) (io.Writer, error) {
	switch mode {
	case "always":
		return env.Stdout, nil
	case "never":
		return nil, nil
	case "auto", "":
		if tty, _ := env.Terminal(env.Stdout); tty {
			return env.Stdout, nil
		}
		return nil, nil
	}
	return nil, usageErr("--stdout %q: want auto, always or never", mode)
}
