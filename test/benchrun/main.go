// SPDX-License-Identifier: GPL-2.0-or-later

// Command benchrun is make bench: it measures this project's passt and
// pasta side by side with Debian's passt package (upstream's passt and
// pasta), Debian's slirp4netns and the host's loopback, in one run, and
// writes the results as JSON, a Markdown report and SVG charts (through
// test/benchreport). test/bench.sh installs what it needs and runs it as
// root.
//
// Theory of operation. Each tool connects a guest to the host; an "env" is
// one tool set up once for a phase (see envs.go):
//
//   - pasta (ours, Debian's) attached to a fresh user and network namespace
//     held by an unprivileged "unshare -Urn sleep", as podman and
//     rootlesskit attach it, with --config-net and the MTU under test;
//   - slirp4netns attached the same way, ports forwarded through its API
//     socket;
//   - passt (ours, Debian's) in the foreground, with the test suite's shim
//     as its guest (a network namespace whose tap0 is relayed to passt's
//     socket in QEMU's framing, as test/guest_test.go does);
//   - the loopback: no tool, both ends on the host's 127.0.0.1.
//
// The unprivileged tools run as the benchmark user; commands inside a guest
// run through nsenter into its network namespace. Servers always listen
// on the host's loopback (guest to host: the guest dials its gateway
// address, which every tool maps to the host's loopback, or its own
// loopback for pasta's -T splice) or in the guest (host to guest: the host
// dials its own address for the tap path, 127.0.0.1 for pasta's splice
// path and for passt). Nothing leaves the machine.
//
// A phase starts the envs it needs, then takes run 1 of every figure, run 2
// of every figure, and so on: the tools are interleaved, so that a busy
// moment on a shared machine hits them alike rather than one tool's every
// run. A figure without a single good run is reported "n/a" with the
// reason: an env that could not start (our pasta refuses UDP forwarding
// rules for now: its UDP figures read n/a until UDP lands), a tool that
// died (its exit status is kept), or runs that failed. Failed runs of a
// figure that has good ones are counted in a footnote. For
// tap and splice runs the interface counters of the guest's namespace show
// whether the bytes really took that path; a doubt is a warning in the
// report.
//
// Each iperf3 run also reads the machine's busy CPU time (/proc/stat, all
// CPUs, every process and the kernel) before and after its client: the CPU
// seconds per GB received. On a machine as small as the bench's usual one
// (two CPUs, which the loopback's own two iperf3 processes keep busy), that
// cost bounds a path's rate whatever the scheduling, and the report sets
// each path's bound against the loopback's rate.
//
// The machine itself is watched too (steady.go): test/cacheprobe times a
// cache line between two CPUs every 25 ms, and a run during which the
// hypervisor had them on cores with no cache in common (for more than a
// tenth of the run) is set aside and taken again, for every tool alike;
// the report counts those runs and bench.json keeps their values.
//
// Phases: TCP at MTU 65520 (with the latency and memory figures),
// TCP at MTU 1500, UDP at both (with the MTU's datagram size), then the
// startup time of pasta --config-net -- true.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"passt/test/benchreport"
)

type config struct {
	oursPasta, oursPasst         string
	upstreamPasta, upstreamPasst string
	slirp, shim, benchrr         string
	user                         string
	out                          string
	runs, seconds, streams       int
	rrTime                       time.Duration
	startupRuns                  int
	steadyBudget                 time.Duration
	only                         *regexp.Regexp
	render                       string
}

// bench is one run of the benchmark.
type bench struct {
	cfg       config
	user      *account
	hostAddr  string // the host's own IPv4 address (not loopback)
	usedPorts map[int]bool
	res       *benchreport.Results
	probe     samples // nil: the machine's steadiness is not watched
	// budget is the time left for waiting on the CPUs and for retaking
	// runs (steady.go); maxWait bounds one wait.
	budget, maxWait time.Duration
	// transfer is what the last run knows of its data's moving (iperf
	// runs): when (the CPUs' steadiness is judged over that time only),
	// and what it cost.
	transfer transfer
}

// transfer is one run's moving of data: when, the bytes received, and the
// CPU time the whole machine spent meanwhile (0: not known).
type transfer struct {
	from, to   time.Time
	bytes      float64
	cpuSeconds float64
}

// cpuPerGB is the CPU time per GB received, or 0 if not known.
func (t transfer) cpuPerGB() float64 {
	if t.bytes <= 0 || t.cpuSeconds <= 0 {
		return 0
	}
	return t.cpuSeconds / (t.bytes / 1e9)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func envString(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func main() {
	var cfg config
	var only string
	rrSeconds := 1.0
	if v, err := strconv.ParseFloat(os.Getenv("BENCH_RR_TIME"), 64); err == nil {
		rrSeconds = v
	}
	flag.StringVar(&cfg.oursPasta, "pasta", "./pasta", "this project's pasta")
	flag.StringVar(&cfg.oursPasst, "passt", "./passt", "this project's passt")
	flag.StringVar(&cfg.upstreamPasta, "upstream-pasta", "/usr/bin/pasta", "Debian's pasta")
	flag.StringVar(&cfg.upstreamPasst, "upstream-passt", "/usr/bin/passt", "Debian's passt")
	flag.StringVar(&cfg.slirp, "slirp4netns", "/usr/bin/slirp4netns", "slirp4netns")
	flag.StringVar(&cfg.shim, "shim", "", "the guest shim, built from test/shim (required)")
	flag.StringVar(&cfg.benchrr, "benchrr", "", "the request-response tool, built from test/benchrr (required)")
	flag.StringVar(&cfg.user, "user", "passt-test", "unprivileged user the tools run as")
	flag.StringVar(&cfg.out, "out", envString("BENCH_OUT", "docs"), "directory for bench.json, bench.md and the charts (BENCH_OUT)")
	flag.IntVar(&cfg.runs, "runs", envInt("BENCH_RUNS", 5), "runs per figure (BENCH_RUNS)")
	flag.IntVar(&cfg.seconds, "time", envInt("BENCH_TIME", 2), "seconds per iperf3 run (BENCH_TIME)")
	flag.IntVar(&cfg.streams, "streams", envInt("BENCH_STREAMS", 1), "iperf3 parallel streams (BENCH_STREAMS)")
	flag.Float64Var(&rrSeconds, "rr-time", rrSeconds, "seconds per latency run (BENCH_RR_TIME)")
	flag.IntVar(&cfg.startupRuns, "startup-runs", envInt("BENCH_STARTUP_RUNS", 20), "runs of the startup command (BENCH_STARTUP_RUNS)")
	flag.DurationVar(&cfg.steadyBudget, "steady-budget", time.Duration(envInt("BENCH_STEADY_BUDGET", 900))*time.Second,
		"time the bench may spend waiting for the CPUs to come together and retaking runs taken while apart (BENCH_STEADY_BUDGET, seconds)")
	flag.StringVar(&only, "only", os.Getenv("BENCH_ONLY"), "measure only figures whose name matches this regular expression (BENCH_ONLY)")
	flag.StringVar(&cfg.render, "render", "", "render the report again from this bench.json, measuring nothing")
	flag.Parse()
	cfg.rrTime = time.Duration(rrSeconds * float64(time.Second))

	if cfg.render != "" {
		res, err := benchreport.Load(cfg.render)
		if err == nil {
			err = write(res, filepath.Dir(cfg.render))
		}
		if err != nil {
			fatal("%v", err)
		}
		return
	}
	if cfg.shim == "" || cfg.benchrr == "" {
		fatal("-shim and -benchrr are required (test/bench.sh builds and passes them)")
	}
	if cfg.runs < 1 || cfg.seconds < 1 || cfg.streams < 1 || cfg.rrTime <= 0 || cfg.startupRuns < 1 {
		fatal("runs, time, streams, rr-time and startup-runs must be positive")
	}
	if only != "" {
		re, err := regexp.Compile(only)
		if err != nil {
			fatal("-only: %v", err)
		}
		cfg.only = re
	}
	b, err := newBench(cfg)
	if err != nil {
		fatal("%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	b.startProbe()
	b.measure(ctx)
	b.endProbe()
	if ctx.Err() != nil {
		fatal("interrupted")
	}
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		fatal("%v", err)
	}
	if err := b.res.Save(filepath.Join(cfg.out, "bench.json")); err != nil {
		fatal("%v", err)
	}
	if err := write(b.res, cfg.out); err != nil {
		fatal("%v", err)
	}
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchrun: "+format+"\n", args...)
	os.Exit(1)
}

// write renders bench.md and the charts next to bench.json.
func write(res *benchreport.Results, dir string) error {
	charts := map[string]string{}
	for _, proto := range []string{benchreport.ProtoTCP, benchreport.ProtoUDP} {
		if svg := res.SVG(proto); svg != nil {
			name := "bench-" + proto + ".svg"
			if err := os.WriteFile(filepath.Join(dir, name), svg, 0o644); err != nil {
				return fmt.Errorf("writing the chart: %w", err)
			}
			charts[proto] = name
		}
	}
	f, err := os.Create(filepath.Join(dir, "bench.md"))
	if err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	if err := res.WriteMarkdown(f, charts[benchreport.ProtoTCP], charts[benchreport.ProtoUDP]); err != nil {
		f.Close()
		return fmt.Errorf("writing the report: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	fmt.Fprintf(os.Stderr, "benchrun: wrote %s\n", filepath.Join(dir, "bench.md"))
	return nil
}

func newBench(cfg config) (*bench, error) {
	for _, p := range []*string{&cfg.oursPasta, &cfg.oursPasst, &cfg.shim, &cfg.benchrr} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, err
		}
		*p = abs
	}
	u, err := user.Lookup(cfg.user)
	if err != nil {
		return nil, fmt.Errorf("benchmark user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	b := &bench{
		cfg:       cfg,
		user:      &account{name: u.Username, uid: uint32(uid), gid: uint32(gid), home: u.HomeDir},
		usedPorts: map[int]bool{},
		budget:    cfg.steadyBudget,
		maxWait:   maxWait,
		res: &benchreport.Results{
			Date: time.Now(),
			Settings: benchreport.Settings{Runs: cfg.runs, Seconds: float64(cfg.seconds), Streams: cfg.streams,
				RRSeconds: cfg.rrTime.Seconds(), StartupRuns: cfg.startupRuns,
				UDPLenMTU1500: 1472, UDPLenMTU64K: 65000},
		},
	}
	if b.hostAddr, err = hostAddress(); err != nil {
		return nil, err
	}
	b.res.Machine = machine()
	b.res.Versions = versions(cfg)
	return b, nil
}

// hostAddress is the first global IPv4 address of an interface that is up:
// what the host dials for the tap path into a namespace.
func hostAddress() (string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return "", fmt.Errorf("host address: %w", err)
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
				return n.IP.String(), nil
			}
		}
	}
	return "", fmt.Errorf("host address: no interface with a global IPv4 address")
}

func machine() benchreport.Machine {
	m := benchreport.Machine{Cores: runtime.NumCPU(), LoadStart: loadAverage()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kib int
		fmt.Sscanf(strings.TrimPrefix(strings.Split(string(b), "\n")[0], "MemTotal:"), "%d", &kib)
		m.MemoryMiB = kib / 1024
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control"); err == nil {
		m.CongestionControl = strings.TrimSpace(string(b))
	}
	return m
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// versions names what ran: the first line of each tool's version output.
func versions(cfg config) []benchreport.Version {
	first := func(argv ...string) string {
		out, err := output(context.Background(), nil, argv...)
		if err != nil && out == "" {
			return "unknown"
		}
		return strings.TrimSpace(strings.Split(strings.TrimSpace(out), "\n")[0])
	}
	deb := func(pkg string) string { return first("dpkg-query", "-W", "-f", "${Version}", pkg) }
	return []benchreport.Version{
		{Tool: "passt-go", Version: strings.TrimPrefix(first(cfg.oursPasta, "--version"), "pasta ")},
		{Tool: "Debian passt", Version: deb("passt")},
		{Tool: "slirp4netns", Version: deb("slirp4netns")},
		{Tool: "iperf3", Version: deb("iperf3")},
		{Tool: "hyperfine", Version: deb("hyperfine")},
	}
}
