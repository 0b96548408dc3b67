package streams_test

import (
	"context"
	"fmt"
	"os"

	"github.com/vigil-detect/vigil/serve/broker"
	"github.com/vigil-detect/vigil/serve/streams"
)

// Ensure creates the streams the first time and checks them afterwards;
// a different partition count for the existing stream is refused.
func ExampleEnsure() {
	dir, _ := os.MkdirTemp("", "vigil-example-")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	b, err := broker.Start(ctx, broker.Options{DataDir: dir}) // embedded, no listener
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()

	info, _ := streams.Ensure(ctx, b.JS, streams.Options{Partitions: 8})
	fmt.Println("created", info.Created, "partitions", info.Partitions)
	info, _ = streams.Ensure(ctx, b.JS, streams.Options{})
	fmt.Println("created", info.Created, "partitions", info.Partitions)
	_, err = streams.Ensure(ctx, b.JS, streams.Options{Partitions: 16})
	fmt.Println(err)
	// Output:
	// created [VIGIL_EVENTS VIGIL_ALERTS] partitions 8
	// created [] partitions 8
	// stream VIGIL_EVENTS exists with a different configuration (not changed): partitions: stream has 8, --partitions asks 16 (fixed when the stream is created); start with the stream's values or edit the stream
}
