// SPDX-License-Identifier: GPL-2.0-or-later

package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
