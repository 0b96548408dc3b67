package advisory

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/vigil-detect/vigil/event"
)

// stateProcess is a recorded start with every field, including those a
// Process does not show in alerts.
type stateProcess struct {
	Time        time.Time    `json:"t"`
	Host        string       `json:"host,omitempty"`
	GUID        string       `json:"guid,omitempty"`
	PID         string       `json:"pid,omitempty"`
	ParentGUID  string       `json:"pguid,omitempty"`
	ParentPID   string       `json:"ppid,omitempty"`
	Image       string       `json:"image,omitempty"`
	CommandLine string       `json:"cmd,omitempty"`
	User        string       `json:"user,omitempty"`
	Source      event.Source `json:"src"`
}

type enricherState struct {
	Starts  []stateProcess `json:"starts"`
	Dropped int            `json:"dropped"`
}

// MarshalState encodes the recorded process starts, so that a service
// restarting after a crash (vigil serve) shows the same ancestry as
// without the crash.
func (en *Enricher) MarshalState() ([]byte, error) {
	en.mu.Lock()
	defer en.mu.Unlock()
	st := enricherState{Dropped: en.Dropped, Starts: make([]stateProcess, 0, en.n)}
	add := func(p *Process) {
		st.Starts = append(st.Starts, stateProcess{p.Time, p.Host, p.GUID, p.PID, p.ParentGUID, p.ParentPID, p.Image, p.CommandLine, p.User, p.Source})
	}
	keys := make([]string, 0, len(en.byGUID))
	for k := range en.byGUID {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(en.byGUID[k])
	}
	keys = keys[:0]
	for k := range en.byPID {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, p := range en.byPID[k] {
			add(p)
		}
	}
	return json.Marshal(&st)
}

// UnmarshalState replaces the recorded starts with those MarshalState
// wrote.
func (en *Enricher) UnmarshalState(data []byte) error {
	var st enricherState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("advisory state: %w", err)
	}
	en.mu.Lock()
	en.byGUID, en.byPID, en.n, en.Dropped = map[string]*Process{}, map[string][]*Process{}, 0, 0
	en.mu.Unlock()
	for _, s := range st.Starts {
		en.Record(Process{Time: s.Time, Host: s.Host, GUID: s.GUID, PID: s.PID, ParentGUID: s.ParentGUID, ParentPID: s.ParentPID,
			Image: s.Image, CommandLine: s.CommandLine, User: s.User, Source: s.Source})
	}
	en.mu.Lock()
	en.Dropped = st.Dropped
	en.mu.Unlock()
	return nil
}

// Len returns the number of process starts recorded.
func (en *Enricher) Len() int {
	en.mu.Lock()
	defer en.mu.Unlock()
	return en.n
}

// Prune forgets the process starts older than before, for a service that
// runs without end (vigil serve keeps a window of event time). It returns
// how many were forgotten.
func (en *Enricher) Prune(before time.Time) int {
	en.mu.Lock()
	defer en.mu.Unlock()
	n := 0
	for k, p := range en.byGUID {
		if p.Time.Before(before) {
			delete(en.byGUID, k)
			n++
		}
	}
	for k, l := range en.byPID {
		i := 0
		for i < len(l) && l[i].Time.Before(before) {
			i++
		}
		switch {
		case i == len(l):
			delete(en.byPID, k)
		case i > 0:
			en.byPID[k] = append(l[:0:0], l[i:]...)
		}
		n += i
	}
	en.n -= n
	return n
}
