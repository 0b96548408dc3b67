// Package serve wires vigil serve together: NATS (embedded or external,
// package broker), the JetStream streams (package streams), the inputs
// (package ingest), the detection worker (handed in as a Detector, built
// by the cli from package serve/detect), and the HTTP server with the
// operations endpoints (/healthz, /readyz, /metrics, /v1/reload) and the
// alerts API (/v1/alerts, /v1/alerts/stream). Start brings it all up,
// Shutdown drains it in order: inputs first, so that every acknowledged
// event is stored, then detection, then NATS. docs/serve.md describes the
// whole.
package serve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vigil-detect/vigil/serve/broker"
	"github.com/vigil-detect/vigil/serve/ingest"
	"github.com/vigil-detect/vigil/serve/streams"
)

// Detector is the detection side that serve runs (package serve/detect's
// worker, built by the caller with the loaded rules).
type Detector interface {
	// Run detects until ctx ends, then drains (publishes what it found,
	// saves its state) and returns nil; an error return is fatal.
	Run(ctx context.Context) error
}

// DetectorEnv is what a Detector is built from.
type DetectorEnv struct {
	JS         jetstream.JetStream
	Partitions int
	Replicas   int
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Options configure Start. Fields named like vigil serve's flags mean
// what the flags mean (docs/serve.md).
type Options struct {
	// NATS: DataDir and NATSListen for the embedded server, or NATSURL
	// (and NATSCreds) for an external cluster.
	DataDir    string
	NATSURL    string
	NATSCreds  string
	NATSCA     string
	NATSListen string
	// Streams are the events and alerts streams' settings (partitions,
	// replicas, retention).
	Streams streams.Options

	// HTTPAddr serves ingest, the operations endpoints and the alerts
	// API; empty: no HTTP server. BeatsAddr serves the Beats protocol;
	// empty: none.
	HTTPAddr  string
	BeatsAddr string
	// TLSCert and TLSKey turn on TLS for HTTP and Beats; TLSClientCA
	// also requires client certificates signed by that CA.
	TLSCert, TLSKey, TLSClientCA string
	// TokenFile holds the bearer tokens, one per line (# comments); it
	// is read again on every reload.
	TokenFile string
	// Insecure allows listening on a non-loopback address without
	// authentication (no tokens for HTTP, no client CA for Beats).
	Insecure bool
	// MaxBody bounds an HTTP request's body (0: 16 MiB).
	MaxBody int64
	// Stdin, when set, is read as an input of JSON events ("vigil serve -").
	Stdin io.Reader

	// NoIngest runs no input (a detection-only worker); NoDetect runs
	// no detection (an ingest-only node).
	NoIngest, NoDetect bool
	// NewDetector builds the detection side; required unless NoDetect.
	NewDetector func(ctx context.Context, env DetectorEnv) (Detector, error)
	// Reload loads the rules again and hands them to the running
	// detector, returning a summary; on error the running rules stay.
	// Nil: reloading only re-reads the token file.
	Reload func(ctx context.Context) (string, error)

	// Console, when set, is served at / of the HTTP server (the live
	// console).
	Console http.Handler
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Version is shown by /healthz.
	Version string
	// DrainTimeout bounds each shutdown step (0: 20 s).
	DrainTimeout time.Duration
}

// Server is a running vigil serve.
type Server struct {
	opts    Options
	log     *slog.Logger
	broker  *broker.Broker
	reg     *prometheus.Registry
	metrics *ingest.Metrics
	info    *streams.Info
	tokens  *ingest.Tokens

	httpSrv *http.Server
	httpLn  net.Listener
	beats   *ingest.Beats
	repart  *ingest.Repartition
	alerts  *alertFeed

	stdinCancel context.CancelFunc
	stdinDone   chan struct{}

	detectCancel context.CancelFunc
	detectDone   chan struct{}

	fatal    chan error
	ready    atomic.Bool
	reloadMu sync.Mutex
	reloads  *prometheus.CounterVec
	started  time.Time
	shutOnce sync.Once
}

// Start brings vigil serve up: NATS, the streams, detection, the inputs
// and the HTTP server. On error everything started is stopped again.
func Start(ctx context.Context, o Options) (s *Server, err error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 20 * time.Second
	}
	if o.NoIngest && o.NoDetect {
		return nil, errors.New("--no-ingest and --no-detect together leave nothing to run")
	}
	if !o.NoDetect && o.NewDetector == nil {
		return nil, errors.New("serve: no detector (Options.NewDetector)")
	}
	s = &Server{opts: o, log: log, fatal: make(chan error, 4), started: time.Now()}
	s.tokens = ingest.NewTokens(nil)
	if err := s.readTokens(); err != nil {
		return nil, err
	}
	tlsConf, err := o.tlsConfig()
	if err != nil {
		return nil, err
	}
	if err := o.checkExposure(s.tokens.Empty()); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.Shutdown(context.Background())
			s = nil
		}
	}()

	s.reg = prometheus.NewRegistry()
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_rule_reloads_total", Help: "Rule reloads, by result (ok, failed)."}, []string{"result"})
	s.reg.MustRegister(s.reloads)
	s.metrics = ingest.NewMetrics(s.reg)

	s.broker, err = broker.Start(ctx, broker.Options{URL: o.NATSURL, Creds: o.NATSCreds, CA: o.NATSCA, DataDir: o.DataDir, Listen: o.NATSListen, Logger: log, Name: "vigil serve"})
	if err != nil {
		return s, err
	}
	if o.NATSURL == "" {
		log.Info("embedded NATS started", "data_dir", o.DataDir, "client_url", s.broker.ClientURL())
	} else {
		log.Info("connected to NATS", "url", s.broker.Conn.ConnectedUrlRedacted())
	}
	// A cluster that has just started may not place streams yet: retry
	// for a while, except on a conflict, which waiting does not solve.
	for wait, start := 250*time.Millisecond, time.Now(); ; wait = min(2*wait, 2*time.Second) {
		s.info, err = streams.Ensure(ctx, s.broker.JS, o.Streams)
		var ce *streams.ConflictError
		if err == nil || errors.As(err, &ce) || ctx.Err() != nil || time.Since(start) > 30*time.Second {
			break
		}
		log.Warn("streams not ready, retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	if err != nil {
		return s, err
	}
	log.Info("streams ready", "partitions", s.info.Partitions, "created", s.info.Created)

	if !o.NoDetect {
		env := DetectorEnv{JS: s.broker.JS, Partitions: s.info.Partitions, Replicas: s.info.Events.CachedInfo().Config.Replicas, Registerer: s.reg, Logger: log.With("component", "detect")}
		det, err := o.NewDetector(ctx, env)
		if err != nil {
			return s, fmt.Errorf("detection: %w", err)
		}
		dctx, cancel := context.WithCancel(context.Background())
		s.detectCancel, s.detectDone = cancel, make(chan struct{})
		go func() {
			defer close(s.detectDone)
			if err := det.Run(dctx); err != nil {
				log.Error("detection stopped", "err", err)
				s.fatal <- fmt.Errorf("detection: %w", err)
			}
		}()
	}

	pub := ingest.NewPublisher(s.broker.JS, s.info.Partitions, 0)
	if !o.NoIngest {
		s.repart = &ingest.Repartition{Publisher: pub, Metrics: s.metrics, Logger: log.With("input", "nats")}
		if err := s.repart.Start(ctx, s.broker.JS); err != nil {
			s.repart = nil
			return s, err
		}
		if o.BeatsAddr != "" {
			s.beats = &ingest.Beats{Publisher: pub, Metrics: s.metrics, Logger: log.With("input", "beats"), Drain: o.DrainTimeout}
			if err := s.beats.Listen(o.BeatsAddr, tlsConf); err != nil {
				s.beats = nil
				return s, err
			}
			log.Info("beats input listening", "addr", s.beats.Addr().String(), "tls", tlsConf != nil)
		}
	}

	if o.HTTPAddr != "" {
		s.alerts = newAlertFeed(s.broker.JS, log)
		if err := s.alerts.start(ctx); err != nil {
			return s, err
		}
		h := s.handler(pub)
		ln, err := net.Listen("tcp", o.HTTPAddr)
		if err != nil {
			return s, fmt.Errorf("--http: %w", err)
		}
		if tlsConf != nil {
			ln = tls.NewListener(ln, tlsConf)
		}
		s.httpLn = ln
		s.httpSrv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		go func() {
			if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.fatal <- fmt.Errorf("http: %w", err)
			}
		}()
		log.Info("http listening", "addr", ln.Addr().String(), "tls", tlsConf != nil, "tokens", !s.tokens.Empty())
	}

	if o.Stdin != nil && !o.NoIngest {
		sctx, cancel := context.WithCancel(context.Background())
		s.stdinCancel, s.stdinDone = cancel, make(chan struct{})
		r := &ingest.Reader{Publisher: pub, Metrics: s.metrics, Logger: log.With("input", "stdin")}
		go func() {
			defer close(s.stdinDone)
			switch err := r.Run(sctx, o.Stdin); {
			case errors.Is(err, context.Canceled):
				log.Info("stdin input stopped; the events read are stored")
			case err != nil:
				log.Error("stdin input stopped", "err", err)
			default:
				log.Info("stdin input: end of input")
			}
		}()
	}
	s.ready.Store(true)
	return s, nil
}

// HTTPAddr is the HTTP server's address (nil without one).
func (s *Server) HTTPAddr() net.Addr {
	if s.httpLn == nil {
		return nil
	}
	return s.httpLn.Addr()
}

// BeatsAddr is the Beats server's address (nil without one).
func (s *Server) BeatsAddr() net.Addr {
	if s.beats == nil {
		return nil
	}
	return s.beats.Addr()
}

// NATSURL is the embedded NATS server's client URL (empty when it has no
// listener or NATS is external).
func (s *Server) NATSURL() string { return s.broker.ClientURL() }

// Partitions is the events stream's partition count.
func (s *Server) Partitions() int { return s.info.Partitions }

// Err delivers fatal errors: detection or the HTTP server stopped.
func (s *Server) Err() <-chan error { return s.fatal }

// StdinDone is closed when the standard input is read to its end and
// stored (nil without a standard input).
func (s *Server) StdinDone() <-chan struct{} { return s.stdinDone }

// Reload re-reads the token file and reloads the rules (Options.Reload).
// On error the running rules and tokens stay.
func (s *Server) Reload(ctx context.Context) (string, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if err := s.readTokens(); err != nil {
		s.reloads.WithLabelValues("failed").Inc()
		s.log.Error("reload failed: tokens", "err", err)
		return "", err
	}
	summary := "tokens reloaded"
	if s.opts.Reload != nil && !s.opts.NoDetect {
		sum, err := s.opts.Reload(ctx)
		if err != nil {
			s.reloads.WithLabelValues("failed").Inc()
			s.log.Error("reload failed: the running rules stay", "err", err)
			return "", err
		}
		summary = sum
	}
	s.reloads.WithLabelValues("ok").Inc()
	s.log.Info("reloaded", "rules", summary)
	return summary, nil
}

// Shutdown drains vigil serve: the inputs stop taking events and finish
// storing what they acknowledged... (in-flight HTTP requests complete,
// Beats batches being stored are stored and ACKed), then detection
// drains, then NATS. Each step is bounded by Options.DrainTimeout.
func (s *Server) Shutdown(ctx context.Context) error {
	var errs []error
	s.shutOnce.Do(func() {
		s.ready.Store(false)
		step := func(name string, f func(context.Context) error) {
			c, cancel := context.WithTimeout(ctx, s.opts.DrainTimeout)
			defer cancel()
			start := time.Now()
			if err := f(c); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
			s.log.Debug("drained", "step", name, "took", time.Since(start))
		}
		if s.httpSrv != nil {
			step("http", func(c context.Context) error {
				if s.alerts != nil {
					s.alerts.closeSubscribers()
				}
				return s.httpSrv.Shutdown(c)
			})
		}
		if s.beats != nil {
			step("beats", func(context.Context) error { return s.beats.Close() })
		}
		if s.stdinCancel != nil {
			step("stdin", func(c context.Context) error {
				// Stop reading; what was read is stored.
				s.stdinCancel()
				select {
				case <-s.stdinDone:
					return nil
				case <-c.Done():
					return errors.New("stdin events not stored in time")
				}
			})
		}
		if s.repart != nil {
			step("nats input", func(context.Context) error { s.repart.Close(); return nil })
		}
		if s.detectCancel != nil {
			step("detection", func(c context.Context) error {
				s.detectCancel()
				select {
				case <-s.detectDone:
					return nil
				case <-c.Done():
					return errors.New("detection did not drain in time")
				}
			})
		}
		if s.alerts != nil {
			s.alerts.stop()
		}
		if s.broker != nil {
			step("nats", func(context.Context) error { s.broker.Close(); return nil })
		}
		s.log.Info("stopped", "errors", len(errs))
	})
	return errors.Join(errs...)
}

func (s *Server) readTokens() error {
	if s.opts.TokenFile == "" {
		return nil
	}
	data, err := os.ReadFile(s.opts.TokenFile)
	if err != nil {
		return fmt.Errorf("--token-file: %w", err)
	}
	var toks []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			toks = append(toks, l)
		}
	}
	if len(toks) == 0 {
		return fmt.Errorf("--token-file %s holds no token", s.opts.TokenFile)
	}
	s.tokens.Set(toks)
	return nil
}

func (o Options) tlsConfig() (*tls.Config, error) {
	if o.TLSCert == "" && o.TLSKey == "" {
		if o.TLSClientCA != "" {
			return nil, errors.New("--tls-client-ca needs --tls-cert and --tls-key")
		}
		return nil, nil
	}
	if o.TLSCert == "" || o.TLSKey == "" {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if o.TLSClientCA != "" {
		pem, err := os.ReadFile(o.TLSClientCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-client-ca %s: no PEM certificate", o.TLSClientCA)
		}
		c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// checkExposure refuses to listen on a non-loopback address without
// authentication, unless Insecure: HTTP needs tokens (or client
// certificates), Beats client certificates (the protocol has no tokens).
func (o Options) checkExposure(noTokens bool) error {
	if o.Insecure {
		return nil
	}
	mtls := o.TLSClientCA != ""
	if o.HTTPAddr != "" && !isLoopback(o.HTTPAddr) && noTokens && !mtls {
		return fmt.Errorf("--http %s is not a loopback address and there is no --token-file (or --tls-client-ca): refusing to serve without authentication (--insecure to do it anyway)", o.HTTPAddr)
	}
	if o.BeatsAddr != "" && !o.NoIngest && !isLoopback(o.BeatsAddr) && !mtls {
		return fmt.Errorf("--beats %s is not a loopback address and the Beats protocol has no tokens: give --tls-cert, --tls-key and --tls-client-ca so that only senders with a client certificate get in (--insecure to serve anyway)", o.BeatsAddr)
	}
	return nil
}

func isLoopback(addr string) bool {
	return broker.CheckLoopback(addr) == nil
}
