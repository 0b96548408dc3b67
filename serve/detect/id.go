package detect

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"hash"
	"slices"
	"time"

	"github.com/vigil-detect/vigil/alert"
)

// Alert is an alert as vigil serve publishes it: hunt's alert (the
// contract of docs/alerts.md) with its id first.
type Alert struct {
	ID string `json:"id"`
	*alert.Alert
}

// AlertID returns an alert's id: 32 hexadecimal digits, the first 16 bytes
// of a SHA-256 over
//
//   - the rule type and the rule id;
//   - for correlations, the group (group-by names and values, sorted by
//     name);
//   - for every event of the alert, in order, its timestamp and its fields
//     as canonical JSON (object keys sorted, values as read).
//
// The id depends only on the rule and the events, never on where or when
// they were read (stream sequence, input, partition, worker): the same
// event matched again after a crash, or sent twice by a retrying shipper,
// gives the same id, and a correlation alert is identified by its rule,
// its group and the events of its window (which fix the window's start).
// Two events with equal time and fields are indistinguishable, so their
// detection alerts share an id.
func AlertID(a *alert.Alert) (string, error) {
	h := sha256.New()
	field(h, a.Rule.Type)
	field(h, a.Rule.ID)
	if a.Rule.Type == "correlation" {
		names := make([]string, 0, len(a.Group))
		for k := range a.Group {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			field(h, k)
			field(h, a.Group[k])
		}
	}
	for _, e := range a.Events {
		var ts string
		if e.Timestamp != nil {
			ts = e.Timestamp.UTC().Format(time.RFC3339Nano)
		}
		field(h, ts)
		b, err := json.Marshal(e.Fields)
		if err != nil {
			return "", err
		}
		field(h, string(b))
	}
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// field writes a length-prefixed string, so that fields cannot run into
// each other.
func field(h hash.Hash, s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	h.Write(n[:])
	h.Write([]byte(s))
}
