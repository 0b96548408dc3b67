package ingest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/vigil-detect/vigil/serve/broker"
	"github.com/vigil-detect/vigil/serve/ingest"
	"github.com/vigil-detect/vigil/serve/streams"
)

// An HTTP sender gets the count of stored events and the lines it must
// fix; the good lines are stored even when others are bad.
func ExampleHTTP() {
	dir, _ := os.MkdirTemp("", "vigil-example-")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	b, err := broker.Start(ctx, broker.Options{DataDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	info, err := streams.Ensure(ctx, b.JS, streams.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	h := &ingest.HTTP{
		Publisher: ingest.NewPublisher(b.JS, info.Partitions, 0),
		Tokens:    ingest.NewTokens([]string{"s3cret"}),
		Metrics:   ingest.NewMetrics(nil),
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	body := `{"Computer":"ws-1","EventID":1,"Image":"C:\\Windows\\System32\\cmd.exe"}
{"Computer":"ws-1","EventID":3
{"Computer":"dc-1","EventID":4624}
`
	req, _ := http.NewRequest("POST", srv.URL+"/v1/events", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	fmt.Print(resp.StatusCode, " ", string(reply))
	// Output:
	// 200 {"accepted":2,"rejected":[{"line":2,"error":"invalid JSON at byte 31: unterminated object"}],"rejected_total":1}
}
