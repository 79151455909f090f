// SPDX-License-Identifier: GPL-2.0-or-later

package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"passt/test/benchreport"
	"passt/test/cacheprobe"
)

// fakeProbe has the CPUs close (50 ns) except while apart is set, when
// every sample it takes is 330 ns.
type fakeProbe struct {
	s     []cacheprobe.Sample
	apart bool
}

func (p *fakeProbe) take(n int) {
	for range n {
		rtt := 50 * time.Nanosecond
		if p.apart {
			rtt = 330 * time.Nanosecond
		}
		p.s = append(p.s, cacheprobe.Sample{At: time.Now(), RTT: rtt})
		time.Sleep(time.Millisecond)
	}
}

func (p *fakeProbe) All() []cacheprobe.Sample { return slices.Clone(p.s) }

func (p *fakeProbe) Stop() {}

func (p *fakeProbe) Between(from, to time.Time) []cacheprobe.Sample {
	var out []cacheprobe.Sample
	for _, s := range p.s {
		if !s.At.Before(from) && !s.At.After(to) {
			out = append(out, s)
		}
	}
	return out
}

// TestSteadyRun: a run taken while the CPUs were apart is set aside and
// taken again; one with a few slow samples is kept; when the retakes run
// out the last value is kept and counted.
func TestSteadyRun(t *testing.T) {
	p := &fakeProbe{}
	p.take(minSamples)
	b := &bench{probe: p, res: &benchreport.Results{Steadiness: &benchreport.Steadiness{}},
		budget: time.Minute, maxWait: 20 * time.Millisecond}
	// Runs 1 and 2 of the figure fall while the CPUs are apart, run 3 not.
	values := []float64{10, 11, 20}
	calls := 0
	f := &figure{name: "f", unit: "Gbit/s", run: func(ctx context.Context, e *env) (float64, string, error) {
		p.apart = calls < 2
		p.take(8)
		v := values[calls]
		calls++
		return v, "", nil
	}}
	v, _, err := b.steadyRun(context.Background(), f, nil, 1)
	if err != nil || v != 20 || calls != 3 {
		t.Fatalf("steadyRun = %v, %v after %d runs; want 20 after 3", v, err, calls)
	}
	if !slices.Equal(f.series.SetAside, []float64{10, 11}) {
		t.Errorf("set aside %v, want [10 11]", f.series.SetAside)
	}
	if st := b.res.Steadiness; st.Runs != 3 || st.RunsSetAside != 2 || st.RunsKeptApart != 0 {
		t.Errorf("steadiness %+v", *st)
	}
	if !slices.Equal(f.series.Apart, []float64{0}) {
		t.Errorf("apart share of the kept run: %v, want [0]", f.series.Apart)
	}

	// One slow sample in twelve: below the limit, kept at once.
	f2 := &figure{name: "f2", run: func(ctx context.Context, e *env) (float64, string, error) {
		p.apart = true
		p.take(1)
		p.apart = false
		p.take(11)
		return 5, "", nil
	}}
	if v, _, _ := b.steadyRun(context.Background(), f2, nil, 1); v != 5 || len(f2.series.SetAside) != 0 {
		t.Errorf("a run one twelfth apart: %v, set aside %v", v, f2.series.SetAside)
	}
	if len(f2.series.Apart) != 1 || f2.series.Apart[0] < 0.05 || f2.series.Apart[0] > 0.1 {
		t.Errorf("apart share of a run one twelfth apart: %v", f2.series.Apart)
	}

	// A run that says when it moved its data (as iperf runs do) is judged
	// over that time only: apart before and after it, kept;
	f5 := &figure{name: "f5", run: func(ctx context.Context, e *env) (float64, string, error) {
		p.apart = true
		p.take(10)
		p.apart = false
		b.transfer.from = time.Now()
		p.take(10)
		b.transfer.to = time.Now()
		p.apart = true
		p.take(10)
		p.apart = false
		return 6, "", nil
	}}
	if v, _, _ := b.steadyRun(context.Background(), f5, nil, 1); v != 6 || len(f5.series.SetAside) != 0 {
		t.Errorf("apart outside the transfer only: %v, set aside %v", v, f5.series.SetAside)
	}
	// and apart for a third of its transfer, set aside, however long the
	// steady time around it.
	tries := 0
	f6 := &figure{name: "f6", run: func(ctx context.Context, e *env) (float64, string, error) {
		tries++
		p.take(40)
		b.transfer.from = time.Now()
		p.apart = tries == 1
		p.take(3)
		p.apart = false
		p.take(6)
		b.transfer.to = time.Now()
		p.take(40)
		return float64(tries), "", nil
	}}
	if v, _, _ := b.steadyRun(context.Background(), f6, nil, 1); v != 2 || !slices.Equal(f6.series.SetAside, []float64{1}) {
		t.Errorf("apart for a third of the transfer: kept %v, set aside %v", v, f6.series.SetAside)
	}

	// Apart every time: retakes+1 runs, the last kept.
	n := 0
	f3 := &figure{name: "f3", run: func(ctx context.Context, e *env) (float64, string, error) {
		p.apart = true
		p.take(8)
		n++
		return float64(n), "", nil
	}}
	if v, _, _ := b.steadyRun(context.Background(), f3, nil, 1); v != retakes+1 || len(f3.series.SetAside) != retakes {
		t.Errorf("always apart: kept %v after %d runs, set aside %v", v, n, f3.series.SetAside)
	}
	if b.res.Steadiness.RunsKeptApart != 1 {
		t.Errorf("runs kept apart: %d", b.res.Steadiness.RunsKeptApart)
	}
	if !slices.Equal(f3.series.Apart, []float64{1}) {
		t.Errorf("apart share of a run kept apart: %v, want [1]", f3.series.Apart)
	}
	// Runs after apart ones waited for the CPUs (which the fake never
	// brings together): maxWait each, out of the budget.
	if w := b.res.Steadiness.WaitedSeconds; w < 0.02 || b.budget > time.Minute-20*time.Millisecond {
		t.Errorf("waited %vs, budget left %v", w, b.budget)
	}

	// No budget left: an apart run is kept at once, without waiting.
	b.budget, n = 0, 0
	f4 := &figure{name: "f4", run: f3.run}
	if v, _, _ := b.steadyRun(context.Background(), f4, nil, 1); v != 1 || len(f4.series.SetAside) != 0 {
		t.Errorf("no budget: kept %v, set aside %v", v, f4.series.SetAside)
	}
}
