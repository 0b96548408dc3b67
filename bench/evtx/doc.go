// Package evtx benchmarks vigil's EVTX reader against
// 0xrawsec/golang-evtx: parsing speed in compare_test.go (go test -bench),
// and vigil dump against golang-evtx writing JSON Lines in cmd/dumpbench.
package evtx
