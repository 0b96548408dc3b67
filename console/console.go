// Package console is vigil serve's live web console: an http.Handler that
// serves, at /, the alert views of the HTML report (package web: summary
// charts, ATT&CK matrix, filterable table, alert detail with process tree
// and advisory triage) over the alerts of an AlertSource, with new alerts
// arriving as Server-Sent Events, and a triage state on each alert (new,
// acknowledged, false positive, resolved; a note, who and when) kept in a
// TriageStore — KV, a JetStream key-value bucket, so that every worker and
// every restart sees it.
//
// Reading needs nothing unless Options.RequireSignIn is set (vigil serve
// sets it when its API has tokens); changing a triage state needs a
// session: the
// sign-in form takes a name and an API token (checked by
// Options.Authorize) and sets an HttpOnly, SameSite=Strict cookie signed
// with Options.SessionKey. Every state-changing request must also carry
// the session's CSRF token (header X-Vigil-CSRF, or the form field csrf)
// and come from the console's own origin (Origin, or Sec-Fetch-Site:
// same-origin). Pages and API answers carry a strict
// Content-Security-Policy (the page's own script and stylesheet by hash,
// connections to its own origin only).
package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vigil-detect/vigil/advisory"
	"github.com/vigil-detect/vigil/web"
)

// Options configure a console.
type Options struct {
	// Source gives the alerts; required.
	Source AlertSource
	// Triage keeps the triage states; nil shows none and allows no change.
	Triage TriageStore
	// Authorize reports whether an API token may sign in; nil: nobody can
	// (a read-only console).
	Authorize func(token string) bool
	// RequireSignIn keeps the alerts from anyone not signed in (the page
	// then shows only the sign-in form): set it when the service's own
	// alerts API requires a token.
	RequireSignIn bool
	// SessionKey signs session cookies and CSRF tokens: at least 32
	// bytes, the same on every worker (KV.SessionKey).
	SessionKey []byte
	// Rules describes rules by id (description, author, ...).
	Rules map[string]web.RuleInfo
	// Title is shown in the header.
	Title string
	// Recent is the number of alerts a page loads (0: 10,000).
	Recent int
	// SessionTTL is how long a sign-in lasts (0: 12 hours).
	SessionTTL time.Duration
	// Logger receives errors; nil discards them.
	Logger *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Handler is the console.
type Handler struct {
	opts Options
	mux  *http.ServeMux
	log  *slog.Logger
	done chan struct{}
	once sync.Once
	// failures slows down token guessing at sign-in.
	failures failures
}

// Close ends every open event stream (http.Server.Shutdown waits for
// them otherwise); the pages reconnect to whichever console is up.
func (h *Handler) Close() error {
	h.once.Do(func() { close(h.done) })
	return nil
}

// New returns the console handler. It serves / (the page), /api/alerts,
// /api/stream, /api/triage/{id}, /login and /logout, relative to where it
// is mounted at the root.
func New(opts Options) (*Handler, error) {
	if opts.Source == nil {
		return nil, errors.New("console: no alert source")
	}
	if opts.Authorize != nil && len(opts.SessionKey) < 32 {
		return nil, errors.New("console: the session key must have at least 32 bytes")
	}
	if opts.Recent <= 0 {
		opts.Recent = 10_000
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 12 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Title == "" {
		opts.Title = "live console"
	}
	h := &Handler{opts: opts, mux: http.NewServeMux(), log: opts.Logger, done: make(chan struct{})}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.mux.HandleFunc("GET /{$}", h.page)
	h.mux.HandleFunc("GET /api/alerts", h.alerts)
	h.mux.HandleFunc("GET /api/stream", h.stream)
	h.mux.HandleFunc("POST /api/triage/{id}", h.setTriage)
	h.mux.HandleFunc("POST /login", h.login)
	h.mux.HandleFunc("POST /logout", h.logout)
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", web.CSP(web.ModeConsole)+"; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	p := web.Page{Mode: web.ModeConsole, Title: "vigil " + h.opts.Title, Heading: h.opts.Title, NoSignIn: h.opts.Authorize == nil}
	if s, ok := h.session(r); ok {
		p.User, p.CSRF = s.user, h.csrf(s.cookie)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var buf bytes.Buffer
	if err := web.WritePage(&buf, p, nil); err != nil {
		h.log.Error("console page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Write(buf.Bytes())
}

// item is an alert as the API sends it.
type item struct {
	ID      string             `json:"id"`
	Alert   json.RawMessage    `json:"alert"`
	Triage  *Triage            `json:"triage,omitempty"`
	AdvInfo *advisory.Advisory `json:"advisory_info,omitempty"`
}

func compact(b []byte) json.RawMessage {
	if bytes.IndexByte(b, '\n') < 0 {
		return b
	}
	var out bytes.Buffer
	if json.Compact(&out, b) != nil {
		return b
	}
	return out.Bytes()
}

func advisoryOf(raw []byte) *advisory.Advisory {
	var a struct {
		Advisory string `json:"advisory"`
	}
	if json.Unmarshal(raw, &a) != nil || a.Advisory == "" {
		return nil
	}
	return advisory.Get(a.Advisory)
}

// mayRead reports whether the request may read alerts, answering 401 when
// not.
func (h *Handler) mayRead(w http.ResponseWriter, r *http.Request) bool {
	if !h.opts.RequireSignIn {
		return true
	}
	if _, ok := h.session(r); ok {
		return true
	}
	http.Error(w, "sign in to see the alerts", http.StatusUnauthorized)
	return false
}

func (h *Handler) alerts(w http.ResponseWriter, r *http.Request) {
	if !h.mayRead(w, r) {
		return
	}
	recs, err := h.opts.Source.Recent(r.Context(), h.opts.Recent)
	if err != nil {
		h.log.Error("console: recent alerts", "err", err)
		http.Error(w, "cannot read alerts", http.StatusBadGateway)
		return
	}
	var states map[string]Triage
	if h.opts.Triage != nil {
		if states, err = h.opts.Triage.List(r.Context()); err != nil {
			h.log.Error("console: triage list", "err", err)
		}
	}
	out := struct {
		Title      string                        `json:"title"`
		Alerts     []item                        `json:"alerts"`
		Advisories map[string]*advisory.Advisory `json:"advisories"`
		Rules      map[string]web.RuleInfo       `json:"rules"`
		Triage     bool                          `json:"triage"`
	}{Title: h.opts.Title, Alerts: make([]item, 0, len(recs)), Advisories: map[string]*advisory.Advisory{},
		Rules: h.opts.Rules, Triage: h.opts.Triage != nil}
	for _, rec := range recs {
		it := item{ID: rec.ID, Alert: compact(rec.Alert)}
		if t, ok := states[rec.ID]; ok {
			it.Triage = &t
		}
		if a := advisoryOf(rec.Alert); a != nil {
			out.Advisories[a.ID] = a
		}
		out.Alerts = append(out.Alerts, it)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// keepalive is the interval of SSE comments that keep proxies from
// closing an idle stream.
const keepalive = 15 * time.Second

func (h *Handler) stream(w http.ResponseWriter, r *http.Request) {
	if !h.mayRead(w, r) {
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	alerts, err := h.opts.Source.Subscribe(ctx)
	if err != nil {
		h.log.Error("console: subscribe", "err", err)
		http.Error(w, "cannot follow alerts", http.StatusBadGateway)
		return
	}
	var triage <-chan Triage
	if h.opts.Triage != nil {
		if triage, err = h.opts.Triage.Watch(ctx); err != nil {
			h.log.Error("console: triage watch", "err", err)
		}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, ": vigil console\n\n")
	fl.Flush()
	tick := time.NewTicker(keepalive)
	defer tick.Stop()
	send := func(event string, v any) bool {
		b, err := json.Marshal(v)
		if err != nil {
			return true
		}
		if _, err := io.WriteString(w, "event: "+event+"\ndata: "+string(b)+"\n\n"); err != nil {
			return false
		}
		fl.Flush()
		return true
	}
	for {
		select {
		case rec, ok := <-alerts:
			if !ok {
				return // cut off or closed: the page reconnects
			}
			if !send("alert", item{ID: rec.ID, Alert: compact(rec.Alert), AdvInfo: advisoryOf(rec.Alert)}) {
				return
			}
		case t, ok := <-triage:
			if !ok {
				triage = nil
				continue
			}
			if !send("triage", t) {
				return
			}
		case <-tick.C:
			if _, err := io.WriteString(w, ": keepalive\n\n"); err != nil {
				return
			}
			fl.Flush()
		case <-ctx.Done():
			return
		case <-h.done:
			return
		}
	}
}

func (h *Handler) setTriage(w http.ResponseWriter, r *http.Request) {
	s, ok := h.session(r)
	if !ok {
		http.Error(w, "sign in to change a triage state", http.StatusUnauthorized)
		return
	}
	if !h.sameOrigin(r) || !h.csrfOK(r, s, r.Header.Get("X-Vigil-CSRF")) {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	if h.opts.Triage == nil {
		http.Error(w, "no triage store", http.StatusNotFound)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		http.Error(w, "want application/json", http.StatusUnsupportedMediaType)
		return
	}
	var in struct {
		State string `json:"state"`
		Note  string `json:"note"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&in); err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	t := Triage{ID: r.PathValue("id"), State: in.State, Note: in.Note, Who: s.user, When: h.opts.Now().UTC()}
	if err := t.Validate(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := h.opts.Triage.Set(r.Context(), t); err != nil {
		h.log.Error("console: triage set", "id", t.ID, "err", err)
		http.Error(w, "cannot store the triage state", http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(t)
}
