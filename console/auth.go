package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// CookieName is the session cookie.
const CookieName = "vigil_session"

// MaxUser bounds the name an analyst signs in with.
const MaxUser = 64

type session struct {
	user   string
	cookie string // the cookie value, which the CSRF token is bound to
}

var b64 = base64.RawURLEncoding

func (h *Handler) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, h.opts.SessionKey)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// newCookie makes a session value: user, expiry and their MAC.
func (h *Handler) newCookie(user string, exp time.Time) string {
	u := b64.EncodeToString([]byte(user))
	e := strconv.FormatInt(exp.Unix(), 10)
	return u + "." + e + "." + b64.EncodeToString(h.mac("session", u, e))
}

// session returns the request's valid session, if any.
func (h *Handler) session(r *http.Request) (session, bool) {
	if h.opts.Authorize == nil {
		return session{}, false
	}
	c, err := r.Cookie(CookieName)
	if err != nil {
		return session{}, false
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 3 {
		return session{}, false
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, h.mac("session", parts[0], parts[1])) {
		return session{}, false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || h.opts.Now().Unix() > exp {
		return session{}, false
	}
	user, err := b64.DecodeString(parts[0])
	if err != nil {
		return session{}, false
	}
	return session{user: string(user), cookie: c.Value}, true
}

// csrf is the anti-CSRF token of a session: a MAC of its cookie, which
// only a page of the console's origin can read (it is in the page).
func (h *Handler) csrf(cookie string) string { return b64.EncodeToString(h.mac("csrf", cookie)) }

func (h *Handler) csrfOK(_ *http.Request, s session, token string) bool {
	return token != "" && hmac.Equal([]byte(token), []byte(h.csrf(s.cookie)))
}

// sameOrigin reports whether a request comes from a page of the console's
// own origin: its Origin names this host, or, without Origin (or with
// "null", which a browser sends for a form under the page's no-referrer
// policy), the browser says Sec-Fetch-Site: same-origin. A request with
// neither is refused.
func (h *Handler) sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
	}
	return r.Header.Get("Sec-Fetch-Site") == "same-origin"
}

func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

// login signs an analyst in: form fields user and token.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if !h.sameOrigin(r) {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	if h.opts.Authorize == nil {
		http.Error(w, "this console is read-only: no API token can sign in", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	user := strings.TrimSpace(r.PostFormValue("user"))
	token := r.PostFormValue("token")
	if user == "" || len(user) > MaxUser || !utf8.ValidString(user) {
		http.Error(w, "a name of 1 to 64 characters is required", http.StatusBadRequest)
		return
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if h.failures.blocked(host, h.opts.Now()) {
		http.Error(w, "too many failed sign-ins: wait a minute", http.StatusTooManyRequests)
		return
	}
	if token == "" || !h.opts.Authorize(token) {
		h.failures.add(host, h.opts.Now())
		h.log.Warn("console: sign-in refused", "user", user, "remote", r.RemoteAddr)
		http.Error(w, "sign-in refused: wrong API token", http.StatusUnauthorized)
		return
	}
	exp := h.opts.Now().Add(h.opts.SessionTTL)
	h.setCookie(w, r, h.newCookie(user, exp), int(h.opts.SessionTTL.Seconds()))
	http.Redirect(w, r, "./", http.StatusSeeOther)
}

// logout ends the session: form field csrf.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	s, ok := h.session(r)
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if ok && (!h.sameOrigin(r) || !h.csrfOK(r, s, r.PostFormValue("csrf"))) {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	h.setCookie(w, r, "", -1)
	http.Redirect(w, r, "./", http.StatusSeeOther)
}

// Failed sign-ins allowed per client address and minute; beyond, sign-in
// answers 429 until the minute is over.
const maxFailures = 10

// failures counts failed sign-ins per client address over a minute, to
// slow down guessing tokens. It holds at most 10,000 addresses (then it
// starts over).
type failures struct {
	mu sync.Mutex
	m  map[string]*failCount
}

type failCount struct {
	n     int
	since time.Time
}

func (f *failures) blocked(addr string, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.m[addr]
	return c != nil && now.Sub(c.since) < time.Minute && c.n >= maxFailures
}

func (f *failures) add(addr string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil || len(f.m) >= 10_000 {
		f.m = map[string]*failCount{}
	}
	c := f.m[addr]
	if c == nil || now.Sub(c.since) >= time.Minute {
		c = &failCount{since: now}
		f.m[addr] = c
	}
	c.n++
}
