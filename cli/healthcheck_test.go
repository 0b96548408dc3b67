package cli

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHealthcheck(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
	mux.HandleFunc("/notready", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "nats down", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/readyz", http.StatusFound) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/readyz"
	l.Close()
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{srv.URL + "/readyz"}, ExitOK, "200 OK"},
		{[]string{srv.URL + "/notready"}, ExitFailure, "503 Service Unavailable"},
		{[]string{srv.URL + "/redirect"}, ExitFailure, "302 Found"},
		{[]string{"--timeout", "200ms", srv.URL + "/slow"}, ExitFailure, "deadline exceeded"},
		{[]string{closed}, ExitFailure, "refused"},
		{[]string{"ftp://127.0.0.1/readyz"}, ExitUsage, "not an http or https URL"},
		{[]string{}, ExitUsage, "accepts 1 arg"},
	} {
		code, out, stderr := runMain(t, append([]string{"healthcheck"}, tc.args...)...)
		if code != tc.code || !strings.Contains(out+stderr, tc.msg) {
			t.Errorf("healthcheck %v: exit %d, output %q %q; want exit %d and %q", tc.args, code, out, stderr, tc.code, tc.msg)
		}
	}
}
