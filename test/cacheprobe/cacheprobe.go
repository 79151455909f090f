// SPDX-License-Identifier: GPL-2.0-or-later

// Package cacheprobe watches how long a cache line takes to travel from one
// CPU to another and back, so that a benchmark can tell the runs it took on
// a steady machine from the runs it took while the machine itself was
// slower.
//
// Theory of operation. On a virtual machine the hypervisor decides which
// physical cores the virtual CPUs run on, and it moves them. Two vCPUs on
// cores that share a last-level cache hand a cache line back and forth in
// about 50 ns; when the host puts one of them on another core complex or
// socket, the same round trip takes 300 ns or more, for seconds at a time.
// Everything that hands data from one CPU to another slows down with it: a
// loopback TCP connection, a tap device and the process that reads it. On
// the 2-vCPU machines of this project's benchmarks (docs/profiling.md)
// iperf3 through pasta's tap drops from 20 to 11 Gbit/s for as long as it
// lasts, and so does the bare loopback. Nothing inside the guest causes it
// or can prevent it; a benchmark can only notice it and take the run again.
//
// A Probe takes a Sample every interval: two goroutines, each locked to an
// OS thread pinned to one of the two CPUs and running at real-time
// priority (SCHED_FIFO, so that both run at once even while the benchmark
// keeps both CPUs busy), bounce a counter in one cache line a fixed number
// of times, and the mean round trip is the sample. A sample holds both CPUs
// for 50 to 500 µs; at 100 ms intervals that is under half a percent of
// their time. Setting real-time priority needs root (CAP_SYS_NICE); Start
// fails without it rather than measure scheduling delays instead of cache
// latency.
//
// Judging the samples is left to the caller, with two helpers: Baseline,
// a low percentile of everything seen so far (the machine at its best),
// and Apart, the share of a run's samples above a multiple of it.
package cacheprobe

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Rounds is how many round trips make one sample.
const Rounds = 1000

// spinLimit bounds every wait for the other thread: a sample that takes
// longer is dropped (the other CPU was not running the probe).
const spinLimit = 50 * time.Millisecond

// Sample is the mean round trip of a cache line between the two CPUs,
// measured at a moment.
type Sample struct {
	At  time.Time
	RTT time.Duration
}

// line is a cache line of its own, so that the counters the two threads
// bounce share it with nothing else.
type line struct {
	_ [64]byte
	v atomic.Int64
	_ [56]byte
}

// Probe samples the round trip between two CPUs until Stop.
type Probe struct {
	cpuA, cpuB int
	interval   time.Duration

	ball  line // bounced: A writes odd values, B answers with the next even one
	awake line // B sets it when it is spinning, before A starts the clock
	kick  chan struct{}

	mu      sync.Mutex
	samples []Sample

	stop chan struct{}
	done chan struct{}
}

// Start pins one thread to cpuA and one to cpuB, both at real-time
// priority, and takes a sample every interval until Stop.
func Start(cpuA, cpuB int, interval time.Duration) (*Probe, error) {
	if cpuA == cpuB {
		return nil, fmt.Errorf("cacheprobe: needs two different CPUs, got %d twice", cpuA)
	}
	var online unix.CPUSet
	if err := unix.SchedGetaffinity(0, &online); err != nil {
		return nil, fmt.Errorf("cacheprobe: reading the CPUs this process may use: %w", err)
	}
	if !online.IsSet(cpuA) || !online.IsSet(cpuB) {
		return nil, fmt.Errorf("cacheprobe: CPUs %d and %d are not both available (%d CPUs)", cpuA, cpuB, online.Count())
	}
	p := &Probe{
		cpuA: cpuA, cpuB: cpuB, interval: interval,
		kick: make(chan struct{}),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	ready := make(chan error, 2)
	go p.pong(ready)
	go p.ping(ready)
	for range 2 {
		if err := <-ready; err != nil {
			close(p.stop)
			<-p.done
			return nil, err
		}
	}
	return p, nil
}

// Stop ends the sampling; the samples taken stay readable.
func (p *Probe) Stop() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

// pinRealtime pins the calling thread to cpu at SCHED_FIFO priority 1:
// above every normal task, below the kernel's own real-time threads.
func pinRealtime(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("cacheprobe: pinning a thread to CPU %d: %w", cpu, err)
	}
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}
	if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
		return fmt.Errorf("cacheprobe: real-time priority for the thread on CPU %d (needs root): %w", cpu, err)
	}
	return nil
}

// pong runs on cpuB: at each kick it answers Rounds serves, then waits
// again. Its thread ends with it (the goroutine never unlocks it), so the
// pinning and the priority go with it.
func (p *Probe) pong(ready chan<- error) {
	runtime.LockOSThread()
	if err := pinRealtime(p.cpuB); err != nil {
		ready <- err
		return
	}
	ready <- nil
	for {
		select {
		case <-p.stop:
			return
		case <-p.kick:
		}
		p.awake.v.Store(1)
		want := int64(1)
		for range Rounds {
			if !spinUntil(&p.ball.v, want) {
				break
			}
			p.ball.v.Store(want + 1)
			want += 2
		}
	}
}

// ping runs on cpuA and owns the clock.
func (p *Probe) ping(ready chan<- error) {
	defer close(p.done)
	runtime.LockOSThread()
	if err := pinRealtime(p.cpuA); err != nil {
		ready <- err
		return
	}
	ready <- nil
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		if rtt, ok := p.sample(); ok {
			p.mu.Lock()
			p.samples = append(p.samples, Sample{At: time.Now(), RTT: rtt})
			p.mu.Unlock()
		}
	}
}

// sample serves Rounds times and returns the mean round trip; false if the
// other thread did not keep up (it then gives up within spinLimit too).
func (p *Probe) sample() (time.Duration, bool) {
	p.ball.v.Store(0)
	p.awake.v.Store(0)
	select {
	case p.kick <- struct{}{}:
	case <-p.stop:
		return 0, false
	}
	if !spinUntil(&p.awake.v, 1) {
		return 0, false
	}
	start := time.Now()
	serve := int64(1)
	for range Rounds {
		p.ball.v.Store(serve)
		if !spinUntil(&p.ball.v, serve+1) {
			// B gives up on its next wait as well, and is back at its
			// kick before the next sample.
			return 0, false
		}
		serve += 2
	}
	return time.Since(start) / Rounds, true
}

// spinUntil waits for v to hold want, for spinLimit at most.
func spinUntil(v *atomic.Int64, want int64) bool {
	var deadline time.Time
	for i := 0; v.Load() != want; i++ {
		if i&1023 == 1023 {
			now := time.Now()
			if deadline.IsZero() {
				deadline = now.Add(spinLimit)
			} else if now.After(deadline) {
				return false
			}
		}
	}
	return true
}

// Between returns the samples taken from from to to.
func (p *Probe) Between(from, to time.Time) []Sample {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Sample
	for _, s := range p.samples {
		if !s.At.Before(from) && !s.At.After(to) {
			out = append(out, s)
		}
	}
	return out
}

// All returns every sample so far.
func (p *Probe) All() []Sample {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.samples)
}

// ErrNoSamples is Baseline's answer before the first sample.
var ErrNoSamples = errors.New("cacheprobe: no samples yet")

// Baseline is the 10th percentile of the samples: the round trip when the
// two CPUs are as close as the machine ever has them.
func Baseline(samples []Sample) (time.Duration, error) {
	if len(samples) == 0 {
		return 0, ErrNoSamples
	}
	rtts := make([]time.Duration, len(samples))
	for i, s := range samples {
		rtts[i] = s.RTT
	}
	slices.Sort(rtts)
	return rtts[len(rtts)/10], nil
}

// Apart is the share of samples whose round trip exceeds limit: how much
// of a run the two CPUs spent far apart. No samples: 0.
func Apart(samples []Sample, limit time.Duration) float64 {
	if len(samples) == 0 {
		return 0
	}
	n := 0
	for _, s := range samples {
		if s.RTT > limit {
			n++
		}
	}
	return float64(n) / float64(len(samples))
}
