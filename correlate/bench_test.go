package correlate_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/vigil-detect/vigil/alert"
	"github.com/vigil-detect/vigil/correlate"
	"github.com/vigil-detect/vigil/sigma"
)

const benchRules = `title: Process start
name: start
logsource: {product: test}
detection:
    sel: {kind: start}
    condition: sel
---
title: Connection
name: conn
logsource: {product: test}
detection:
    sel: {kind: conn}
    condition: sel
---
title: Start then connection
correlation:
    type: temporal_ordered
    rules: [start, conn]
    group-by: [ProcessGuid]
    timespan: 15s
---
title: Many connections
correlation:
    type: event_count
    rules: [conn]
    group-by: [ProcessGuid]
    timespan: 1m
    condition: {gte: 50}
`

func benchSet(b *testing.B) (*correlate.Set, *sigma.Rule, *sigma.Rule) {
	f, set := compileYAML(b, "bench.yml", benchRules)
	return set, f.Rules[0], f.Rules[1]
}

// benchMatches makes n matches over groups processes: each process
// starts, then connects every 100 ms; the stream is in time order.
func benchMatches(start, conn *sigma.Rule, n, groups int) []correlate.Match {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := make([]correlate.Match, n)
	for i := range ms {
		g := i % groups
		r := conn
		if i < groups {
			r = start
		}
		t := base.Add(time.Duration(i) * time.Millisecond)
		ms[i] = correlate.Match{Rule: r, Time: t, Seq: uint64(i), Host: "ws", Event: alert.Event{
			Fields: map[string]any{"ProcessGuid": fmt.Sprintf("{6C1B9A20-4E3D-6405-%04X-000000000F00}", g), "DestinationIp": "185.199.110.153", "Image": `C:\Windows\System32\cmd.exe`},
		}}
	}
	return ms
}

// BenchmarkProcess measures the correlation stage alone: matches of the
// referenced rules, in time order, through a temporal_ordered and an
// event_count correlation.
func BenchmarkProcess(b *testing.B) {
	set, start, conn := benchSet(b)
	for _, groups := range []int{100, 10000} {
		b.Run(fmt.Sprintf("groups=%d", groups), func(b *testing.B) {
			ms := benchMatches(start, conn, 200000, groups)
			b.ReportAllocs()
			b.ResetTimer()
			var alerts int64
			for range b.N {
				p := correlate.NewProcessor(set, correlate.Options{Emit: func(*alert.Alert) { alerts++ }})
				for _, m := range ms {
					p.Process(m)
				}
				p.Flush()
			}
			b.ReportMetric(float64(len(ms))*float64(b.N)/b.Elapsed().Seconds(), "matches/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkOpenGroup measures the memory held per open group: every match
// opens a new group (a process start that no connection follows).
func BenchmarkOpenGroup(b *testing.B) {
	set, start, _ := benchSet(b)
	const n = 50000
	ms := benchMatches(start, start, n, n)
	for i := range ms {
		// All at one instant: no group expires while they are counted.
		ms[i].Time = ms[0].Time
	}
	var perGroup float64
	for range b.N {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		p := correlate.NewProcessor(set, correlate.Options{})
		for _, m := range ms {
			p.Process(m)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		if open := p.Stats().Open; open != n {
			b.Fatalf("%d groups open, want %d", open, n)
		}
		perGroup = float64(m1.HeapAlloc-m0.HeapAlloc) / n
		runtime.KeepAlive(p)
	}
	b.ReportMetric(perGroup, "B/group")
	b.ReportMetric(0, "ns/op")
}
