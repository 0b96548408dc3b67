// Package engine compiles parsed Sigma rules into an immutable matcher and
// matches events against it.
//
// Compile turns every rule into a tree of closures: values are unescaped,
// folded, encoded (base64, UTF-16, windash) and regular expressions are
// compiled once, at compile time. Rules are routed by log source, so an
// event is only tested against the rules whose log source covers its
// channel and event id. Matching an event allocates nothing. An *Engine is
// safe for concurrent use by several goroutines, each with its own events.
package engine
