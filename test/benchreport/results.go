// SPDX-License-Identifier: GPL-2.0-or-later

// Package benchreport holds what make bench measured and renders it: the
// results schema (written as JSON, so a report can be rendered again
// without measuring), the statistics of repeated runs, the Markdown report
// with ratios against the references of the same run and the targets of the
// performance issues, and SVG bar charts of throughput per path and MTU.
//
// Theory of operation: every figure is a Series, the values of its runs in
// the order they were taken, or the reason it could not be measured (a tool
// that refuses an option, a path it does not have, a run that failed).
// Reports show the median and the spread (slowest and fastest run) of each
// series; a series with an error is "n/a", with the reason in a footnote,
// so that a tool that cannot do something (our pasta's UDP, for now) shows
// up as such instead of failing the whole benchmark. Nothing here measures:
// test/benchrun does, and fills in Results.
package benchreport

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"
)

// Tools, by the names the results use.
const (
	Ours     = "ours"        // this project's passt/pasta
	Upstream = "debian"      // Debian's passt package (upstream passt/pasta)
	Slirp    = "slirp4netns" // Debian's slirp4netns (pasta-like paths only)
	Loopback = "loopback"    // the host's loopback, no namespace: the ceiling
)

// Paths of the throughput and latency measurements.
const (
	TapNsToHost     = "tap ns→host"    // pasta/slirp4netns: namespace to the host through the tap
	TapHostToNs     = "tap host→ns"    // host to the namespace through the tap (non-loopback source)
	SpliceNsToHost  = "splice ns→host" // pasta -T: namespace loopback to host loopback
	SpliceHostToNs  = "splice host→ns" // pasta -t from the host's loopback
	GuestToHost     = "guest→host"     // passt through the shim guest
	HostToGuest     = "host→guest"     // passt -t into the shim guest
	LoopbackPath    = "loopback"       // iperf3 or benchrr on 127.0.0.1
	KindTCPRR       = "TCP RR"         // request-response on one connection
	KindUDPRR       = "UDP RR"         // request-response with datagrams
	KindTCPCRR      = "TCP CRR"        // connect, request, response, close
	MemoryIdle      = "idle RSS"       // VmRSS one second after start, no traffic
	MemoryPeak      = "peak RSS"       // VmHWM after all throughput runs
	ProtoTCP        = "tcp"
	ProtoUDP        = "udp"
	StartupCommand  = "pasta --config-net -- true"
	unitGbps        = "Gbit/s"
	unitMicrosecond = "µs"
)

// Results is everything one make bench run measured.
type Results struct {
	Date       time.Time    `json:"date"`
	Machine    Machine      `json:"machine"`
	Settings   Settings     `json:"settings"`
	Versions   []Version    `json:"versions"`
	Throughput []Throughput `json:"throughput"`
	Latency    []Latency    `json:"latency"`
	Startup    []Startup    `json:"startup"`
	Memory     []Memory     `json:"memory"`
	Steadiness *Steadiness  `json:"steadiness,omitempty"`
}

// Steadiness is what test/cacheprobe saw while the figures were measured:
// the round trip of a cache line between two CPUs, which grows several
// times over while a hypervisor runs them on cores that share no cache.
// Runs during which that lasted (ApartShare of a run's samples above
// ApartFactor times the baseline, for more than RunApartLimit of the run)
// were set aside and taken again, up to Retakes times per run.
type Steadiness struct {
	CPUs  [2]int `json:"cpus"`
	Error string `json:"error,omitempty"` // why the probe did not run
	// Samples taken, one every IntervalMS, their 10th percentile (the
	// CPUs at their closest) and the share of them above ApartFactor ×
	// BaselineNS.
	IntervalMS  int64   `json:"interval_ms"`
	Samples     int     `json:"samples"`
	BaselineNS  float64 `json:"baseline_ns"`
	ApartFactor float64 `json:"apart_factor"`
	ApartShare  float64 `json:"apart_share"`
	// RunApartLimit is the share of a run's samples that sets it aside.
	RunApartLimit float64 `json:"run_apart_limit"`
	Retakes       int     `json:"retakes"`
	// Before a run the bench waits while the CPUs are apart
	// (MaxWaitSeconds at most); waits and retaken runs come out of a
	// budget of BudgetSeconds.
	MaxWaitSeconds float64 `json:"max_wait_seconds"`
	BudgetSeconds  float64 `json:"budget_seconds"`
	WaitedSeconds  float64 `json:"waited_seconds"`
	// Runs taken (set-aside ones included), runs set aside, and runs kept
	// although the CPUs were apart, because their retakes or the budget
	// ran out.
	Runs          int `json:"runs"`
	RunsSetAside  int `json:"runs_set_aside"`
	RunsKeptApart int `json:"runs_kept_apart"`
}

// Machine describes where the figures come from.
type Machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	MemoryMiB int    `json:"memory_mib"`
	Kernel    string `json:"kernel"`
	// The default TCP congestion control: with BBR, the loopback ceiling
	// is the kernel's own pacing (see docs/profiling.md).
	CongestionControl string `json:"tcp_congestion_control,omitempty"`
	// Load averages at the start and the end: the machine is shared, and
	// a busy neighbour shows up here.
	LoadStart string `json:"load_start"`
	LoadEnd   string `json:"load_end"`
}

// Settings are the knobs of the run.
type Settings struct {
	Runs          int     `json:"runs"`            // runs per figure
	Seconds       float64 `json:"seconds"`         // length of each iperf3 run
	Streams       int     `json:"streams"`         // iperf3 -P
	RRSeconds     float64 `json:"rr_seconds"`      // length of each latency run
	StartupRuns   int     `json:"startup_runs"`    // runs of the startup command
	UDPLenMTU1500 int     `json:"udp_len_mtu1500"` // iperf3 -l at MTU 1500
	UDPLenMTU64K  int     `json:"udp_len_mtu64k"`  // iperf3 -l at MTU 65520
}

// Version names one tool as it ran.
type Version struct {
	Tool    string `json:"tool"`
	Version string `json:"version"`
}

// Series is one figure: the value of each run, or why there is none.
type Series struct {
	Values []float64 `json:"values,omitempty"`
	// Error says why the figure is missing (empty Values) or why runs
	// are missing (fewer Values than runs).
	Error string `json:"error,omitempty"`
	// Warnings are doubts about the runs that did complete, such as a
	// "tap" run whose bytes did not go through the tap.
	Warnings []string `json:"warnings,omitempty"`
	// SetAside are the values of runs that were taken again because the
	// machine's CPUs were apart while they ran (see Steadiness); Values
	// holds the runs that replaced them.
	SetAside []float64 `json:"set_aside,omitempty"`
	// Apart is, for each run of Values in the same order, the share of
	// the cache-line probe's samples during it that had the CPUs apart
	// (see Steadiness); empty when the probe did not run.
	Apart []float64 `json:"apart,omitempty"`
}

// Throughput is one iperf3 figure, in Gbit/s at the receiver.
type Throughput struct {
	Proto string `json:"proto"`
	Path  string `json:"path"`
	MTU   int    `json:"mtu,omitempty"`
	Len   int    `json:"len,omitempty"` // UDP payload per datagram
	Tool  string `json:"tool"`
	Gbps  Series `json:"gbps"`
	// CPU is the machine's CPU time (all CPUs, every process and the
	// kernel) per GB received, in seconds, for the runs kept in Gbps:
	// what moving the data cost, whatever the rate.
	CPU Series `json:"cpu_s_per_gb,omitzero"`
}

// Latency is one request-response figure, in microseconds per transaction.
type Latency struct {
	Kind string `json:"kind"`
	Path string `json:"path"`
	Tool string `json:"tool"`
	US   Series `json:"us"`
}

// Startup is the time of one run of StartupCommand, in milliseconds.
type Startup struct {
	Tool string `json:"tool"`
	MS   Series `json:"ms"`
}

// Memory is a resident set size, in MiB.
type Memory struct {
	Kind string `json:"kind"`
	Tool string `json:"tool"`
	// Mode is the binary's mode ("pasta", "passt", "slirp4netns").
	Mode string `json:"mode"`
	MiB  Series `json:"mib"`
}

// Load reads results written by Save.
func Load(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading results: %w", err)
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("parsing results %s: %w", path, err)
	}
	return &r, nil
}

// Save writes the results as indented JSON.
func (r *Results) Save(path string) error {
	b, err := json.MarshalIndent(r, "", "\t")
	if err != nil {
		return fmt.Errorf("encoding results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	return nil
}

// OK reports whether the series has at least one value.
func (s Series) OK() bool { return len(s.Values) > 0 }

// Median of the values (the mean of the two middle ones for an even
// count); 0 without values.
func (s Series) Median() float64 {
	if len(s.Values) == 0 {
		return 0
	}
	v := slices.Clone(s.Values)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// Min is the smallest value; 0 without values.
func (s Series) Min() float64 {
	if len(s.Values) == 0 {
		return 0
	}
	return slices.Min(s.Values)
}

// SlowestApart is the share of probe samples with the CPUs apart during
// the slowest run, and whether the series records it.
func (s Series) SlowestApart() (float64, bool) {
	if len(s.Values) == 0 || len(s.Apart) != len(s.Values) {
		return 0, false
	}
	return s.Apart[slices.Index(s.Values, s.Min())], true
}

// Max is the largest value; 0 without values.
func (s Series) Max() float64 {
	if len(s.Values) == 0 {
		return 0
	}
	return slices.Max(s.Values)
}

// FindThroughput returns the throughput series for a proto, path, MTU and
// tool, and whether it was measured at all.
func (r *Results) FindThroughput(proto, path string, mtu int, tool string) (Series, bool) {
	for _, t := range r.Throughput {
		if t.Proto == proto && t.Path == path && t.MTU == mtu && t.Tool == tool {
			return t.Gbps, true
		}
	}
	return Series{}, false
}

// FindCPU returns the CPU time per GB of a throughput figure.
func (r *Results) FindCPU(proto, path string, mtu int, tool string) (Series, bool) {
	for _, t := range r.Throughput {
		if t.Proto == proto && t.Path == path && t.MTU == mtu && t.Tool == tool && len(t.CPU.Values) > 0 {
			return t.CPU, true
		}
	}
	return Series{}, false
}

// CPULimit is the rate, in Gbit/s, that a CPU time per GB allows with
// every CPU of the machine moving the data and nothing else; 0 if either
// is not known.
func (r *Results) CPULimit(cpu Series) float64 {
	if r.Machine.Cores <= 0 || cpu.Median() <= 0 {
		return 0
	}
	return 8 * float64(r.Machine.Cores) / cpu.Median()
}

// LoopbackCPU is the CPU time per GB of the loopback ceiling (TCP: length 0).
func (r *Results) LoopbackCPU(proto string, length int) (Series, bool) {
	for _, t := range r.Throughput {
		if t.Proto == proto && t.Tool == Loopback && t.Len == length && len(t.CPU.Values) > 0 {
			return t.CPU, true
		}
	}
	return Series{}, false
}

// LoopbackThroughput is the ceiling for a protocol and UDP payload length
// (0 for TCP).
func (r *Results) LoopbackThroughput(proto string, length int) (Series, bool) {
	for _, t := range r.Throughput {
		if t.Proto == proto && t.Tool == Loopback && t.Len == length {
			return t.Gbps, true
		}
	}
	return Series{}, false
}

// FindLatency returns a latency series.
func (r *Results) FindLatency(kind, path, tool string) (Series, bool) {
	for _, l := range r.Latency {
		if l.Kind == kind && l.Path == path && l.Tool == tool {
			return l.US, true
		}
	}
	return Series{}, false
}

// FindStartup returns a tool's startup series.
func (r *Results) FindStartup(tool string) (Series, bool) {
	for _, s := range r.Startup {
		if s.Tool == tool {
			return s.MS, true
		}
	}
	return Series{}, false
}

// FindMemory returns a memory series.
func (r *Results) FindMemory(kind, mode, tool string) (Series, bool) {
	for _, m := range r.Memory {
		if m.Kind == kind && m.Mode == mode && m.Tool == tool {
			return m.MiB, true
		}
	}
	return Series{}, false
}

// ToolLabel is how reports name a tool.
func ToolLabel(tool string) string {
	switch tool {
	case Ours:
		return "passt-go"
	case Upstream:
		return "Debian passt"
	}
	return tool
}
