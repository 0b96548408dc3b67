// Command sigmabench runs vigil and github.com/markuskont/go-sigma-rule-engine
// v0.3.0 side by side on the SigmaHQ Windows rules and the OTRF JSON Lines
// events of the shared corpus, and prints a table:
//
//   - rules loaded and failed by each engine;
//   - matches per rule over the distinct events, and the rules where the
//     engines disagree;
//   - engine-only throughput: events already decoded into each engine's
//     input type, matched on 1 and on 2 cores (vigil: one shared engine;
//     the peer: one rule set per core);
//   - end to end: `vigil hunt --format jsonl --rules RULES FILE` against a
//     peer harness that reads the same file, decodes each line with
//     encoding/json and matches it, on the same number of cores.
//
// Every measurement is repeated -runs times, interleaving the engines, and
// the table gives the median and the vigil/peer ratio. Run it from bench/:
//
//	go run ./sigma/cmd/sigmabench -events 1000000
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigil-detect/vigil/bench/reporoot"
	sb "github.com/vigil-detect/vigil/bench/sigma"
)

type options struct {
	corpus, rules, events, repo string
	workload                    string
	n, peerN, defaultSample     int64
	compareDefault              bool
	runs                        int
	cores                       string
	huntCores                   int
	diff                        int
	examples                    bool
	skipCompare, skipEngine     bool
	skipHunt, keep              bool
	write                       string
}

func main() {
	var o options
	var peerHunt string
	var peerRouted bool
	flag.StringVar(&o.corpus, "corpus", "", "shared corpus folder (default: $VIGIL_CORPUS or ../shared/corpus beside the repository)")
	flag.StringVar(&o.rules, "rules", "", "rules folder (default: CORPUS/sigma/rules/windows)")
	flag.StringVar(&o.workload, "workload", "evtx", "distinct events: \"evtx\" flattens every record of the corpus's EVTX samples (evtx-attack-samples, hayabusa-sample-evtx) into a flat JSON object; \"otrf\" reads the OTRF JSON Lines (-otrf)")
	flag.StringVar(&o.events, "otrf", "", "glob of the JSON Lines event files of the otrf workload (default: CORPUS/otrf/*/host/*.json)")
	flag.StringVar(&o.repo, "repo", "", "vigil repository root, to build vigil from (default: found from the working directory)")
	flag.Int64Var(&o.n, "events", 1_000_000, "events per vigil measurement, and in the end-to-end file (the distinct events are replicated)")
	flag.Int64Var(&o.peerN, "peer-events", 0, "events per peer measurement, the first ones of the same sequence (default: two passes over the distinct events)")
	flag.Int64Var(&o.defaultSample, "peer-default-sample", 1_500, "distinct events (every k-th) for the 1-core run of the peer with its default whitespace collapsing; 0 skips it")
	flag.BoolVar(&o.compareDefault, "compare-default", false, "also compare matches with the peer's default configuration (slow: about 6 minutes)")
	flag.IntVar(&o.runs, "runs", 3, "repetitions of each measurement")
	flag.StringVar(&o.cores, "cores", "1,2", "core counts for the engine-only measurements")
	flag.IntVar(&o.huntCores, "hunt-cores", 2, "cores (GOMAXPROCS and workers) for the end-to-end measurement")
	flag.IntVar(&o.diff, "diff", 25, "rules with differing match counts to list (-1: all)")
	flag.BoolVar(&o.examples, "examples", false, "print, for each listed rule, an event matched by one engine only")
	flag.BoolVar(&o.skipCompare, "skip-compare", false, "skip the per-rule match comparison")
	flag.BoolVar(&o.skipEngine, "skip-engine", false, "skip the engine-only measurements")
	flag.BoolVar(&o.skipHunt, "skip-hunt", false, "skip the end-to-end measurements")
	flag.StringVar(&o.write, "write", "", "only write the -events replicated events of the workload to this JSON Lines file (for profiling vigil hunt on it) and exit")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary folder (replicated events, vigil binary, alerts)")
	flag.StringVar(&peerHunt, "peer-hunt", "", "internal: run the peer's end-to-end harness on this file and print its result as JSON")
	flag.BoolVar(&peerRouted, "peer-routed", false, "internal: with -peer-hunt, dispatch each event to its log-source group of rules")
	flag.Parse()

	if peerHunt != "" {
		res, err := sb.PeerHunt(o.rules, peerHunt, o.huntCores, true, peerRouted, o.peerN)
		if err != nil {
			fatal(err)
		}
		json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	if err := run(o); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "sigmabench:", err)
	os.Exit(1)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtRate(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.1fk", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}

func fmtRates(xs []float64) string {
	var parts []string
	for _, x := range xs {
		parts = append(parts, fmtRate(x))
	}
	return strings.Join(parts, " ")
}

func run(o options) error {
	if o.corpus == "" {
		o.corpus = sb.CorpusDir()
		if o.corpus == "" && (o.rules == "" || o.events == "") {
			return errors.New("shared corpus not found: set VIGIL_CORPUS or use -corpus")
		}
	}
	if o.rules == "" {
		o.rules = sb.DefaultRules(o.corpus)
	}
	if o.events == "" {
		o.events = sb.DefaultEvents(o.corpus)
	}
	var cores []int
	for f := range strings.SplitSeq(o.cores, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || k < 1 {
			return fmt.Errorf("-cores: bad core count %q", f)
		}
		cores = append(cores, k)
	}
	maxCores := slices.Max(cores)

	fmt.Printf("machine: %d CPUs (%s), GOMAXPROCS %d, %s %s/%s\n", runtime.NumCPU(), cpuModel(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("rules:   %s\n", o.rules)
	var ev *sb.Events
	var err error
	switch o.workload {
	case "evtx":
		ev, err = sb.LoadEVTXEvents(sb.DefaultEVTX(o.corpus))
		o.events = "EVTX records flattened: " + strings.Join(sb.DefaultEVTX(o.corpus), ", ")
	case "otrf":
		ev, err = sb.LoadEvents(o.events)
	default:
		err = fmt.Errorf("-workload: %q is neither evtx nor otrf", o.workload)
	}
	if err != nil {
		return err
	}
	if o.write != "" {
		return ev.WriteReplicated(o.write, o.n)
	}
	if o.peerN <= 0 {
		o.peerN = 2 * int64(len(ev.Lines))
	}
	o.peerN = min(o.peerN, o.n)
	fmt.Printf("events:  %d distinct events, %.1f MB, from %d files (%s); %d events per vigil measurement, %d per peer measurement\n",
		len(ev.Lines), float64(ev.Bytes)/1e6, len(ev.Files), o.events, o.n, o.peerN)
	fmt.Printf("peer:    go-sigma-rule-engine v0.3.0 with NoCollapseWS: true (its fastest configuration) unless marked \"default\";\n")
	fmt.Printf("         \"peer routed\": rules grouped by log source with vigil's log-source table, each event dispatched to its group by channel and event id, one rule set per core (how its users run it);\n")
	fmt.Printf("         \"peer unrouted\": every rule tested on every event\n\n")

	v, err := sb.LoadVigil(o.rules)
	if err != nil {
		return err
	}
	peers := make([]*sb.Peer, max(maxCores, 1))
	for i := range peers {
		if peers[i], err = sb.LoadPeer(o.rules, true); err != nil {
			return err
		}
	}
	p := peers[0]
	var pd *sb.Peer
	if o.defaultSample > 0 || o.compareDefault {
		if pd, err = sb.LoadPeer(o.rules, false); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "RULES\tfiles\tloaded\tfailed\tnot run\tload time\t")
	fmt.Fprintf(tw, "vigil\t%d\t%d\t%d\t%d unmapped log source\t%s\t\n", v.Files, v.Loaded, v.Failed, v.Unrouted, v.Load.Round(time.Millisecond))
	fmt.Fprintf(tw, "peer\t%d\t%d\t%d\t%d unsupported\t%s\t\n", p.Total, p.Ok, p.Failed, p.Unsupported, p.Load.Round(time.Millisecond))
	tw.Flush()
	fmt.Println()

	if !o.skipCompare {
		if err := compare(o, v, p, ev, ""); err != nil {
			return err
		}
		if o.compareDefault {
			if err := compare(o, v, pd, ev, " (peer in its default configuration)"); err != nil {
				return err
			}
		}
	}
	if !o.skipEngine {
		engineOnly(o, v, peers, pd, ev, cores)
	}
	if !o.skipHunt {
		if err := endToEnd(o, ev); err != nil {
			return err
		}
	}
	return nil
}

// procCPU returns the user plus system CPU seconds of a finished command.
func procCPU(cmd *exec.Cmd) float64 {
	if cmd.ProcessState == nil {
		return 0
	}
	return (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for l := range strings.SplitSeq(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func compare(o options, v *sb.Vigil, p *sb.Peer, ev *sb.Events, what string) error {
	c, err := sb.Compare(v, p, ev.Lines)
	if err != nil {
		return err
	}
	fmt.Printf("MATCHES over the %d distinct events%s (the peer ignores log sources: \"true\" keeps its matches on events the rule's log source covers, by vigil's mapping)\n", c.Events, what)
	tw := tabwriter.NewWriter(os.Stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "\tmatches\ttrue matches\trules with a true match\t")
	fmt.Fprintf(tw, "vigil\t%d\t%d\t%d\t\n", c.Vigil, c.Vigil, c.RulesVigil)
	fmt.Fprintf(tw, "peer\t%d\t%d\t%d\t\n", c.PeerRaw, c.PeerTrue, c.RulesPeer)
	tw.Flush()
	fmt.Printf("rules matched by either: %d; same true count %d, vigil more %d, peer more %d\n\n", len(c.Rules), c.Equal, c.MoreVigil, c.MorePeer)

	var diff []*sb.RuleCount
	for _, r := range c.Rules {
		if r.Differs() || r.PeerRaw != r.PeerTrue {
			diff = append(diff, r)
		}
	}
	if len(diff) == 0 || o.diff == 0 {
		return nil
	}
	fmt.Println("RULES WHERE THE ENGINES DIFFER (true counts differ, or the peer matched outside the log source)")
	tw = tabwriter.NewWriter(os.Stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "rule id\tvigil\tpeer true\tpeer raw\tloaded by\ttitle\t")
	for i, r := range diff {
		if o.diff > 0 && i == o.diff {
			fmt.Fprintf(tw, "... %d more (-diff -1 lists all)\t\t\t\t\t\t\n", len(diff)-i)
			break
		}
		loaded := "both"
		switch {
		case !r.InPeer:
			loaded = "vigil only"
		case !r.InVigil:
			loaded = "peer only"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t\n", r.ID, r.Vigil, r.PeerTrue, r.PeerRaw, loaded, r.Title)
	}
	tw.Flush()
	fmt.Println()
	if o.examples {
		for i, r := range diff {
			if o.diff > 0 && i == o.diff {
				break
			}
			fmt.Printf("%s  %s\n  %s\n", r.ID, r.Title, r.Path)
			show := func(what string, k int) {
				if k >= 0 {
					l := ev.Lines[k]
					if len(l) > 600 {
						l = append(l[:600:600], "..."...)
					}
					fmt.Printf("  %s (event %d): %s\n", what, k, l)
				}
			}
			show("vigil only", r.VigilOnly)
			show("peer only", r.PeerOnly)
			show("peer, outside the log source", r.PeerOffSource)
		}
		fmt.Println()
	}
	return nil
}

func engineOnly(o options, v *sb.Vigil, peers []*sb.Peer, pd *sb.Peer, ev *sb.Events, cores []int) {
	fmt.Printf("ENGINE ONLY: pre-decoded events, %d per vigil run, %d per peer run, %d runs; events/s of matching alone\n", o.n, o.peerN, o.runs)
	fmt.Printf("(vigil re-decodes its events, untimed, before each pass over the distinct events, so that its per-event lower-case cache starts cold)\n")
	tw := tabwriter.NewWriter(os.Stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "engine\tcores\tevents/run\truns (events/s)\tmedian events/s\tmedian events/CPU-s\tallocs/event\tmatches/run\tvigil/this (events/s)\tvigil/this (events/CPU-s)\t")
	for _, k := range cores {
		var vr, vc, va []float64
		var vm int64
		type peerRuns struct {
			r, c, a []float64
			m       int64
		}
		var pr [2]peerRuns // routed, unrouted
		for range o.runs {
			r := sb.RunVigil(v, ev.Lines, o.n, k)
			vr, vc, va, vm = append(vr, r.EventsPerSec()), append(vc, r.EventsPerCPUSec()), append(va, r.AllocsPerEvent()), r.Matches
			for i, routed := range []bool{true, false} {
				q, err := sb.RunPeer(peers, ev.Lines, o.peerN, k, routed)
				if err != nil {
					fatal(err)
				}
				p := &pr[i]
				p.r, p.c, p.a, p.m = append(p.r, q.EventsPerSec()), append(p.c, q.EventsPerCPUSec()), append(p.a, q.AllocsPerEvent()), q.Matches
			}
		}
		fmt.Fprintf(tw, "vigil\t%d\t%d\t%s\t%s\t%s\t%.2f\t%d\t\t\t\n", k, o.n, fmtRates(vr), fmtRate(median(vr)), fmtRate(median(vc)), median(va), vm)
		for i, name := range []string{"peer routed", "peer unrouted"} {
			p := pr[i]
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%.2f\t%d\t%.1fx\t%.1fx\t\n", name, k, o.peerN, fmtRates(p.r), fmtRate(median(p.r)), fmtRate(median(p.c)), median(p.a), p.m, median(vr)/median(p.r), median(vc)/median(p.c))
		}
	}
	if pd != nil && o.defaultSample > 0 {
		// The default configuration is hundreds of times slower: one pass,
		// on one core, over every k-th distinct event.
		stride := max(1, (len(ev.Lines)+int(o.defaultSample)-1)/int(o.defaultSample))
		var sample [][]byte
		for i := 0; i < len(ev.Lines); i += stride {
			sample = append(sample, ev.Lines[i])
		}
		vq := sb.RunVigil(v, sample, int64(len(sample)), 1)
		q, err := sb.RunPeer([]*sb.Peer{pd}, sample, int64(len(sample)), 1, false)
		if err != nil {
			fatal(err)
		}
		fmt.Fprintf(tw, "vigil (same sample)\t1\t%d\t%s\t%s\t%s\t%.2f\t%d\t\t\t\n", len(sample), fmtRate(vq.EventsPerSec()), fmtRate(vq.EventsPerSec()), fmtRate(vq.EventsPerCPUSec()), vq.AllocsPerEvent(), vq.Matches)
		fmt.Fprintf(tw, "peer unrouted default (every %dth event)\t1\t%d\t%s\t%s\t%s\t%.2f\t%d\t%.0fx\t%.0fx\t\n", stride, len(sample), fmtRate(q.EventsPerSec()), fmtRate(q.EventsPerSec()), fmtRate(q.EventsPerCPUSec()), q.AllocsPerEvent(), q.Matches, vq.EventsPerSec()/q.EventsPerSec(), vq.EventsPerCPUSec()/q.EventsPerCPUSec())
	}
	tw.Flush()
	fmt.Println()
}

type huntRun struct {
	events  int64
	cpu     float64 // CPU seconds of the process (user + system), loading included
	wall    time.Duration
	inner   float64 // events/s reported by the program, rule loading excluded
	load    float64 // seconds of rule loading (peer) or wall - pipeline (vigil)
	loadCPU float64 // CPU seconds of start-up and rule loading: the peer's own figure; vigil's from runs on an empty file
	matches int64
	byRule  map[string]int64
}

func endToEnd(o options, ev *sb.Events) error {
	repo, err := reporoot.Find(o.repo)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "sigmabench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Printf("temporary folder kept: %s\n", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	bin := filepath.Join(tmp, "vigil")
	build := exec.Command("go", "build", "-o", bin, "./cmd/vigil")
	build.Dir, build.Stdout, build.Stderr = repo, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building vigil: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	data := filepath.Join(tmp, "events.jsonl")
	if err := ev.WriteReplicated(data, o.n); err != nil {
		return err
	}
	st, _ := os.Stat(data)
	alerts := filepath.Join(tmp, "alerts.jsonl")
	env := append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", o.huntCores))
	fmt.Printf("END TO END on %d cores: %d events, %.0f MB of JSON Lines (%s, page-cached; the peer reads its first %d lines), %d runs\n", o.huntCores, o.n, float64(st.Size())/1e6, data, o.peerN, o.runs)
	fmt.Printf("  vigil: GOMAXPROCS=%d %s hunt --format jsonl --summary-json summary.json --rules %s %s > alerts.jsonl\n", o.huntCores, bin, o.rules, data)
	fmt.Printf("  peer:  GOMAXPROCS=%d %s -peer-hunt %s -peer-events %d -hunt-cores %d -rules %s [-peer-routed]\n", o.huntCores, self, data, o.peerN, o.huntCores, o.rules)

	runVigil := func() (huntRun, error) {
		out, err := os.Create(alerts)
		if err != nil {
			return huntRun{}, err
		}
		defer out.Close()
		var stderr bytes.Buffer
		summary := filepath.Join(tmp, "summary.json")
		cmd := exec.Command(bin, "hunt", "--format", "jsonl", "--summary-json", summary, "--rules", o.rules, data)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, out, &stderr
		start := time.Now()
		err = cmd.Run()
		wall := time.Since(start)
		if err != nil {
			return huntRun{}, fmt.Errorf("vigil hunt: %v\n%s", err, stderr.String())
		}
		var sum struct {
			Events struct {
				Read      int64   `json:"read"`
				PerSecond float64 `json:"per_second"`
			} `json:"events"`
			ElapsedSeconds float64 `json:"elapsed_seconds"`
		}
		if data, err := os.ReadFile(summary); err != nil {
			return huntRun{}, err
		} else if err := json.Unmarshal(data, &sum); err != nil {
			return huntRun{}, fmt.Errorf("vigil hunt summary: %w", err)
		}
		if sum.Events.Read != o.n {
			return huntRun{}, fmt.Errorf("vigil hunt read %d events, want %d", sum.Events.Read, o.n)
		}
		r := huntRun{events: o.n, wall: wall, byRule: map[string]int64{}, inner: sum.Events.PerSecond, load: wall.Seconds() - sum.ElapsedSeconds, cpu: procCPU(cmd)}
		if _, err := out.Seek(0, io.SeekStart); err != nil {
			return r, err
		}
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 256<<20)
		for sc.Scan() {
			var a struct {
				Rule struct {
					ID string `json:"id"`
				} `json:"rule"`
			}
			if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
				return r, fmt.Errorf("alerts: %w", err)
			}
			r.byRule[a.Rule.ID]++
			r.matches++
		}
		return r, sc.Err()
	}
	runPeer := func(routed bool) (huntRun, error) {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(self, "-peer-hunt", data, "-peer-events", strconv.FormatInt(o.peerN, 10), "-hunt-cores", strconv.Itoa(o.huntCores), "-rules", o.rules, "-peer-routed="+strconv.FormatBool(routed))
		cmd.Env, cmd.Stdout, cmd.Stderr = env, &stdout, &stderr
		start := time.Now()
		err := cmd.Run()
		wall := time.Since(start)
		if err != nil {
			return huntRun{}, fmt.Errorf("peer harness: %v\n%s", err, stderr.String())
		}
		var res sb.HuntResult
		if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
			return huntRun{}, fmt.Errorf("peer harness output: %w", err)
		}
		cpu := procCPU(cmd)
		return huntRun{events: res.Events, wall: wall, cpu: cpu, loadCPU: cpu - res.MatchCPU, inner: float64(res.Events) / res.MatchSec, load: res.LoadSec, matches: res.True, byRule: res.Rule}, nil
	}
	// vigil's start-up and rule loading, in CPU time: the same command on
	// an empty file.
	empty := filepath.Join(tmp, "empty.jsonl")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		return err
	}
	var emptyCPU []float64
	for range o.runs {
		cmd := exec.Command(bin, "hunt", "--format", "jsonl", "--rules", o.rules, empty)
		cmd.Env = env
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("vigil hunt on an empty file: %v", err)
		}
		emptyCPU = append(emptyCPU, procCPU(cmd))
	}
	vigilLoadCPU := median(emptyCPU)

	var vs, rs, us []huntRun
	for i := range o.runs {
		r, err := runVigil()
		if err != nil {
			return err
		}
		r.loadCPU = vigilLoadCPU
		vs = append(vs, r)
		q, err := runPeer(true)
		if err != nil {
			return err
		}
		rs = append(rs, q)
		u, err := runPeer(false)
		if err != nil {
			return err
		}
		us = append(us, u)
		fmt.Printf("  run %d: vigil %s wall, %.1f CPU-s (%s events/s in its pipeline); peer routed %s wall, %.1f CPU-s (%s events/s after loading); peer unrouted %s wall, %.1f CPU-s (%s events/s after loading)\n",
			i+1, r.wall.Round(10*time.Millisecond), r.cpu, fmtRate(r.inner), q.wall.Round(10*time.Millisecond), q.cpu, fmtRate(q.inner), u.wall.Round(10*time.Millisecond), u.cpu, fmtRate(u.inner))
	}
	type stats struct{ wallRate, inner, wall, load, cpuRate, innerCPU float64 }
	stat := func(rs []huntRun) stats {
		var wallRate, inner, wall, load, cpuRate, innerCPU []float64
		for _, r := range rs {
			cpuRate = append(cpuRate, float64(r.events)/r.cpu)
			innerCPU = append(innerCPU, float64(r.events)/(r.cpu-r.loadCPU))
			wallRate = append(wallRate, float64(r.events)/r.wall.Seconds())
			inner = append(inner, r.inner)
			wall = append(wall, r.wall.Seconds())
			load = append(load, r.load)
		}
		return stats{median(wallRate), median(inner), median(wall), median(load), median(cpuRate), median(innerCPU)}
	}
	v, pr, pu := stat(vs), stat(rs), stat(us)
	tw := tabwriter.NewWriter(os.Stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "engine\tevents\tmedian wall\tevents/s (wall)\tstartup+load\tevents/s (after loading)\tevents/CPU-s (whole process)\tevents/CPU-s (after loading)\ttrue matches\t")
	fmt.Fprintf(tw, "vigil hunt\t%d\t%.2fs\t%s\t%.2fs\t%s\t%s\t%s\t%d\t\n", o.n, v.wall, fmtRate(v.wallRate), v.load, fmtRate(v.inner), fmtRate(v.cpuRate), fmtRate(v.innerCPU), vs[0].matches)
	for _, p := range []struct {
		name string
		st   stats
		runs []huntRun
	}{{"peer routed", pr, rs}, {"peer unrouted", pu, us}} {
		fmt.Fprintf(tw, "%s\t%d\t%.2fs\t%s\t%.2fs\t%s\t%s\t%s\t%d\t\n", p.name, p.runs[0].events, p.st.wall, fmtRate(p.st.wallRate), p.st.load, fmtRate(p.st.inner), fmtRate(p.st.cpuRate), fmtRate(p.st.innerCPU), p.runs[0].matches)
	}
	fmt.Fprintf(tw, "vigil/peer routed\t\t\t%.1fx\t\t%.1fx\t%.1fx\t%.1fx\t\t\n", v.wallRate/pr.wallRate, v.inner/pr.inner, v.cpuRate/pr.cpuRate, v.innerCPU/pr.innerCPU)
	fmt.Fprintf(tw, "vigil/peer unrouted\t\t\t%.1fx\t\t%.1fx\t%.1fx\t%.1fx\t\t\n", v.wallRate/pu.wallRate, v.inner/pu.inner, v.cpuRate/pu.cpuRate, v.innerCPU/pu.innerCPU)
	fmt.Printf("(vigil's start-up and rule loading: %.2f CPU-s, median of %d runs on an empty file; the peer's: its process CPU before matching)\n", vigilLoadCPU, o.runs)
	tw.Flush()
	fmt.Printf("true matches per 1000 events: vigil %.2f, peer routed %.2f, peer unrouted %.2f (the engine-only runs over the same event sequences give the same counts)\n\n",
		1000*float64(vs[0].matches)/float64(vs[0].events), 1000*float64(rs[0].matches)/float64(rs[0].events), 1000*float64(us[0].matches)/float64(us[0].events))
	return nil
}
