package serve

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-detect/vigil/buildinfo"
	"github.com/vigil-detect/vigil/serve/ingest"
)

// handler is the HTTP server's routing:
//
//	POST /v1/events         ingest (token)
//	POST /v1/reload         reload rules and tokens (token)
//	GET  /v1/alerts         alerts after an id, JSON Lines (token)
//	GET  /v1/alerts/stream  alerts as Server-Sent Events (token)
//	GET  /healthz           the process is up
//	GET  /readyz            NATS connected, rules compiled
//	GET  /metrics           Prometheus
//	/                       the console, when there is one
func (s *Server) handler(pub *ingest.Publisher) http.Handler {
	mux := http.NewServeMux()
	if !s.opts.NoIngest {
		mux.Handle("/v1/events", &ingest.HTTP{Publisher: pub, Tokens: s.tokens, MaxBody: s.opts.MaxBody, Metrics: s.metrics, Logger: s.log.With("input", "http")})
	} else {
		mux.HandleFunc("/v1/events", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "this node does not ingest (--no-ingest)"})
		})
	}
	mux.Handle("POST /v1/reload", s.requireToken(s.auth(http.HandlerFunc(s.serveReload))))
	mux.Handle("GET /v1/alerts", s.auth(http.HandlerFunc(s.alerts.serveList)))
	mux.Handle("GET /v1/alerts/stream", s.auth(http.HandlerFunc(s.alerts.serveStream)))
	mux.HandleFunc("GET /healthz", s.serveHealth)
	mux.HandleFunc("GET /readyz", s.serveReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	if s.opts.Console != nil {
		mux.Handle("/", s.opts.Console)
	}
	return mux
}

func (s *Server) auth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.tokens.Allow(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "a valid Authorization: Bearer token is required"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// requireToken refuses a request when there is no token at all: reloading
// over HTTP always needs one (SIGHUP does not).
func (s *Server) requireToken(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.tokens.Empty() {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "reloading over HTTP needs --token-file; send SIGHUP instead"})
			return
		}
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// version is the build (vigil version --json: version, commit, date, Go,
// advisory pack and mapping versions), Options.Version replacing the
// version when set.
func (s *Server) version() buildinfo.Info {
	info := buildinfo.Get()
	if s.opts.Version != "" {
		info.Version = s.opts.Version
	}
	return info
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"status": "ok",
		"build":  s.version(),
		"uptime": time.Since(s.started).Round(time.Second).String(),
	})
}

// serveReady answers 200 when NATS is connected and the rules are
// compiled (detection running), else 503 with the reasons.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	var problems []string
	if !s.ready.Load() {
		problems = append(problems, "starting or stopping")
	}
	if !s.broker.Connected() {
		problems = append(problems, "NATS not connected")
	}
	status := map[string]any{
		"nats":       s.broker.Connected(),
		"ingest":     !s.opts.NoIngest,
		"detect":     !s.opts.NoDetect,
		"partitions": s.info.Partitions,
	}
	if !s.opts.NoDetect {
		// Detection starts only with compiled rules; a failed reload
		// keeps the running ones.
		status["rules"] = "compiled"
	}
	if len(problems) > 0 {
		status["problems"] = problems
		writeJSON(w, http.StatusServiceUnavailable, status)
		return
	}
	writeJSON(w, http.StatusOK, status)
}

func (s *Server) serveReload(w http.ResponseWriter, r *http.Request) {
	sum, err := s.Reload(r.Context())
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error(), "running": "the previous rules and tokens stay"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"reloaded": sum})
}
