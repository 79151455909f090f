// SPDX-License-Identifier: GPL-2.0-or-later

package benchreport

import (
	"fmt"
	"math"
)

// Target is one goal of the performance issues, checked against a run. A
// benchmark on a shared machine is no test: the targets are reported, never
// enforced.
type Target struct {
	Name   string
	Source string // the issue that sets it
	Status string // "met", "**not met**" or "n/a"
	Detail string // the worst case
}

// check is one comparison behind a target: score is the figure compared
// with the limit (a ratio, for most), higher is better.
type check struct {
	label   string
	score   float64
	limit   float64
	missing string // non-empty: ours is missing where the reference is not
	note    string // said after the formatted score, if any
}

// verdict reduces the checks of one target to its status and worst case.
func verdict(name, source string, checks []check, format func(check) string) Target {
	t := Target{Name: name, Source: source, Status: "n/a", Detail: "nothing to compare"}
	var worst *check
	for i := range checks {
		c := &checks[i]
		if c.missing != "" {
			t.Status, t.Detail = "**not met**", c.label+": "+c.missing
			return t
		}
		if worst == nil || c.score-c.limit < worst.score-worst.limit {
			worst = c
		}
	}
	if worst == nil {
		return t
	}
	t.Status = "met"
	if worst.score < worst.limit {
		t.Status = "**not met**"
	}
	t.Detail = worst.label + ": " + format(*worst) + worst.note
	return t
}

func pct(c check) string { return fmt.Sprintf("%.0f%%", 100*c.score) }

func times(c check) string { return fmt.Sprintf("%.2f×", c.score) }

// against compares ours with a reference (higher is better): the score is
// ours / reference. A reference without a figure makes no check; ours
// without one where the reference has one is a miss.
func against(label string, ours, ref Series, limit float64) []check {
	switch {
	case !ref.OK() || ref.Median() == 0:
		return nil
	case !ours.OK():
		why := "no figure"
		if ours.Error != "" {
			why = "n/a (" + ours.Error + ")"
		}
		return []check{{label: label, missing: why}}
	}
	return []check{{label: label, score: ours.Median() / ref.Median(), limit: limit}}
}

// lowerAgainst is against for figures where lower is better: the score is
// reference / ours.
func lowerAgainst(label string, ours, ref Series, limit float64) []check {
	switch {
	case !ref.OK():
		return nil
	case !ours.OK():
		return []check{{label: label, missing: "no figure"}}
	case ours.Median() <= 0:
		return []check{{label: label, score: math.Inf(1), limit: limit}}
	}
	return []check{{label: label, score: ref.Median() / ours.Median(), limit: limit}}
}

// Targets checks the floors of issue 5 and the targets of issue 9.
func (r *Results) Targets() []Target {
	var ts []Target
	tapPaths := []string{TapNsToHost, TapHostToNs}
	splicePaths := []string{SpliceNsToHost, SpliceHostToNs}
	loTCP, _ := r.LoopbackThroughput(ProtoTCP, 0)

	each := func(paths []string, f func(path string, mtu int, ours Series) []check) []check {
		var cs []check
		for _, path := range paths {
			for _, mtu := range MTUs {
				ours, ok := r.FindThroughput(ProtoTCP, path, mtu, Ours)
				if !ok {
					continue
				}
				cs = append(cs, f(path, mtu, ours)...)
			}
		}
		return cs
	}
	vsUpstream := func(path string, mtu int, ours Series) []check {
		up, _ := r.FindThroughput(ProtoTCP, path, mtu, Upstream)
		return against(fmt.Sprintf("%s MTU %d", path, mtu), ours, up, 1)
	}
	vsLoopback := func(limit float64) func(string, int, Series) []check {
		return func(path string, mtu int, ours Series) []check {
			cs := against(fmt.Sprintf("%s MTU %d", path, mtu), ours, loTCP, limit)
			// What the path's CPU time per GB allows on this machine
			// (see cpuTable), when it is known.
			cpu, _ := r.FindCPU(ProtoTCP, path, mtu, Ours)
			if l := r.CPULimit(cpu); l > 0 && len(cs) == 1 && cs[0].missing == "" && loTCP.Median() > 0 {
				bound := l / loTCP.Median()
				cs[0].note = fmt.Sprintf(" (its CPU time per GB allows %.0f%% at most)", 100*min(bound, 9.99))
			}
			return cs
		}
	}

	ts = append(ts,
		verdict("pasta tap TCP ≥ Debian's, both directions and MTUs", "issue 5", each(tapPaths, vsUpstream), times),
		verdict("pasta splice TCP ≥ 90% of loopback", "issue 5", each(splicePaths, vsLoopback(0.9)), pct),
		verdict("pasta tap TCP ≥ 50% of loopback", "issue 9", each(tapPaths, vsLoopback(0.5)), pct),
		verdict("pasta splice TCP ≥ 95% of loopback", "issue 9", each(splicePaths, vsLoopback(0.95)), pct),
		verdict("passt (shim guest) TCP ≥ Debian's, both directions and MTUs", "issue 9",
			each([]string{GuestToHost, HostToGuest}, vsUpstream), times),
	)

	// Stability: slowest run against the median, every TCP path of ours.
	var stable []check
	for _, t := range r.Throughput {
		if t.Tool != Ours || t.Proto != ProtoTCP || len(t.Gbps.Values) < 2 || t.Gbps.Median() == 0 {
			continue
		}
		c := check{label: fmt.Sprintf("%s MTU %d", t.Path, t.MTU),
			score: t.Gbps.Min() / t.Gbps.Median(), limit: 0.8}
		if apart, ok := t.Gbps.SlowestApart(); ok {
			c.note = fmt.Sprintf(" (the CPUs apart for %.0f%% of that run)", 100*apart)
		}
		stable = append(stable, c)
	}
	st := verdict("stable: slowest TCP run ≥ 80% of the median, every path", "issue 9", stable,
		func(c check) string { return fmt.Sprintf("slowest at %.0f%% of the median", 100*c.score) })
	st.Detail += r.setAsideDetail()
	ts = append(ts, st)

	// Latency: our overhead over loopback at most half of upstream's.
	var rr, crr []check
	for _, row := range latencyRows {
		ours, ook := r.FindLatency(row.kind, row.path, Ours)
		up, uok := r.FindLatency(row.kind, row.path, Upstream)
		lo, _ := r.FindLatency(row.kind, LoopbackPath, Loopback)
		if !ook || !uok {
			continue
		}
		label := row.kind + " " + row.path
		if row.kind == KindTCPCRR {
			crr = append(crr, lowerAgainst(label, ours, up, 1)...)
			continue
		}
		oo, ou := overhead(ours, lo), overhead(up, lo)
		switch {
		case math.IsNaN(ou) || ou <= 0:
		case !ours.OK():
			rr = append(rr, check{label: label, missing: "n/a"})
		case math.IsNaN(oo):
		case oo <= 0:
			rr = append(rr, check{label: label, score: math.Inf(1), limit: 2})
		default:
			rr = append(rr, check{label: label, score: ou / oo, limit: 2})
		}
	}
	ts = append(ts,
		verdict("request-response overhead over loopback ≤ half of Debian's", "issue 9", rr,
			func(c check) string {
				if math.IsInf(c.score, 1) {
					return "passt-go no slower than the loopback"
				}
				return fmt.Sprintf("Debian's overhead %.2f× ours", c.score)
			}),
		verdict("connection setup (CRR) no slower than Debian's", "issue 9", crr, times))

	// Memory and startup: no larger, no slower than upstream.
	var mem []check
	for _, mode := range []string{"pasta", "passt"} {
		for _, kind := range []string{MemoryIdle, MemoryPeak} {
			ours, ook := r.FindMemory(kind, mode, Ours)
			up, _ := r.FindMemory(kind, mode, Upstream)
			if ook {
				mem = append(mem, lowerAgainst(kind+" of "+mode, ours, up, 1)...)
			}
		}
	}
	ts = append(ts, verdict("RSS idle and under load no larger than Debian's", "issue 9", mem,
		func(c check) string { return fmt.Sprintf("Debian's %.2f× ours", c.score) }))
	var start []check
	if ours, ok := r.FindStartup(Ours); ok {
		up, _ := r.FindStartup(Upstream)
		start = lowerAgainst(StartupCommand, ours, up, 1)
	}
	ts = append(ts, verdict("startup no slower than Debian's", "issue 9", start,
		func(c check) string { return fmt.Sprintf("Debian's time %.2f× ours", c.score) }))
	return ts
}

// setAsideDetail tells the stability target's reader what the runs set
// aside (see Steadiness) would have made of it: the slowest of all our TCP
// runs, set-aside ones included, against its figure's median.
func (r *Results) setAsideDetail() string {
	n, worst, label := 0, math.Inf(1), ""
	for _, t := range r.Throughput {
		if t.Tool != Ours || t.Proto != ProtoTCP || len(t.Gbps.SetAside) == 0 || t.Gbps.Median() == 0 {
			continue
		}
		n += len(t.Gbps.SetAside)
		for _, v := range t.Gbps.SetAside {
			if score := min(v, t.Gbps.Min()) / t.Gbps.Median(); score < worst {
				worst, label = score, fmt.Sprintf("%s MTU %d", t.Path, t.MTU)
			}
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("; with the %s set aside while the CPUs were apart, %s at %.0f%%", plural(n, "run"), label, 100*worst)
}
