// SPDX-License-Identifier: GPL-2.0-or-later

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"passt/test/benchreport"
)

// envKey names the env a figure is measured through.
type envKey struct{ tool, mode string }

// figure is one series being measured, run by run.
type figure struct {
	name   string
	key    envKey
	unit   string
	run    func(ctx context.Context, e *env) (value float64, warning string, err error)
	emit   func(benchreport.Series) // files the finished series in the results
	series benchreport.Series
	// cpu: the machine's CPU seconds per GB of the kept runs that tell
	// (throughput figures).
	cpu benchreport.Series
	// firstErr is why the first failed run failed; a figure takes every
	// run, unless its tool has died (see env.toolGone).
	firstErr string
}

var (
	pastaOurs      = envKey{benchreport.Ours, "pasta"}
	pastaUpstream  = envKey{benchreport.Upstream, "pasta"}
	passtOurs      = envKey{benchreport.Ours, "passt"}
	passtUpstream  = envKey{benchreport.Upstream, "passt"}
	slirpKey       = envKey{benchreport.Slirp, "slirp4netns"}
	loopbackKey    = envKey{benchreport.Loopback, "loopback"}
	pastaLikeTools = []envKey{pastaOurs, pastaUpstream, slirpKey}
)

// measure runs every phase.
func (b *bench) measure(ctx context.Context) {
	for _, mtu := range benchreport.MTUs {
		b.phase(ctx, fmt.Sprintf("TCP, MTU %d", mtu), b.tcpFigures(mtu), mtu, false, mtu == 65520)
	}
	for _, mtu := range benchreport.MTUs {
		b.phase(ctx, fmt.Sprintf("UDP, MTU %d", mtu), b.udpFigures(mtu), mtu, true, false)
	}
	if b.wanted("startup") && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "== startup: %s, %d runs each\n", benchreport.StartupCommand, b.cfg.startupRuns)
		for _, t := range []struct{ tool, bin string }{{benchreport.Ours, b.cfg.oursPasta}, {benchreport.Upstream, b.cfg.upstreamPasta}} {
			s := b.startup(ctx, t.bin)
			report(fmt.Sprintf("startup %s", benchreport.ToolLabel(t.tool)), "ms", s)
			b.res.Startup = append(b.res.Startup, benchreport.Startup{Tool: t.tool, MS: s})
		}
	}
	b.res.Machine.LoadEnd = loadAverage()
}

func (b *bench) wanted(name string) bool {
	return b.cfg.only == nil || b.cfg.only.MatchString(name)
}

// report prints a finished series.
func report(name, unit string, s benchreport.Series) {
	if !s.OK() {
		fmt.Fprintf(os.Stderr, "   %-44s n/a: %s\n", name, s.Error)
		return
	}
	fmt.Fprintf(os.Stderr, "   %-44s %s [%s-%s] %s\n", name, benchreport.FormatValue(s.Median()),
		benchreport.FormatValue(s.Min()), benchreport.FormatValue(s.Max()), unit)
}

// throughputFigure measures iperf3 through one path of one tool.
func (b *bench) throughputFigure(proto, path string, mtu, length int, key envKey) *figure {
	f := flowSpec{proto: proto, length: length, seconds: b.cfg.seconds, streams: b.cfg.streams}
	name := fmt.Sprintf("%s %s MTU %d %s", proto, path, mtu, benchreport.ToolLabel(key.tool))
	if key == loopbackKey {
		name = fmt.Sprintf("%s loopback", proto)
		if length > 0 {
			name += fmt.Sprintf(" %d bytes", length)
		}
		mtu = 0
	}
	fig := &figure{name: name, key: key, unit: "Gbit/s"}
	switch path {
	case benchreport.TapNsToHost, benchreport.GuestToHost, benchreport.LoopbackPath:
		fig.run = func(ctx context.Context, e *env) (float64, string, error) { return b.iperfNsToHost(ctx, e, false, f) }
	case benchreport.SpliceNsToHost:
		fig.run = func(ctx context.Context, e *env) (float64, string, error) { return b.iperfNsToHost(ctx, e, true, f) }
	case benchreport.TapHostToNs, benchreport.HostToGuest:
		fig.run = func(ctx context.Context, e *env) (float64, string, error) { return b.iperfHostToNs(ctx, e, false, f) }
	case benchreport.SpliceHostToNs:
		fig.run = func(ctx context.Context, e *env) (float64, string, error) { return b.iperfHostToNs(ctx, e, true, f) }
	}
	fig.emit = func(s benchreport.Series) {
		b.res.Throughput = append(b.res.Throughput, benchreport.Throughput{
			Proto: proto, Path: path, MTU: mtu, Len: length, Tool: key.tool, Gbps: s, CPU: fig.cpu})
	}
	return fig
}

// latencyFigure measures request-response through one path of one tool.
func (b *bench) latencyFigure(kind, path string, key envKey) *figure {
	name := fmt.Sprintf("latency %s %s %s", kind, path, benchreport.ToolLabel(key.tool))
	splice := path == benchreport.SpliceNsToHost
	return &figure{
		name: name, key: key, unit: "µs",
		run: func(ctx context.Context, e *env) (float64, string, error) { return b.rr(ctx, e, kind, splice) },
		emit: func(s benchreport.Series) {
			b.res.Latency = append(b.res.Latency, benchreport.Latency{Kind: kind, Path: path, Tool: key.tool, US: s})
		},
	}
}

// tcpFigures: every TCP path of every tool at an MTU; at 65520 also the
// loopback ceiling and the latency figures.
func (b *bench) tcpFigures(mtu int) []*figure {
	tcp := benchreport.ProtoTCP
	var figs []*figure
	for _, path := range []string{benchreport.TapNsToHost, benchreport.TapHostToNs} {
		for _, key := range pastaLikeTools {
			figs = append(figs, b.throughputFigure(tcp, path, mtu, 0, key))
		}
	}
	for _, path := range []string{benchreport.SpliceNsToHost, benchreport.SpliceHostToNs} {
		for _, key := range []envKey{pastaOurs, pastaUpstream} {
			figs = append(figs, b.throughputFigure(tcp, path, mtu, 0, key))
		}
	}
	for _, path := range []string{benchreport.GuestToHost, benchreport.HostToGuest} {
		for _, key := range []envKey{passtOurs, passtUpstream} {
			figs = append(figs, b.throughputFigure(tcp, path, mtu, 0, key))
		}
	}
	if mtu != 65520 {
		return figs
	}
	figs = append(figs, b.throughputFigure(tcp, benchreport.LoopbackPath, mtu, 0, loopbackKey))
	for _, kind := range []string{benchreport.KindTCPRR, benchreport.KindUDPRR, benchreport.KindTCPCRR} {
		for _, key := range pastaLikeTools {
			figs = append(figs, b.latencyFigure(kind, benchreport.TapNsToHost, key))
		}
		if kind != benchreport.KindUDPRR {
			for _, key := range []envKey{pastaOurs, pastaUpstream} {
				figs = append(figs, b.latencyFigure(kind, benchreport.SpliceNsToHost, key))
			}
		}
		figs = append(figs, b.latencyFigure(kind, benchreport.LoopbackPath, loopbackKey))
	}
	return figs
}

// udpFigures: UDP through pasta's and slirp4netns's paths, with datagrams
// that fit the MTU, and the loopback with the same datagrams.
func (b *bench) udpFigures(mtu int) []*figure {
	udp := benchreport.ProtoUDP
	length := b.res.Settings.UDPLenMTU64K
	if mtu <= 1500 {
		length = b.res.Settings.UDPLenMTU1500
	}
	var figs []*figure
	for _, path := range []string{benchreport.TapNsToHost, benchreport.TapHostToNs} {
		for _, key := range pastaLikeTools {
			figs = append(figs, b.throughputFigure(udp, path, mtu, length, key))
		}
	}
	for _, path := range []string{benchreport.SpliceNsToHost, benchreport.SpliceHostToNs} {
		for _, key := range []envKey{pastaOurs, pastaUpstream} {
			figs = append(figs, b.throughputFigure(udp, path, mtu, length, key))
		}
	}
	return append(figs, b.throughputFigure(udp, benchreport.LoopbackPath, mtu, length, loopbackKey))
}

// newEnv sets up the env of a key for a phase.
func (b *bench) newEnv(ctx context.Context, key envKey, mtu int, udp bool) *env {
	switch key {
	case pastaOurs:
		return b.newPasta(ctx, key.tool, b.cfg.oursPasta, mtu, udp)
	case pastaUpstream:
		return b.newPasta(ctx, key.tool, b.cfg.upstreamPasta, mtu, udp)
	case passtOurs:
		return b.newPasst(ctx, key.tool, b.cfg.oursPasst, mtu)
	case passtUpstream:
		return b.newPasst(ctx, key.tool, b.cfg.upstreamPasst, mtu)
	case slirpKey:
		return b.newSlirp(ctx, mtu, udp)
	}
	return b.loopbackEnv()
}

// phase sets up the envs its figures need, takes the runs interleaved
// (run 1 of every figure, then run 2, ...), and files the series. A failed
// run does not end its figure (a flaky tool shows as "1 of 3 runs
// failed"), a dead tool or an env that could not start does.
func (b *bench) phase(ctx context.Context, title string, all []*figure, mtu int, udp, memory bool) {
	var figs []*figure
	for _, f := range all {
		if b.wanted(f.name) {
			figs = append(figs, f)
		}
	}
	if len(figs) == 0 || ctx.Err() != nil {
		return
	}
	fmt.Fprintf(os.Stderr, "== %s: %d figures, %d runs each\n", title, len(figs), b.cfg.runs)

	envs := map[envKey]*env{}
	var order []envKey
	for _, f := range figs {
		if _, ok := envs[f.key]; ok {
			continue
		}
		e := b.newEnv(ctx, f.key, mtu, udp)
		envs[f.key] = e
		order = append(order, f.key)
		if e.err != nil {
			fmt.Fprintf(os.Stderr, "   %s: could not start: %v\n", e, e.err)
		}
	}
	defer func() {
		for _, k := range slices.Backward(order) {
			envs[k].close()
		}
	}()

	if memory {
		time.Sleep(time.Second)
		b.readMemory(order, envs, benchreport.MemoryIdle, "VmRSS")
	}
	for run := 1; run <= b.cfg.runs; run++ {
		for _, f := range figs {
			e := envs[f.key]
			if e.err != nil {
				if f.firstErr == "" {
					f.firstErr = describeErr(e.err)
				}
				continue
			}
			v, warning, err := b.steadyRun(ctx, f, e, run)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				if dead := e.toolGone(); dead != "" {
					// Later runs through this env fail at once, saying why.
					err = fmt.Errorf("%w; %s", err, dead)
					e.err = errors.New(dead)
				}
				if f.firstErr == "" {
					f.firstErr = describeErr(err)
				}
				fmt.Fprintf(os.Stderr, "   %-44s run %d: failed: %s\n", f.name, run, describeErr(err))
				continue
			}
			f.series.Values = append(f.series.Values, v)
			if c := b.transfer.cpuPerGB(); c > 0 {
				f.cpu.Values = append(f.cpu.Values, c)
			}
			if warning != "" && !slices.Contains(f.series.Warnings, warning) {
				f.series.Warnings = append(f.series.Warnings, warning)
			}
			fmt.Fprintf(os.Stderr, "   %-44s run %d: %s %s\n", f.name, run, benchreport.FormatValue(v), f.unit)
		}
	}
	for _, f := range figs {
		if failed := b.cfg.runs - len(f.series.Values); failed > 0 {
			f.series.Error = f.firstErr
			if len(f.series.Values) > 0 {
				f.series.Error = fmt.Sprintf("%d of %d runs failed, the first: %s", failed, b.cfg.runs, f.firstErr)
			}
		}
		report(f.name, f.unit, f.series)
		f.emit(f.series)
	}
	if memory {
		b.readMemory(order, envs, benchreport.MemoryPeak, "VmHWM")
	}
}

// readMemory files a memory figure for every env with a tool process.
func (b *bench) readMemory(order []envKey, envs map[envKey]*env, kind, field string) {
	for _, k := range order {
		e := envs[k]
		if e.memPID == 0 || (e.err != nil && e.dead == "") {
			continue // not started
		}
		var s benchreport.Series
		if e.dead != "" {
			s.Error = e.dead
		} else if mib, err := treeMemoryMiB(e.memPID, field); err != nil {
			s.Error = describeErr(err)
		} else {
			s.Values = []float64{mib}
		}
		report(fmt.Sprintf("%s of %s %s", kind, benchreport.ToolLabel(e.tool), e.mode), "MiB", s)
		b.res.Memory = append(b.res.Memory, benchreport.Memory{Kind: kind, Mode: e.mode, Tool: e.tool, MiB: s})
	}
}
