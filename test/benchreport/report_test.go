// SPDX-License-Identifier: GPL-2.0-or-later

package benchreport

import (
	"bytes"
	"encoding/xml"
	"io"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func series(v ...float64) Series { return Series{Values: v} }

// sample is a small run: TCP on two paths, UDP where ours fails, latency,
// startup and memory.
func sample() *Results {
	r := &Results{
		Date:     time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC),
		Machine:  Machine{CPU: "Test CPU", Cores: 2, MemoryMiB: 24000, Kernel: "6.1", CongestionControl: "bbr", LoadStart: "0.5", LoadEnd: "0.7"},
		Settings: Settings{Runs: 3, Seconds: 2, Streams: 1, RRSeconds: 1, StartupRuns: 10, UDPLenMTU1500: 1472, UDPLenMTU64K: 65000},
		Versions: []Version{{Tool: "passt-go", Version: "x"}, {Tool: "iperf3", Version: "3.12"}},
	}
	r.Throughput = []Throughput{
		{Proto: ProtoTCP, Path: LoopbackPath, Tool: Loopback, Gbps: series(20, 19, 21), CPU: series(0.8, 0.7, 0.9)},
		{Proto: ProtoTCP, Path: TapNsToHost, MTU: 65520, Tool: Ours, Gbps: series(0.05, 2.5, 0.04)},
		{Proto: ProtoTCP, Path: TapNsToHost, MTU: 65520, Tool: Upstream, Gbps: series(1, 2, 3)},
		{Proto: ProtoTCP, Path: TapNsToHost, MTU: 65520, Tool: Slirp, Gbps: series(4, 4.5, 5)},
		{Proto: ProtoTCP, Path: SpliceHostToNs, MTU: 1500, Tool: Ours, Gbps: series(19.5, 19.6, 19.4), CPU: series(0.78, 0.8, 0.76)},
		{Proto: ProtoTCP, Path: SpliceHostToNs, MTU: 1500, Tool: Upstream, Gbps: series(18, 18, 18), CPU: series(1.25)},
		{Proto: ProtoUDP, Path: LoopbackPath, Len: 1472, Tool: Loopback, Gbps: series(3, 3, 3)},
		{Proto: ProtoUDP, Path: TapHostToNs, MTU: 1500, Len: 1472, Tool: Ours, Gbps: Series{Error: "pasta: UDP not supported yet"}},
		{Proto: ProtoUDP, Path: TapHostToNs, MTU: 1500, Len: 1472, Tool: Upstream, Gbps: series(0.9, 1.1, 1)},
	}
	r.Latency = []Latency{
		{Kind: KindTCPRR, Path: LoopbackPath, Tool: Loopback, US: series(20, 21, 19)},
		{Kind: KindTCPRR, Path: TapNsToHost, Tool: Ours, US: series(60, 61, 59)},
		{Kind: KindTCPRR, Path: TapNsToHost, Tool: Upstream, US: series(100, 101, 99)},
		{Kind: KindTCPCRR, Path: TapNsToHost, Tool: Ours, US: series(300)},
		{Kind: KindTCPCRR, Path: TapNsToHost, Tool: Upstream, US: series(200)},
	}
	r.Startup = []Startup{{Tool: Ours, MS: series(10, 12)}, {Tool: Upstream, MS: series(20, 22)}}
	r.Memory = []Memory{
		{Kind: MemoryIdle, Mode: "pasta", Tool: Ours, MiB: series(9)},
		{Kind: MemoryIdle, Mode: "pasta", Tool: Upstream, MiB: series(12)},
	}
	return r
}

func TestSeriesStatistics(t *testing.T) {
	for _, c := range []struct {
		in            []float64
		med, min, max float64
	}{
		{nil, 0, 0, 0},
		{[]float64{5}, 5, 5, 5},
		{[]float64{3, 1, 2}, 2, 1, 3},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4},
	} {
		s := series(c.in...)
		if s.Median() != c.med || s.Min() != c.min || s.Max() != c.max {
			t.Errorf("%v: median %v min %v max %v, want %v %v %v", c.in, s.Median(), s.Min(), s.Max(), c.med, c.min, c.max)
		}
	}
	s := series(3, 1, 2)
	s.Median()
	if !reflect.DeepEqual(s.Values, []float64{3, 1, 2}) {
		t.Errorf("Median reordered the runs: %v", s.Values)
	}
}

func TestFormatValue(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 123.4: "123", 19.26: "19.3", 2.345: "2.35", 0.0456: "0.046", 0.00123: "0.0012"} {
		if got := FormatValue(v); got != want {
			t.Errorf("FormatValue(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := sample().WriteMarkdown(&b, "bench-tcp.svg", "bench-udp.svg"); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"Test CPU (2 cores, 24000 MiB), kernel 6.1, TCP congestion control bbr; load average 0.5",
		"Ceiling, the host's loopback (iperf3 on 127.0.0.1): **20.0** [19.0–21.0]",
		// Ours, Debian, slirp4netns, ours/Debian, ours/loopback.
		"| tap ns→host | 65520 | **0.050** [0.040–2.50] | **2.00** [1.00–3.00] | **4.50** [4.00–5.00] | 0.03 | 0.00 |",
		"| splice host→ns | 1500 | **19.5** [19.4–19.6] | **18.0** [18.0–18.0] | – | 1.08 | 0.97 |",
		// UDP: ours n/a with the reason as a footnote.
		"| tap host→ns | 1500 | n/a<sup>1</sup> | **1.00** [0.900–1.10] | – | – | – |",
		"1. pasta: UDP not supported yet",
		// Latency: overhead 40 against 80, ratio 0.5.
		"| TCP RR | tap ns→host | **60.0** [59.0–61.0] | **100** [99.0–101] | – | **20.0** [19.0–21.0] | 40.0 | 80.0 | 0.50 |",
		"| `pasta --config-net -- true`, ms per run (10 runs) | **11.0** [10.0–12.0] | **21.0** [20.0–22.0] | – | 0.52 |",
		"| idle RSS of pasta, MiB | **9.00** | **12.0** | – | 0.75 |",
		"![TCP throughput per path and MTU](bench-tcp.svg)",
		// CPU per GB: the loopback's 0.8 s on 2 CPUs is a limit of 20
		// Gbit/s; ours at 0.78 s, 20.5 Gbit/s, 1.03 of the loopback's 20.
		"(the loopback itself: **0.800** [0.700–0.900] s per GB, a limit of 20.0 Gbit/s against the 20.0 it reached)",
		"| splice host→ns | 1500 | **0.780** [0.760–0.800] | **1.25** | – | 0.62 | 20.5 | 1.03 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "guest→host") {
		t.Errorf("report has rows that were not measured:\n%s", md)
	}
}

func TestTargets(t *testing.T) {
	got := map[string]Target{}
	for _, tg := range sample().Targets() {
		got[tg.Name] = tg
	}
	for name, want := range map[string]string{
		"pasta tap TCP ≥ Debian's, both directions and MTUs":          "**not met**", // 0.05 against 2
		"pasta splice TCP ≥ 90% of loopback":                          "met",         // 19.5 of 20
		"pasta splice TCP ≥ 95% of loopback":                          "met",         // 97.5%
		"passt (shim guest) TCP ≥ Debian's, both directions and MTUs": "n/a",
		"stable: slowest TCP run ≥ 80% of the median, every path":     "**not met**", // 0.04 against 0.05
		"request-response overhead over loopback ≤ half of Debian's":  "met",         // 40 against 80
		"connection setup (CRR) no slower than Debian's":              "**not met**", // 300 against 200
		"RSS idle and under load no larger than Debian's":             "met",
		"startup no slower than Debian's":                             "met",
	} {
		tg, ok := got[name]
		if !ok {
			t.Errorf("no target %q", name)
			continue
		}
		if tg.Status != want {
			t.Errorf("%s: %s (%s), want %s", name, tg.Status, tg.Detail, want)
		}
	}
	if d := got["pasta splice TCP ≥ 95% of loopback"].Detail; d != "splice host→ns MTU 1500: 98% (its CPU time per GB allows 103% at most)" {
		t.Errorf("splice detail %q", d)
	}

	// Faster than the loopback: met, and no ratio of overheads printed.
	r := sample()
	r.Latency[1].US = series(15, 16, 14)
	for _, tg := range r.Targets() {
		if strings.HasPrefix(tg.Name, "request-response") && (tg.Status != "met" || !strings.Contains(tg.Detail, "no slower than the loopback")) {
			t.Errorf("below the loopback: %+v", tg)
		}
	}
	var b bytes.Buffer
	r.WriteMarkdown(&b, "", "")
	if !strings.Contains(b.String(), "| -5.00 | 80.0 | – |") {
		t.Errorf("negative overhead row:\n%s", b.String())
	}

	// Ours missing where the reference has a figure is a miss, not a pass.
	r = sample()
	r.Throughput[1].Gbps = Series{Error: "stalled"}
	for _, tg := range r.Targets() {
		if strings.HasPrefix(tg.Name, "pasta tap TCP ≥ Debian") && (tg.Status != "**not met**" || !strings.Contains(tg.Detail, "stalled")) {
			t.Errorf("missing figure: %+v", tg)
		}
	}
}

// bars parses the chart and returns the value of each bar by tool, the
// height of each bar, and the number of "n/a" labels.
func bars(t *testing.T, svg []byte) (values map[string][]float64, heights map[float64]float64, na int) {
	t.Helper()
	values, heights = map[string][]float64{}, map[float64]float64{}
	d := xml.NewDecoder(bytes.NewReader(svg))
	inText := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed XML: %v\n%s", err, svg)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			attr := map[string]string{}
			for _, a := range e.Attr {
				attr[a.Name.Local] = a.Value
			}
			inText = e.Name.Local == "text"
			if e.Name.Local == "rect" && attr["class"] == "bar" {
				v, _ := strconv.ParseFloat(attr["data-value"], 64)
				h, _ := strconv.ParseFloat(attr["height"], 64)
				values[attr["data-tool"]] = append(values[attr["data-tool"]], v)
				heights[v] = h
			}
		case xml.CharData:
			if inText && string(e) == "n/a" {
				na++
			}
		case xml.EndElement:
			inText = false
		}
	}
	return values, heights, na
}

func TestSVG(t *testing.T) {
	r := sample()
	svg := r.SVG(ProtoTCP)
	values, heights, na := bars(t, svg)
	want := map[string][]float64{Ours: {0.05, 19.5}, Upstream: {2, 18}, Slirp: {4.5}}
	if !reflect.DeepEqual(values, want) {
		t.Errorf("bars %v, want %v", values, want)
	}
	if na != 0 {
		t.Errorf("%d n/a labels in the TCP chart", na)
	}
	// Log scale: taller for larger, and a decade is a constant height.
	if !(heights[0.05] < heights[2] && heights[2] < heights[4.5] && heights[4.5] < heights[18] && heights[18] < heights[19.5]) {
		t.Errorf("bar heights not in the order of the values: %v", heights)
	}
	if c := bytes.Count(svg, []byte(`class="ceiling"`)); c != 2 {
		t.Errorf("%d ceiling lines, want one per group (2)", c)
	}

	_, _, na = bars(t, r.SVG(ProtoUDP))
	if na != 1 {
		t.Errorf("UDP chart: %d n/a labels, want 1 (ours)", na)
	}
	r.Throughput = nil
	if r.SVG(ProtoTCP) != nil {
		t.Error("a chart without rows")
	}
}

func TestSaveLoad(t *testing.T) {
	r := sample()
	path := filepath.Join(t.TempDir(), "bench.json")
	if err := r.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("round trip changed the results:\n%+v\n%+v", back, r)
	}
}

// TestSteadiness: the probe's summary in the header, a footnote on a
// figure with runs set aside, and what those runs would have made of the
// stability target.
func TestSteadiness(t *testing.T) {
	r := sample()
	r.Throughput[4].Gbps.SetAside = []float64{9.8} // splice host→ns 1500, median 19.5
	r.Steadiness = &Steadiness{CPUs: [2]int{0, 1}, IntervalMS: 100, Samples: 1500, MaxWaitSeconds: 30, BaselineNS: 52, ApartFactor: 2, ApartShare: 0.11,
		RunApartLimit: 0.25, Retakes: 3, BudgetSeconds: 900, WaitedSeconds: 42, Runs: 75, RunsSetAside: 10, RunsKeptApart: 1}
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b, "", ""); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"from CPU 0 to CPU 1 and back in 52 ns at best (10th percentile of 1500 samples, one every 100 ms); 11% of the samples took more than 2 times that",
		"waited while the CPUs were apart (42 s in all, 30 s at most each), and a run with more than 25% of its samples so slow was set aside and taken again, 3 times at most, within a budget of 900 s for waits and retakes: 10 of 75 runs were set aside, and 1 run kept although",
		"| splice host→ns | 1500 | **19.5** [19.4–19.6]<sup>1</sup> |",
		"1. Some runs of this figure were set aside and taken again",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	for _, tg := range r.Targets() {
		if strings.HasPrefix(tg.Name, "stable") && !strings.HasSuffix(tg.Detail, "; with the 1 run set aside while the CPUs were apart, splice host→ns MTU 1500 at 50%") {
			t.Errorf("stability detail %q", tg.Detail)
		}
	}

	r.Steadiness = &Steadiness{Error: "cacheprobe: real-time priority (needs root)"}
	b.Reset()
	r.WriteMarkdown(&b, "", "")
	if !strings.Contains(b.String(), "Machine steadiness not checked: cacheprobe: real-time priority (needs root).") {
		t.Errorf("probe error not reported:\n%s", b.String())
	}
}

// TestStabilityApartNote: the stability target names the share of the
// slowest run that the CPUs spent apart, when the series records it.
func TestStabilityApartNote(t *testing.T) {
	s := Series{Values: []float64{10, 7, 10}, Apart: []float64{0, 0.09, 0.02}}
	if a, ok := s.SlowestApart(); !ok || a != 0.09 {
		t.Errorf("SlowestApart = %v, %v; want 0.09, true", a, ok)
	}
	if _, ok := (Series{Values: []float64{10, 7}, Apart: []float64{0}}).SlowestApart(); ok {
		t.Error("SlowestApart with fewer shares than values: ok")
	}
	r := &Results{Throughput: []Throughput{
		{Proto: ProtoTCP, Path: "tap ns→host", MTU: 1500, Tool: Ours, Gbps: s},
		{Proto: ProtoTCP, Path: "tap host→ns", MTU: 1500, Tool: Ours, Gbps: Series{Values: []float64{10, 9, 10}}},
	}}
	for _, tg := range r.Targets() {
		if strings.HasPrefix(tg.Name, "stable") {
			if want := "tap ns→host MTU 1500: slowest at 70% of the median (the CPUs apart for 9% of that run)"; tg.Detail != want {
				t.Errorf("stability detail %q, want %q", tg.Detail, want)
			}
			return
		}
	}
	t.Error("no stability target")
}
