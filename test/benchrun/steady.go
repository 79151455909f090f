// SPDX-License-Identifier: GPL-2.0-or-later

package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"passt/test/benchreport"
	"passt/test/cacheprobe"
)

// The machine's steadiness. A hypervisor that runs the two vCPUs on cores
// with no cache in common halves the throughput of every path that hands
// data from one CPU to another, the bare loopback's too, for seconds at a
// time (see test/cacheprobe). A run that falls in such a time says nothing
// about the tool it measures, so the bench watches the CPUs with
// cacheprobe and takes such a run again, the same for every tool. Every
// set-aside value stays in bench.json, and the report counts them.
const (
	// probeInterval: one sample every 25 ms, about 80 in 2 s. Apart
	// spells last from a few hundred milliseconds to minutes; at one
	// sample every 100 ms a run half in a short spell could show one or
	// two slow samples of twenty and pass for steady (a run of tap
	// ns→host at 72% of its median did). A sample holds both CPUs for
	// 50 µs (close) to 300 µs (apart): 0.2 to 1.2% of their time.
	probeInterval = 25 * time.Millisecond
	// apartFactor: a sample this many times the baseline has the CPUs
	// apart (about 6 times on the machines of docs/profiling.md; a
	// preempted sample or an interrupt makes single outliers, about 2%
	// of the samples).
	apartFactor = 2.0
	// runApartLimit: a run with more of its samples apart is set aside.
	// An iperf3 run is judged over its client's time only (bench.transfer:
	// 2 s of transfer, and its connection's setup and end); at 10%, a
	// spell of 200 ms. Apart, a path runs at half speed, so a tenth of a
	// run apart costs it about 5% at most, well inside the run-to-run
	// spread. (At 25%, a retaken run of tap host→ns still came
	// out at 66% of the median.)
	runApartLimit = 0.1
	// retakes: how many times one run is taken again at most; then the
	// last value is kept and counted.
	retakes = 3
	// baselineWait: the probe runs this long before the first figure, so
	// that the baseline rests on enough samples (minSamples).
	baselineWait = 2 * time.Second
	minSamples   = int(baselineWait / probeInterval)
	// settle: before a run, the CPUs must have been close this long.
	settle = 250 * time.Millisecond
	// maxWait: how long one run waits for the CPUs to come together.
	maxWait = 30 * time.Second
)

// samples is what the bench needs of a cacheprobe.Probe.
type samples interface {
	All() []cacheprobe.Sample
	Between(from, to time.Time) []cacheprobe.Sample
	Stop()
}

// startProbe starts the cache-line probe on the first two CPUs this
// process may use; without it the report says why.
func (b *bench) startProbe() {
	st := &benchreport.Steadiness{IntervalMS: probeInterval.Milliseconds(), ApartFactor: apartFactor,
		RunApartLimit: runApartLimit, Retakes: retakes, MaxWaitSeconds: b.maxWait.Seconds(), BudgetSeconds: b.budget.Seconds()}
	b.res.Steadiness = st
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		st.Error = fmt.Sprintf("reading the CPUs: %v", err)
		return
	}
	var cpus []int
	for c := 0; c < len(set)*64 && len(cpus) < 2; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) < 2 {
		st.Error = "one CPU only"
		return
	}
	st.CPUs = [2]int{cpus[0], cpus[1]}
	p, err := cacheprobe.Start(cpus[0], cpus[1], probeInterval)
	if err != nil {
		st.Error = err.Error()
		fmt.Fprintf(os.Stderr, "benchrun: machine steadiness not watched: %v\n", err)
		return
	}
	b.probe = p
	// The first figures need a baseline.
	time.Sleep(baselineWait)
}

// endProbe stops the probe and files what it saw over the whole bench.
func (b *bench) endProbe() {
	if b.probe == nil {
		return
	}
	b.probe.Stop()
	st := b.res.Steadiness
	all := b.probe.All()
	st.Samples = len(all)
	if base, err := cacheprobe.Baseline(all); err == nil {
		st.BaselineNS = float64(base.Nanoseconds())
		st.ApartShare = cacheprobe.Apart(all, time.Duration(apartFactor*float64(base)))
	}
	fmt.Fprintf(os.Stderr, "benchrun: cache-line round trip between CPUs %d and %d: %.0f ns at best, %.0f%% of %d samples apart; %d of %d runs set aside\n",
		st.CPUs[0], st.CPUs[1], st.BaselineNS, 100*st.ApartShare, st.Samples, st.RunsSetAside, st.Runs)
}

// apartDuring is the share of the samples from start to end that had the
// CPUs apart, and the samples' baseline; 0 while there is no baseline yet.
func (b *bench) apartDuring(start, end time.Time) (float64, time.Duration) {
	all := b.probe.All()
	if len(all) < minSamples {
		return 0, 0
	}
	base, err := cacheprobe.Baseline(all)
	if err != nil {
		return 0, 0
	}
	return cacheprobe.Apart(b.probe.Between(start, end), time.Duration(apartFactor*float64(base))), base
}

// waitClose waits, before a run, while the CPUs are apart: until the last
// settle of samples has them close, maxWait at most, out of the budget.
// Waiting costs less than a run taken only to be set aside.
func (b *bench) waitClose(ctx context.Context) {
	if b.budget <= 0 {
		return
	}
	now := time.Now()
	if apart, _ := b.apartDuring(now.Add(-time.Second), now); apart <= runApartLimit {
		return
	}
	start := now
	fmt.Fprintf(os.Stderr, "   (the CPUs are apart: waiting up to %v for them to come together)\n", min(b.maxWait, b.budget))
	for ctx.Err() == nil && time.Since(start) < min(b.maxWait, b.budget) {
		time.Sleep(probeInterval)
		now := time.Now()
		if apart, _ := b.apartDuring(now.Add(-settle), now); apart == 0 {
			break
		}
	}
	waited := time.Since(start)
	b.budget -= waited
	b.res.Steadiness.WaitedSeconds += waited.Seconds()
}

// steadyRun takes one run of a figure, and takes it again while the CPUs
// were apart for more than runApartLimit of it, retakes times at most and
// while the budget lasts. Set-aside values go to the figure's series, and
// so does the apart share of the run it returns without an error (Apart,
// in step with the Values its caller appends).
func (b *bench) steadyRun(ctx context.Context, f *figure, e *env, run int) (float64, string, error) {
	for attempt := 0; ; attempt++ {
		if b.probe != nil {
			b.waitClose(ctx)
		}
		start := time.Now()
		b.transfer = transfer{}
		v, warning, err := f.run(ctx, e)
		from, to := start, time.Now()
		if !b.transfer.from.IsZero() && !b.transfer.to.IsZero() {
			from, to = b.transfer.from, b.transfer.to
		}
		if b.probe == nil || ctx.Err() != nil {
			return v, warning, err
		}
		st := b.res.Steadiness
		st.Runs++
		if err != nil {
			return v, warning, err
		}
		apart, base := b.apartDuring(from, to)
		if apart <= runApartLimit {
			if apart > 0 {
				fmt.Fprintf(os.Stderr, "   %-44s run %d: (CPUs apart for %.0f%% of it: kept)\n", f.name, run, 100*apart)
			}
			f.series.Apart = append(f.series.Apart, apart)
			return v, warning, nil
		}
		if attempt == retakes || b.budget <= 0 {
			st.RunsKeptApart++
			f.series.Apart = append(f.series.Apart, apart)
			fmt.Fprintf(os.Stderr, "   %-44s run %d: CPUs apart for %.0f%% of it, kept (%d retakes, %v of the budget left)\n",
				f.name, run, 100*apart, attempt, max(b.budget, 0).Round(time.Second))
			return v, warning, nil
		}
		b.budget -= time.Since(start)
		st.RunsSetAside++
		f.series.SetAside = append(f.series.SetAside, v)
		fmt.Fprintf(os.Stderr, "   %-44s run %d: %s %s set aside: CPUs apart for %.0f%% of it (round trip over %v); again\n",
			f.name, run, benchreport.FormatValue(v), f.unit, 100*apart, time.Duration(apartFactor*float64(base)))
	}
}
