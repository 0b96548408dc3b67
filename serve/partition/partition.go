// Package partition maps a host name to its partition of the events stream
// and to the NATS subject that ingest publishes its events on, so that
// every event of a host reaches the one detection worker that owns the
// host's partition (docs/serve.md, "The contract").
//
// The partition is FNV-1a (32 bits) of the lower-cased host name, modulo
// the partition count; the subject is vigil.events.<partition>.<token>,
// where the token is the lower-cased host with every byte outside
// [a-z0-9-] replaced by '_' ("_" for an empty host), or MixedToken for a
// message of several hosts. Both are stable: they are part of the on-disk
// contract of the events stream.
package partition

import (
	"strconv"
	"strings"
)

// Prefix starts every subject of the events stream.
const Prefix = "vigil.events."

// Of returns the partition of host among n partitions (n > 0).
func Of(host string, n int) int {
	if n <= 0 {
		panic("partition.Of: partition count must be positive")
	}
	h := uint32(2166136261)
	for i := 0; i < len(host); i++ {
		c := host[i]
		if c >= 0x80 {
			// Non-ASCII: hash the Unicode lower-casing of the whole name.
			return ofLower(strings.ToLower(host), n)
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h ^= uint32(c)
		h *= 16777619
	}
	return int(h % uint32(n))
}

func ofLower(lower string, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(lower); i++ {
		h ^= uint32(lower[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}

// Token returns host as one NATS subject token: lower-cased, every byte
// outside [a-z0-9-] replaced by '_', "_" when host is empty.
func Token(host string) string {
	if host == "" {
		return "_"
	}
	lower := strings.ToLower(host)
	b := []byte(lower)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

// Subject returns the subject that the events of host are published on,
// with n partitions: vigil.events.<Of(host, n)>.<Token(host)>.
func Subject(host string, n int) string {
	return Prefix + strconv.Itoa(Of(host, n)) + "." + Token(host)
}

// MixedToken is the host token of a message that holds the events of
// several hosts of one partition (ingest shares one message among the
// hosts of few events in a batch). Token never returns it: its tokens
// are lower case.
const MixedToken = "MIXED"

// MixedSubject returns the subject of a message holding events of several
// hosts of partition p: vigil.events.<p>.MIXED.
func MixedSubject(p int) string {
	return Prefix + strconv.Itoa(p) + "." + MixedToken
}

// TickToken is the token of a partition's tick subject: detection
// records there how far the event time of a partition gone quiet has
// moved (docs/serve-detection.md). Token never returns it.
const TickToken = "TICK"

// TickSubject returns the tick subject of partition p:
// vigil.events.<p>.TICK.
func TickSubject(p int) string {
	return Prefix + strconv.Itoa(p) + "." + TickToken
}

// Filter returns the subject filter of partition p: vigil.events.<p>.*.
func Filter(p int) string {
	return Prefix + strconv.Itoa(p) + ".*"
}

// Parse reports the partition of a partition subject
// (vigil.events.<p>.<token> with 0 <= p < n). Any other subject of the
// events stream (vigil.events.raw, vigil.events.a.b.c, a partition number
// out of range) is not a partition subject: ok is false, and such events
// are repartitioned by ingest.
func Parse(subject string, n int) (p int, ok bool) {
	rest, found := strings.CutPrefix(subject, Prefix)
	if !found {
		return 0, false
	}
	num, token, found := strings.Cut(rest, ".")
	if !found || token == "" || strings.Contains(token, ".") {
		return 0, false
	}
	if len(num) == 0 || len(num) > 1 && num[0] == '0' {
		return 0, false
	}
	v, err := strconv.Atoi(num)
	if err != nil || v < 0 || v >= n {
		return 0, false
	}
	return v, true
}
