// Package engine compiles parsed Sigma rules into an immutable matcher and
// matches events against it.
//
// Compile turns every rule into a tree of closures: values are unescaped,
// folded, encoded (base64, UTF-16, windash) and regular expressions are
// compiled once, at compile time. Rules are routed by log source (and, for
// a log source naming only a channel, by the event ids the detection
// requires), so an event is only tested against the rules that can apply
// to its channel and event id. Matching an event allocates nothing. An *Engine is
// safe for concurrent use by several goroutines, each with its own events.
package engine
