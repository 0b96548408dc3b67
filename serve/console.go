package serve

import "github.com/nats-io/nats.go/jetstream"

// JetStream is the running server's JetStream client, for what runs beside
// serve on the same NATS (the live console's triage bucket and alerts
// feed); nil before Start.
func (s *Server) JetStream() jetstream.JetStream {
	if s == nil || s.broker == nil {
		return nil
	}
	return s.broker.JS
}
