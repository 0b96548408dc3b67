package cli

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"

	"github.com/vigil-detect/vigil/console"
	"github.com/vigil-detect/vigil/serve"
	"github.com/vigil-detect/vigil/serve/ingest"
	"github.com/vigil-detect/vigil/serve/streams"
	"github.com/vigil-detect/vigil/web"
)

// consoleMount is the live console's place at / of vigil serve's HTTP
// server. The console needs serve's NATS, which serve.Start brings up
// together with the HTTP server, so the mount answers 503 until the
// console is built just after.
type consoleMount struct {
	h atomic.Pointer[console.Handler]
}

func (m *consoleMount) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := m.h.Load(); h != nil {
		h.ServeHTTP(w, r)
		return
	}
	http.Error(w, "the console is starting or unavailable (see vigil serve's log)", http.StatusServiceUnavailable)
}

// startConsole builds the live console on the running server: alerts from
// the alerts stream, triage in the vigil_triage bucket (with the events
// stream's replicas), sign-in with the
// tokens of --token-file (read at each sign-in, so a reload's tokens
// apply), which, as for /v1/alerts, are then needed to see the alerts too;
// without --token-file, HTTP has no authentication and any token signs
// in, as any request may post events.
func startConsole(ctx context.Context, srv *serve.Server, f *serveFlags, m *consoleMount, rules map[string]web.RuleInfo, log *slog.Logger) (*console.Handler, error) {
	js := srv.JetStream()
	// The bucket is as durable as the events stream (--replicas, or the
	// cluster default serve chose).
	replicas := f.replicas
	if st, err := js.Stream(ctx, streams.Events); err == nil {
		replicas = st.CachedInfo().Config.Replicas
	}
	kv, err := console.OpenKV(ctx, js, replicas)
	if err != nil {
		return nil, err
	}
	key, err := kv.SessionKey(ctx)
	if err != nil {
		return nil, err
	}
	tokenFile := f.tokenFile
	authorize := func(token string) bool {
		var toks []string
		if tokenFile != "" {
			data, err := os.ReadFile(tokenFile)
			if err != nil {
				log.Error("console sign-in: --token-file", "err", err)
				return false
			}
			for _, l := range strings.Split(string(data), "\n") {
				if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
					toks = append(toks, l)
				}
			}
			if len(toks) == 0 {
				return false
			}
		}
		// The API's own check, constant time, on the token as a bearer.
		r := &http.Request{Header: http.Header{"Authorization": {"Bearer " + token}}}
		return ingest.NewTokens(toks).Allow(r)
	}
	h, err := console.New(console.Options{
		Source: console.NewStream(js, streams.Alerts, streams.AlertsSubjects), Triage: kv,
		Authorize: authorize, RequireSignIn: tokenFile != "", SessionKey: key, Rules: rules, Title: "vigil serve",
		Logger: log.With("component", "console"),
	})
	if err != nil {
		return nil, err
	}
	m.h.Store(h)
	return h, nil
}
