// Package broker gives vigil serve its NATS: an embedded nats-server with
// JetStream (file storage under a data directory, listening on loopback
// only, or not at all), or a connection to an external NATS cluster. Either
// way the rest of serve sees one *nats.Conn and one jetstream.JetStream.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options configure Start.
type Options struct {
	// URL of an external NATS cluster (comma-separated seeds); empty
	// starts the embedded server.
	URL string
	// Creds is a NATS credentials file for URL; CA a PEM file of the
	// certificate authorities that signed the cluster's TLS certificates
	// (empty: the system's).
	Creds string
	CA    string
	// DataDir holds the embedded server's JetStream files.
	DataDir string
	// Listen is the embedded server's client address. It must be a
	// loopback address (port 0 picks a free one); empty means no
	// listener: only this process connects, in-process.
	Listen string
	// MaxStore bounds the embedded JetStream's disk use (0: the server's
	// default, a share of the free space).
	MaxStore int64
	// Name names the connection in the server's monitoring.
	Name string
	// Logger receives the embedded server's and the connection's logs.
	Logger *slog.Logger
}

// Broker is a NATS connection, with the embedded server it is connected
// to when there is one.
type Broker struct {
	Server *server.Server // nil with an external URL
	Conn   *nats.Conn
	JS     jetstream.JetStream
	log    *slog.Logger
}

// Start starts the embedded server (when o.URL is empty) and connects.
func Start(ctx context.Context, o Options) (*Broker, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Broker{log: log}
	name := o.Name
	if name == "" {
		name = "vigil"
	}
	copts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		// No buffering while disconnected: a publish fails at once and
		// ingest answers 503, instead of holding events it has not stored.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("nats disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats reconnected", "url", c.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
			subj := ""
			if s != nil {
				subj = s.Subject
			}
			log.Warn("nats error", "subject", subj, "err", err)
		}),
	}
	url := o.URL
	if url == "" {
		s, err := startEmbedded(o, log)
		if err != nil {
			return nil, err
		}
		b.Server = s
		copts = append(copts, nats.InProcessServer(s))
	} else {
		if o.Creds != "" {
			copts = append(copts, nats.UserCredentials(o.Creds))
		}
		if o.CA != "" {
			copts = append(copts, nats.RootCAs(o.CA))
		}
	}
	nc, err := nats.Connect(url, copts...)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("connecting to NATS %s: %w", redact(url), err)
	}
	b.Conn = nc
	js, err := jetstream.New(nc)
	if err != nil {
		b.Close()
		return nil, err
	}
	b.JS = js
	// Wait for JetStream to answer (a cluster may still elect a leader).
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = js.AccountInfo(actx)
		cancel()
		if err == nil {
			break
		}
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) || ctx.Err() != nil {
			b.Close()
			return nil, fmt.Errorf("JetStream on %s: %w", redact(url), err)
		}
		log.Info("waiting for JetStream", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	return b, nil
}

func redact(url string) string {
	if url == "" {
		return "(embedded)"
	}
	return url
}

// CheckLoopback returns an error unless addr's host is a loopback address
// (or "localhost").
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address", addr)
	}
	return nil
}

func startEmbedded(o Options, log *slog.Logger) (*server.Server, error) {
	dir := o.DataDir
	if dir == "" {
		dir = "vigil-data"
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	sopts := &server.Options{
		ServerName:        "vigil",
		JetStream:         true,
		StoreDir:          abs,
		JetStreamMaxStore: o.MaxStore,
		NoSigs:            true,
		NoSystemAccount:   true,
		MaxPayload:        8 << 20,
	}
	if o.Listen == "" {
		sopts.DontListen = true
	} else {
		if err := CheckLoopback(o.Listen); err != nil {
			return nil, fmt.Errorf("--nats-listen: the embedded NATS server listens on loopback only: %w", err)
		}
		host, port, _ := net.SplitHostPort(o.Listen)
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("--nats-listen %s: bad port", o.Listen)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		} else {
			// The server only logs a port it cannot bind and is then never
			// ready: find out now, with the reason.
			l, err := net.Listen("tcp", o.Listen)
			if err != nil {
				return nil, fmt.Errorf("--nats-listen: %w", err)
			}
			l.Close()
		}
		sopts.Host, sopts.Port = host, p
	}
	s, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	s.SetLoggerV2(slogAdapter{log.With("component", "nats-server")}, false, false, false)
	s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded NATS did not start within 30s (data dir %s)", abs)
	}
	return s, nil
}

// ClientURL is the URL other processes reach the embedded server at; empty
// when it has no listener or the broker is external.
func (b *Broker) ClientURL() string {
	if b.Server == nil || b.Server.Addr() == nil {
		return ""
	}
	return b.Server.ClientURL()
}

// Connected reports whether the connection is up.
func (b *Broker) Connected() bool {
	return b.Conn != nil && b.Conn.IsConnected()
}

// Close drains the connection, then shuts the embedded server down.
func (b *Broker) Close() {
	if b.Conn != nil {
		if err := b.Conn.Drain(); err != nil {
			b.Conn.Close()
		}
		deadline := time.Now().Add(5 * time.Second)
		for !b.Conn.IsClosed() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		b.Conn.Close()
	}
	if b.Server != nil {
		b.Server.Shutdown()
		b.Server.WaitForShutdown()
	}
}

// slogAdapter turns the server's printf-style logger into slog records.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Noticef(f string, v ...any) { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Warnf(f string, v ...any)   { a.l.Warn(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Fatalf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Errorf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Debugf(f string, v ...any)  { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Tracef(f string, v ...any)  { a.l.Debug(fmt.Sprintf(f, v...)) }
