// SPDX-License-Identifier: GPL-2.0-or-later

package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The files in testdata are iperf3 3.12's own output (Debian bookworm), over
// loopback: a TCP run, a UDP run, and a client that found no server.
func TestParseIperf(t *testing.T) {
	for _, c := range []struct {
		file       string
		bps, bytes float64
		err        string
	}{
		{"iperf3-tcp.json", 12801996557.318079, 1614807040, ""},
		{"iperf3-udp.json", 1057570325.303527, 132369600, ""},
		{"iperf3-refused.json", 0, 0, "iperf3: unable to connect to server: Connection refused"},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", c.file))
		if err != nil {
			t.Fatal(err)
		}
		r, err := parseIperf(b)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("%s: error %v, want %q", c.file, err, c.err)
			}
			continue
		}
		if err != nil || r.bitsPerSecond != c.bps || r.bytes != c.bytes {
			t.Errorf("%s: %+v, %v; want %v bit/s, %v bytes", c.file, r, err, c.bps, c.bytes)
		}
	}
}

func TestParseIperfBadInput(t *testing.T) {
	for in, want := range map[string]string{
		``:           "iperf3 output",
		`{"end":{}}`: "without a receiver's sum",
		`{"end":{"sum_received":{"bits_per_second":0,"bytes":0}}}`:   "nothing received",
		`{"end":{"sum_received":{"bits_per_second":-1,"bytes":10}}}`: "bad rate",
		// iperf3 before 3.12: UDP has only "sum", the sender's, with the
		// loss the server reported.
		`{"end":{"sum":{"bits_per_second":1e9,"bytes":1000,"packets":10,"lost_packets":10}}}`: "nothing received",
	} {
		if _, err := parseIperf([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one saying %q", in, err, want)
		}
	}
	r, err := parseIperf([]byte(`{"end":{"sum":{"bits_per_second":1e9,"bytes":1000,"packets":10,"lost_packets":5}}}`))
	if err != nil || r.bitsPerSecond != 5e8 || r.bytes != 500 {
		t.Errorf("old UDP output: %+v, %v; want half of the sender's rate", r, err)
	}
}

// FuzzParseIperf: any input is parsed or refused, never a panic, and a
// parsed rate is a usable number.
func FuzzParseIperf(f *testing.F) {
	for _, name := range []string{"iperf3-tcp.json", "iperf3-udp.json", "iperf3-refused.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseIperf(b)
		if err != nil {
			return
		}
		if !(r.bitsPerSecond > 0) || math.IsInf(r.bitsPerSecond, 0) || !(r.bytes > 0) {
			t.Errorf("accepted %+v from %q", r, b)
		}
	})
}

func TestParseBusy(t *testing.T) {
	stat := "cpu  1000 20 300 50000 70 5 25 100 40 0\ncpu0 500 10 150 25000 35 2 12 50 20 0\nintr 1 2 3\n"
	got, err := parseBusy(stat)
	// user+nice+system+irq+softirq+steal = 1450 ticks of 10 ms.
	if err != nil || got != 14500*time.Millisecond {
		t.Errorf("parseBusy = %v, %v; want 14.5s", got, err)
	}
	for _, bad := range []string{"", "cpu0 1 2 3 4 5 6 7 8\n", "cpu  1 2 x 4 5 6 7 8\n", "cpu 1 2 3\n"} {
		if _, err := parseBusy(bad); err == nil {
			t.Errorf("parseBusy(%q) succeeded", bad)
		}
	}
	if _, err := machineBusy(); err != nil {
		t.Errorf("machineBusy: %v", err)
	}
	tr := transfer{bytes: 2e9, cpuSeconds: 3}
	if c := tr.cpuPerGB(); c != 1.5 {
		t.Errorf("cpuPerGB = %v, want 1.5", c)
	}
	if c := (transfer{bytes: 1e9}).cpuPerGB(); c != 0 {
		t.Errorf("cpuPerGB without CPU time = %v, want 0", c)
	}
}
