package serve_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/vigil-detect/vigil/serve"
	"github.com/vigil-detect/vigil/serve/streams"
)

// TestClusterDoc runs the three-node NATS configuration of docs/serve.md
// ("A three-node NATS cluster") on loopback — addresses, ports and paths
// replaced, nothing else — and a vigil serve on top of it, connected with
// TLS, a password and --nats-ca, creating its streams with three replicas.
func TestClusterDoc(t *testing.T) {
	if testing.Short() {
		t.Skip("three NATS servers: not with -short")
	}
	doc, err := os.ReadFile("../docs/serve.md")
	if err != nil {
		t.Fatal(err)
	}
	_, conf, ok := strings.Cut(string(doc), "```\n# /etc/nats/nats.conf on n1")
	conf = "# /etc/nats/nats.conf on n1" + conf
	conf, _, ok2 := strings.Cut(conf, "```")
	if !ok || !ok2 {
		t.Fatal("no nats.conf block in docs/serve.md")
	}
	dir := t.TempDir()
	ca, caKey := newCert(t, nil, nil, "nats CA", true, nil)
	node, nodeKey := newCert(t, ca, caKey, "nats node", false, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth})
	write := func(name string, b *pem.Block) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, pem.EncodeToMemory(b), 0o600)
		return p
	}
	kb, _ := x509.MarshalECPrivateKey(nodeKey)
	caFile := write("ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	certFile := write("server.pem", &pem.Block{Type: "CERTIFICATE", Bytes: node.Raw})
	keyFile := write("server.key", &pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	t.Setenv("VIGIL_NATS_PASSWORD", "s3cret-pw")

	free := func() int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	var client, route [3]int
	for i := range 3 {
		client[i], route[i] = free(), free()
	}
	var urls []string
	for i := range 3 {
		r := strings.NewReplacer(
			"server_name: n1", fmt.Sprintf("server_name: n%d", i+1),
			"0.0.0.0:4222", fmt.Sprintf("127.0.0.1:%d", client[i]),
			"0.0.0.0:6222", fmt.Sprintf("127.0.0.1:%d", route[i]),
			"nats://n1:6222", fmt.Sprintf("nats://127.0.0.1:%d", route[0]),
			"nats://n2:6222", fmt.Sprintf("nats://127.0.0.1:%d", route[1]),
			"nats://n3:6222", fmt.Sprintf("nats://127.0.0.1:%d", route[2]),
			"/var/lib/nats", filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			"/etc/nats/server.pem", certFile,
			"/etc/nats/server.key", keyFile,
			"/etc/nats/ca.pem", caFile,
		)
		path := filepath.Join(dir, fmt.Sprintf("n%d.conf", i+1))
		os.WriteFile(path, []byte(r.Replace(conf)), 0o600)
		opts, err := server.ProcessConfigFile(path)
		if err != nil {
			t.Fatalf("docs/serve.md's nats.conf: %v", err)
		}
		opts.NoSigs, opts.NoLog = true, true
		s, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		s.Start()
		t.Cleanup(s.Shutdown)
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("node not ready")
		}
		urls = append(urls, fmt.Sprintf("tls://vigil:s3cret-pw@127.0.0.1:%d", client[i]))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	srv, err := serve.Start(ctx, serve.Options{NATSURL: strings.Join(urls, ","), NATSCA: caFile,
		Streams: streams.Options{Replicas: 3}, HTTPAddr: "127.0.0.1:0", NoDetect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	f := &fixture{base: "http://" + srv.HTTPAddr().String()}
	if code, b := f.do(t, "POST", "/v1/events", "", strings.NewReader(`{"Computer":"ws-1","EventID":1}`)); code != 200 {
		t.Errorf("ingest on the cluster: %d %s", code, b)
	}
	// A wrong password is refused by the cluster.
	bad := strings.ReplaceAll(strings.Join(urls, ","), "s3cret-pw", "wrong")
	if s2, err := serve.Start(ctx, serve.Options{NATSURL: bad, NATSCA: caFile, NoDetect: true}); err == nil {
		s2.Shutdown(context.Background())
		t.Error("connected with a wrong password")
	}
}
