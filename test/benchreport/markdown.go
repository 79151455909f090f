// SPDX-License-Identifier: GPL-2.0-or-later

package benchreport

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// ThroughputPaths is the order of the throughput rows: pasta's paths, then
// passt's through the shim guest.
var ThroughputPaths = []string{TapNsToHost, TapHostToNs, SpliceNsToHost, SpliceHostToNs, GuestToHost, HostToGuest}

// MTUs measured, largest first.
var MTUs = []int{65520, 1500}

// ChartTools are the tools drawn side by side, with the loopback as a line.
var ChartTools = []string{Ours, Upstream, Slirp}

// latencyRows is the order of the latency rows.
var latencyRows = []struct{ kind, path string }{
	{KindTCPRR, TapNsToHost}, {KindUDPRR, TapNsToHost}, {KindTCPCRR, TapNsToHost},
	{KindTCPRR, SpliceNsToHost}, {KindTCPCRR, SpliceNsToHost},
}

// notes collects the reasons behind "n/a" cells and the warnings, numbered
// in order of first use.
type notes struct {
	texts []string
	index map[string]int
}

func (n *notes) ref(text string) string {
	if n.index == nil {
		n.index = map[string]int{}
	}
	i, ok := n.index[text]
	if !ok {
		n.texts = append(n.texts, text)
		i = len(n.texts)
		n.index[text] = i
	}
	return fmt.Sprintf("<sup>%d</sup>", i)
}

// FormatValue prints a figure with three significant digits at most, and
// no needless zeros.
func FormatValue(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a >= 0.01:
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

// cell is a series as "median [min-max]", or "n/a" with a footnote.
func (n *notes) cell(s Series, present bool) string {
	if !present {
		return "–"
	}
	var b strings.Builder
	if !s.OK() {
		b.WriteString("n/a")
		if s.Error != "" {
			b.WriteString(n.ref(s.Error))
		}
		return b.String()
	}
	b.WriteString("**" + FormatValue(s.Median()) + "**")
	if len(s.Values) > 1 {
		fmt.Fprintf(&b, " [%s–%s]", FormatValue(s.Min()), FormatValue(s.Max()))
	}
	if s.Error != "" {
		b.WriteString(n.ref(s.Error))
	}
	for _, w := range s.Warnings {
		b.WriteString(n.ref(w))
	}
	if len(s.SetAside) > 0 {
		b.WriteString(n.ref(setAsideNote))
	}
	return b.String()
}

// setAsideNote marks a figure with runs taken again.
const setAsideNote = "Some runs of this figure were set aside and taken again: the machine's CPUs were apart while they ran " +
	"(see the machine's steadiness above). bench.json keeps their values (set_aside)."

// steadinessText says what the cache-line probe saw, and which runs it
// made the bench take again.
func (r *Results) steadinessText(b *strings.Builder) {
	st := r.Steadiness
	if st == nil {
		return
	}
	if st.Error != "" {
		fmt.Fprintf(b, "Machine steadiness not checked: %s.\n\n", st.Error)
		return
	}
	fmt.Fprintf(b, "Machine steadiness (test/cacheprobe): a cache line went from CPU %d to CPU %d and back in %.0f ns at best "+
		"(10th percentile of %d samples, one every %d ms); %.0f%% of the samples took more than %g times that, "+
		"as when the hypervisor runs the two vCPUs on cores that share no cache. ",
		st.CPUs[0], st.CPUs[1], st.BaselineNS, st.Samples, st.IntervalMS, 100*st.ApartShare, st.ApartFactor)
	fmt.Fprintf(b, "Before each run the bench waited while the CPUs were apart (%.0f s in all, %.0f s at most each), "+
		"and a run with more than %.0f%% of its samples so slow was set aside and taken again, %s at most, "+
		"within a budget of %.0f s for waits and retakes: %d of %d runs were set aside",
		st.WaitedSeconds, st.MaxWaitSeconds, 100*st.RunApartLimit, plural(st.Retakes, "time"), st.BudgetSeconds, st.RunsSetAside, st.Runs)
	if st.RunsKeptApart > 0 {
		fmt.Fprintf(b, ", and %s kept although the CPUs were apart, its retakes or the budget used up", plural(st.RunsKeptApart, "run"))
	}
	b.WriteString(".\n\n")
}

// ratio of two medians, or "–" when either is missing.
func ratio(a, b Series) string {
	if !a.OK() || !b.OK() || b.Median() == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a.Median()/b.Median())
}

// WriteMarkdown renders the report. chartTCP and chartUDP are the file
// names of the charts to link (empty: none).
func (r *Results) WriteMarkdown(w io.Writer, chartTCP, chartUDP string) error {
	var n notes
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	p("# make bench: passt-go against Debian's passt and slirp4netns\n\n")
	p("Measured %s on %s (%d cores, %d MiB), kernel %s",
		r.Date.Format("2006-01-02 15:04 MST"), r.Machine.CPU, r.Machine.Cores, r.Machine.MemoryMiB, r.Machine.Kernel)
	if cc := r.Machine.CongestionControl; cc != "" {
		p(", TCP congestion control %s", cc)
	}
	p("; load average %s at the start, %s at the end. ", r.Machine.LoadStart, r.Machine.LoadEnd)
	p("Every figure is the **median** of %s, with the slowest and the fastest run in brackets; "+
		"throughput runs last %gs (iperf3 -J, %s, the receiver's rate), latency runs %gs. "+
		"All tools ran side by side in the same run, interleaved run by run, so a busy moment hits them alike.\n\n",
		plural(r.Settings.Runs, "run"), r.Settings.Seconds, plural(r.Settings.Streams, "stream"), r.Settings.RRSeconds)
	r.steadinessText(&b)
	if len(r.Versions) > 0 {
		p("Versions:")
		for i, v := range r.Versions {
			sep := ","
			if i == len(r.Versions)-1 {
				sep = "."
			}
			p(" %s %s%s", v.Tool, v.Version, sep)
		}
		p("\n\n")
	}

	p("## Targets\n\n")
	p("| target | from | status | worst case |\n| --- | --- | --- | --- |\n")
	for _, t := range r.Targets() {
		p("| %s | %s | %s | %s |\n", t.Name, t.Source, t.Status, t.Detail)
	}
	p("\n")

	r.throughputTable(&b, &n, ProtoTCP)
	if chartTCP != "" {
		p("![TCP throughput per path and MTU](%s)\n\n", chartTCP)
	}
	r.cpuTable(&b, &n)
	r.throughputTable(&b, &n, ProtoUDP)
	if chartUDP != "" {
		p("![UDP throughput per path and MTU](%s)\n\n", chartUDP)
	}

	if len(r.Latency) > 0 {
		p("## Request-response latency, µs per transaction (lower is better)\n\n")
		p("One transaction at a time, 1-byte request and response (benchrr, like neper's tcp_rr, udp_rr and tcp_crr); ")
		p("the namespace's client talks to a server on the host's loopback, at MTU 65520; ")
		p("the client runs on CPU 0, the server on CPU 1, the tool wherever the scheduler puts it. ")
		p("Overhead is the median minus the loopback's. It can come out negative: in a VM a CPU kept busy by the tool ")
		p("wakes up faster than an idle one, so a path through a tool is not always slower than the bare loopback.\n\n")
		p("| kind | path | passt-go | Debian passt | slirp4netns | loopback | overhead passt-go | overhead Debian | overhead ratio |\n")
		p("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, row := range latencyRows {
			var cells []string
			any := false
			for _, tool := range []string{Ours, Upstream, Slirp} {
				s, ok := r.FindLatency(row.kind, row.path, tool)
				any = any || ok
				cells = append(cells, n.cell(s, ok))
			}
			if !any {
				continue
			}
			lo, lok := r.FindLatency(row.kind, LoopbackPath, Loopback)
			ours, _ := r.FindLatency(row.kind, row.path, Ours)
			up, _ := r.FindLatency(row.kind, row.path, Upstream)
			oo, ou := overhead(ours, lo), overhead(up, lo)
			p("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", row.kind, row.path, cells[0], cells[1], cells[2],
				n.cell(lo, lok), fmtOpt(oo), fmtOpt(ou), ratioOpt(oo, ou))
		}
		p("\n")
	}

	if len(r.Startup) > 0 || len(r.Memory) > 0 {
		p("## Startup and memory (lower is better)\n\n")
		p("| figure | passt-go | Debian passt | slirp4netns | passt-go ÷ Debian |\n| --- | --- | --- | --- | --- |\n")
		if len(r.Startup) > 0 {
			ours, ook := r.FindStartup(Ours)
			up, uok := r.FindStartup(Upstream)
			p("| `%s`, ms per run (%d runs) | %s | %s | – | %s |\n", StartupCommand, r.Settings.StartupRuns,
				n.cell(ours, ook), n.cell(up, uok), ratio(ours, up))
		}
		for _, mode := range []string{"pasta", "passt"} {
			for _, kind := range []string{MemoryIdle, MemoryPeak} {
				ours, ook := r.FindMemory(kind, mode, Ours)
				up, uok := r.FindMemory(kind, mode, Upstream)
				sl, sok := r.FindMemory(kind, "slirp4netns", Slirp)
				if mode != "pasta" {
					sok = false
				}
				if !ook && !uok {
					continue
				}
				p("| %s of %s, MiB | %s | %s | %s | %s |\n", kind, mode, n.cell(ours, ook), n.cell(up, uok), n.cell(sl, sok), ratio(ours, up))
			}
		}
		p("\nIdle RSS: VmRSS one second after the tool is ready, with no traffic yet. ")
		p("Peak RSS: VmHWM once all throughput runs through that instance (MTU 65520) are done.\n\n")
	}

	if len(n.texts) > 0 {
		p("## Notes\n\n")
		for i, t := range n.texts {
			p("%d. %s\n", i+1, strings.ReplaceAll(t, "\n", " "))
		}
		p("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// throughputTable writes the table of one protocol.
func (r *Results) throughputTable(b *strings.Builder, n *notes, proto string) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	rows := 0
	for _, t := range r.Throughput {
		if t.Proto == proto && t.Tool != Loopback {
			rows++
		}
	}
	if rows == 0 {
		return
	}
	if proto == ProtoTCP {
		p("## TCP throughput, Gbit/s (higher is better)\n\n")
	} else {
		p("## UDP throughput, Gbit/s (higher is better)\n\n")
		p("iperf3 -u -b 0, with %d-byte datagrams at MTU 1500 and %d-byte ones at MTU 65520; the receiver's rate.\n\n",
			r.Settings.UDPLenMTU1500, r.Settings.UDPLenMTU64K)
	}
	for _, l := range []int{0, r.Settings.UDPLenMTU1500, r.Settings.UDPLenMTU64K} {
		if (proto == ProtoTCP) != (l == 0) {
			continue
		}
		if lo, ok := r.LoopbackThroughput(proto, l); ok {
			what := "the host's loopback (iperf3 on 127.0.0.1)"
			if l > 0 {
				what += fmt.Sprintf(" with %d-byte datagrams", l)
			}
			p("Ceiling, %s: %s\n\n", what, n.cell(lo, true))
		}
	}
	p("| path | MTU | passt-go | Debian passt | slirp4netns | passt-go ÷ Debian | passt-go ÷ loopback |\n")
	p("| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, path := range ThroughputPaths {
		for _, mtu := range MTUs {
			ours, ook := r.FindThroughput(proto, path, mtu, Ours)
			up, uok := r.FindThroughput(proto, path, mtu, Upstream)
			sl, sok := r.FindThroughput(proto, path, mtu, Slirp)
			if !ook && !uok && !sok {
				continue
			}
			lo, _ := r.LoopbackThroughput(proto, r.udpLen(proto, mtu))
			p("| %s | %d | %s | %s | %s | %s | %s |\n", path, mtu, n.cell(ours, ook), n.cell(up, uok), n.cell(sl, sok),
				ratio(ours, up), ratio(ours, lo))
		}
	}
	p("\n")
}

// cpuTable writes what each TCP path cost the machine per GB moved. A path
// can move at most as many GB a second as the machine has CPUs over its
// cost (every CPU busy on it and nothing else), so the cost bounds the rate
// whatever the scheduling: the table gives that limit, next to the
// loopback's measured rate, for the paths whose figures fall short of a
// share of it.
func (r *Results) cpuTable(b *strings.Builder, n *notes) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	rows := 0
	for _, t := range r.Throughput {
		if t.Proto == ProtoTCP && len(t.CPU.Values) > 0 {
			rows++
		}
	}
	if rows == 0 || r.Machine.Cores <= 0 {
		return
	}
	loRate, lrok := r.LoopbackThroughput(ProtoTCP, 0)
	p("## TCP: CPU time per GB moved, seconds (lower is better)\n\n")
	p("The machine's CPU time over each kept run (all %d CPUs: both iperf3 ends, the tool, the kernel), ", r.Machine.Cores)
	p("divided by the bytes received. With every CPU busy moving the data and nothing else, ")
	p("a path costing C seconds per GB moves at most %d ÷ C GB a second: the limit below, ", r.Machine.Cores)
	p("against the loopback's measured rate")
	if lo, ok := r.LoopbackCPU(ProtoTCP, 0); ok && lrok {
		p(" (the loopback itself: %s s per GB, a limit of %s Gbit/s against the %s it reached)",
			n.cell(lo, true), FormatValue(r.CPULimit(lo)), FormatValue(loRate.Median()))
	}
	p(".\n\n")
	p("| path | MTU | passt-go | Debian passt | slirp4netns | passt-go ÷ Debian | limit passt-go, Gbit/s | limit ÷ loopback |\n")
	p("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, path := range ThroughputPaths {
		for _, mtu := range MTUs {
			ours, ook := r.FindCPU(ProtoTCP, path, mtu, Ours)
			up, uok := r.FindCPU(ProtoTCP, path, mtu, Upstream)
			sl, sok := r.FindCPU(ProtoTCP, path, mtu, Slirp)
			if !ook && !uok && !sok {
				continue
			}
			lim, share := "–", "–"
			if l := r.CPULimit(ours); ook && l > 0 {
				lim = FormatValue(l)
				if lrok && loRate.Median() > 0 {
					share = fmt.Sprintf("%.2f", l/loRate.Median())
				}
			}
			p("| %s | %d | %s | %s | %s | %s | %s | %s |\n", path, mtu, n.cell(ours, ook), n.cell(up, uok), n.cell(sl, sok),
				ratio(ours, up), lim, share)
		}
	}
	p("\n")
}

// udpLen is the datagram payload used at an MTU (0 for TCP).
func (r *Results) udpLen(proto string, mtu int) int {
	if proto != ProtoUDP {
		return 0
	}
	if mtu <= 1500 {
		return r.Settings.UDPLenMTU1500
	}
	return r.Settings.UDPLenMTU64K
}

// overhead is a latency median minus the loopback's; NaN when either is
// missing.
func overhead(s, lo Series) float64 {
	if !s.OK() || !lo.OK() {
		return math.NaN()
	}
	return s.Median() - lo.Median()
}

func fmtOpt(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return FormatValue(v)
}

// ratioOpt is a/b for two overheads; "–" unless both are positive (a
// path can come out faster than the loopback: see WriteMarkdown).
func ratioOpt(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || a <= 0 || b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a/b)
}
