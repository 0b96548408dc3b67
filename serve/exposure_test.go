package serve

import (
	"strings"
	"testing"
)

// TestCheckExposure: which addresses need which authentication (checked
// without listening: tests stay on loopback).
func TestCheckExposure(t *testing.T) {
	for _, c := range []struct {
		o        Options
		noTokens bool
		want     string // "" for allowed
	}{
		{Options{HTTPAddr: "127.0.0.1:8470", BeatsAddr: "[::1]:5044"}, true, ""},
		{Options{HTTPAddr: "localhost:8470"}, true, ""},
		{Options{HTTPAddr: "0.0.0.0:8470"}, true, "--http 0.0.0.0:8470 is not a loopback address"},
		{Options{HTTPAddr: ":8470"}, true, "not a loopback address"},
		{Options{HTTPAddr: "0.0.0.0:8470"}, false, ""},
		{Options{HTTPAddr: "0.0.0.0:8470", TLSClientCA: "ca.pem"}, true, ""},
		{Options{HTTPAddr: "0.0.0.0:8470", Insecure: true}, true, ""},
		{Options{BeatsAddr: "10.0.0.5:5044"}, false, "Beats protocol has no tokens"},
		{Options{BeatsAddr: ":5044", TLSClientCA: "ca.pem"}, false, ""},
		{Options{BeatsAddr: ":5044", Insecure: true}, false, ""},
		{Options{BeatsAddr: ":5044", NoIngest: true}, false, ""},
	} {
		err := c.o.checkExposure(c.noTokens)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v, no tokens %v: %v, want %q", c.o, c.noTokens, err, c.want)
		}
	}
}
