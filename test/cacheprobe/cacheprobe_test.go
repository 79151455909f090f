// SPDX-License-Identifier: GPL-2.0-or-later

package cacheprobe

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestProbeSamples runs the probe on CPUs 0 and 1 and checks that it takes
// samples at its interval, with round trips a cache line can take: more
// than a nanosecond, less than the 50 µs of a wakeup.
func TestProbeSamples(t *testing.T) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	if set.Count() < 2 || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("needs root and two CPUs (%d CPUs, euid %d)", set.Count(), os.Geteuid())
		}
		t.Skip("needs root and two CPUs")
	}
	p, err := Start(0, 1, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	from := time.Now()
	time.Sleep(300 * time.Millisecond)
	p.Stop()
	all := p.All()
	if len(all) < 5 {
		t.Fatalf("%d samples in 300 ms at 20 ms intervals", len(all))
	}
	if got := p.Between(from, time.Now()); len(got) != len(all) {
		t.Errorf("Between the start and now: %d samples, All: %d", len(got), len(all))
	}
	for _, s := range all {
		if s.RTT < time.Nanosecond || s.RTT > 50*time.Microsecond {
			t.Errorf("round trip %v", s.RTT)
		}
	}
	base, err := Baseline(all)
	if err != nil || base <= 0 {
		t.Errorf("Baseline: %v, %v", base, err)
	}
	t.Logf("%d samples, baseline %v", len(all), base)
	// Stopped means stopped.
	n := len(p.All())
	time.Sleep(60 * time.Millisecond)
	if m := len(p.All()); m != n {
		t.Errorf("%d samples after Stop, %d before", m, n)
	}
}

func TestStartRefusesOneCPU(t *testing.T) {
	if _, err := Start(0, 0, time.Second); err == nil {
		t.Error("Start(0, 0) worked")
	}
	if _, err := Start(0, 1<<12, time.Second); err == nil {
		t.Error("Start with CPU 4096 worked")
	}
}

func TestBaselineAndApart(t *testing.T) {
	if _, err := Baseline(nil); err == nil {
		t.Error("Baseline of nothing worked")
	}
	var s []Sample
	for i := range 20 { // 16 near, 4 apart
		rtt := 50 * time.Nanosecond
		if i%5 == 4 {
			rtt = 330 * time.Nanosecond
		}
		s = append(s, Sample{At: time.Unix(int64(i), 0), RTT: rtt})
	}
	base, err := Baseline(s)
	if err != nil || base != 50*time.Nanosecond {
		t.Errorf("Baseline = %v, %v; want 50ns", base, err)
	}
	if got := Apart(s, 2*base); got != 0.2 {
		t.Errorf("Apart = %v, want 0.2", got)
	}
	if got := Apart(nil, base); got != 0 {
		t.Errorf("Apart of nothing = %v", got)
	}
}
