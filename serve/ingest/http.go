package ingest

import (
	"bytes"
	"compress/gzip"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultMaxBody is the default largest request body, after
// decompression.
const DefaultMaxBody = 16 << 20

// bodyTimeout bounds the reading of one request's body.
const bodyTimeout = 2 * time.Minute

// Tokens are the bearer tokens a request may carry. An empty set accepts
// every request (serve only allows that on loopback or with --insecure).
type Tokens struct {
	mu     sync.RWMutex
	tokens [][]byte
}

// NewTokens returns a token set.
func NewTokens(tokens []string) *Tokens {
	t := &Tokens{}
	t.Set(tokens)
	return t
}

// Set replaces the tokens.
func (t *Tokens) Set(tokens []string) {
	var b [][]byte
	for _, s := range tokens {
		if s = strings.TrimSpace(s); s != "" {
			b = append(b, []byte(s))
		}
	}
	t.mu.Lock()
	t.tokens = b
	t.mu.Unlock()
}

// Empty reports whether there is no token (no authentication).
func (t *Tokens) Empty() bool {
	if t == nil {
		return true
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.tokens) == 0
}

// Allow reports whether r carries a valid "Authorization: Bearer TOKEN"
// header, or whether there are no tokens. Every token is compared, in
// constant time, whatever matches.
func (t *Tokens) Allow(r *http.Request) bool {
	if t.Empty() {
		return true
	}
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := []byte(strings.TrimSpace(tok))
	t.mu.RLock()
	defer t.mu.RUnlock()
	match := 0
	for _, want := range t.tokens {
		match |= subtle.ConstantTimeCompare(got, want)
	}
	return match == 1
}

// HTTP serves POST /v1/events.
type HTTP struct {
	Publisher *Publisher
	Tokens    *Tokens
	// MaxBody bounds a request's body, compressed and decompressed (0:
	// DefaultMaxBody).
	MaxBody int64
	Metrics *Metrics
	Logger  *slog.Logger
	// RetryAfter is the Retry-After of a 503 (0: 1s).
	RetryAfter time.Duration
	// MaxInFlight bounds the requests read and stored at once (0: 4 per
	// CPU); the others wait, their bodies unread, so that memory stays
	// bounded by MaxInFlight times MaxBody.
	MaxInFlight int

	once sync.Once
	sem  chan struct{}
}

// Reply is the body of a 200 answer.
type Reply struct {
	Accepted int        `json:"accepted"`
	Rejected []Rejected `json:"rejected"`
	// RejectedTotal counts every rejected event; Rejected lists at most
	// the first 1000.
	RejectedTotal int `json:"rejected_total"`
}

var (
	readers = sync.Pool{New: func() any { return newHostReader() }}
	bodies  = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

func (h *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cw := &codeWriter{ResponseWriter: w, code: http.StatusOK}
	defer func() { h.Metrics.Requests.WithLabelValues(strconv.Itoa(cw.code)).Inc() }()
	h.serve(cw, r)
}

// codeWriter remembers the status code of an answer.
type codeWriter struct {
	http.ResponseWriter
	code int
}

func (c *codeWriter) WriteHeader(code int) {
	c.code = code
	c.ResponseWriter.WriteHeader(code)
}

func (c *codeWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (h *HTTP) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		httpError(w, http.StatusMethodNotAllowed, "POST JSON events here")
		return
	}
	if !h.Tokens.Allow(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
		httpError(w, http.StatusUnauthorized, "a valid Authorization: Bearer token is required")
		return
	}
	max := h.MaxBody
	if max <= 0 {
		max = DefaultMaxBody
	}
	if r.ContentLength > max {
		httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", max))
		return
	}
	h.once.Do(func() {
		n := h.MaxInFlight
		if n <= 0 {
			n = 4 * runtime.GOMAXPROCS(0)
		}
		h.sem = make(chan struct{}, n)
	})
	select {
	case h.sem <- struct{}{}:
		defer func() { <-h.sem }()
	case <-r.Context().Done():
		return
	}
	// A slow sender may not hold a request slot forever (the server has no
	// overall read timeout: the alerts stream is long-lived).
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyTimeout))
	var body io.Reader = http.MaxBytesReader(w, r.Body, max)
	compressed := false
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			if tooLarge(err) {
				httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", max))
				return
			}
			httpError(w, http.StatusBadRequest, "gzip: "+err.Error())
			return
		}
		defer zr.Close()
		body, compressed = zr, true
	default:
		httpError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Encoding %q: only gzip is accepted", enc))
		return
	}
	// Read it all first: a body found too large half-way must not have
	// been stored in part.
	buf := bodies.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 2*DefaultMaxBody {
			bodies.Put(buf)
		}
	}()
	if r.ContentLength > 0 && !compressed {
		buf.Grow(int(min(r.ContentLength, max)) + 1)
	}
	_, err := buf.ReadFrom(io.LimitReader(body, max+1))
	data := buf.Bytes()
	if err != nil {
		if tooLarge(err) {
			httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", max))
			return
		}
		httpError(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	if int64(len(data)) > max {
		httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes once decompressed", max))
		return
	}
	received := time.Now()
	hr := readers.Get().(*hostReader)
	b := h.Publisher.NewBatch()
	rejected, nrej, err := b.readRecords(hr, bytes.NewReader(data), "http")
	readers.Put(hr)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	m := h.Metrics
	m.Received.WithLabelValues("http").Add(float64(b.Len() + nrej))
	m.Rejected.WithLabelValues("http").Add(float64(nrej))
	start := time.Now()
	if err := b.Publish(r.Context(), "http "+r.RemoteAddr, received); err != nil {
		m.Refused.WithLabelValues("http").Add(float64(b.Len()))
		if h.Logger != nil {
			h.Logger.Warn("http ingest: storing failed, answering 503", "events", b.Len(), "remote", r.RemoteAddr, "err", err)
		}
		ra := h.RetryAfter
		if ra <= 0 {
			ra = time.Second
		}
		w.Header().Set("Retry-After", fmt.Sprint(int((ra+time.Second-1)/time.Second)))
		httpError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	m.Store.WithLabelValues("http").Observe(time.Since(start).Seconds())
	m.Accepted.WithLabelValues("http").Add(float64(b.Len()))
	if rejected == nil {
		rejected = []Rejected{}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(Reply{Accepted: b.Len(), Rejected: rejected, RejectedTotal: nrej})
}

func tooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
