// SPDX-License-Identifier: GPL-2.0-or-later

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"passt/test/benchreport"
)

// rrModes maps the report's latency kinds to benchrr's client modes.
var rrModes = map[string]string{
	benchreport.KindTCPRR:  "tcp-rr",
	benchreport.KindUDPRR:  "udp-rr",
	benchreport.KindTCPCRR: "tcp-crr",
}

// pinned runs a command on one CPU. The latency client runs on CPU 0 and
// the server on CPU 1 (the tool in between goes where the scheduler puts
// it): left to the scheduler, the two ends sometimes share a CPU and
// sometimes not for a whole run, and a wake-up across CPUs costs tens of
// microseconds in a VM, so the loopback reference came out at 9 or 45 µs
// from one run to the next.
func pinned(cpu int, argv ...string) []string {
	if runtime.NumCPU() < 2 {
		return argv
	}
	return append([]string{"taskset", "-c", strconv.Itoa(cpu)}, argv...)
}

// rr runs one request-response measurement from the guest to a benchrr
// server on the host's loopback: through the gateway address (tap) or the
// guest's loopback forwarded with -T (splice). It returns microseconds per
// transaction.
func (b *bench) rr(ctx context.Context, e *env, kind string, splice bool) (float64, string, error) {
	port, target := e.hostPort, e.gateway
	if splice {
		port, target = e.nsFwdPort, "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.rrTime+20*time.Second)
	defer cancel()
	server := command(ctx, nil, pinned(1, b.cfg.benchrr, "serve", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))...)
	var serverOut bytes.Buffer
	server.Stdout, server.Stderr = &serverOut, &serverOut
	if err := server.Start(); err != nil {
		return 0, "", fmt.Errorf("benchrr server: %w", err)
	}
	defer kill(server)
	for _, proto := range []string{"tcp", "udp"} {
		if err := waitListening(server, 0, proto, port, 5*time.Second); err != nil {
			return 0, "", fmt.Errorf("benchrr server: %w%s", err, lastLine(serverOut.String()))
		}
	}
	client := e.guest(ctx, pinned(0, b.cfg.benchrr, rrModes[kind], net.JoinHostPort(target, strconv.Itoa(port)),
		"-time", b.cfg.rrTime.String())...)
	var out, stderr bytes.Buffer
	client.Stdout, client.Stderr = &out, &stderr
	if err := client.Run(); err != nil {
		if ctx.Err() != nil {
			return 0, "", errors.New("benchrr: timed out")
		}
		return 0, "", fmt.Errorf("benchrr %s: %w%s", rrModes[kind], err, lastLine(stderr.String()))
	}
	var r struct {
		Transactions int     `json:"transactions"`
		USPerTxn     float64 `json:"us_per_transaction"`
		Lost         int     `json:"lost"`
	}
	if err := json.Unmarshal(out.Bytes(), &r); err != nil || r.Transactions == 0 || r.USPerTxn <= 0 {
		return 0, "", fmt.Errorf("benchrr output %q: %v", strings.TrimSpace(out.String()), err)
	}
	warning := ""
	if r.Lost > 0 {
		warning = fmt.Sprintf("%s %s: some UDP requests got no reply within 200 ms (left out of the mean)", e, kind)
	}
	return r.USPerTxn, warning, nil
}

// startup times StartupCommand for each binary with hyperfine, as the
// unprivileged user, and returns milliseconds per run. Without hyperfine it
// times the runs itself.
func (b *bench) startup(ctx context.Context, bin string) benchreport.Series {
	cmdline := bin + " --config-net -- true"
	if _, err := os.Stat("/usr/bin/hyperfine"); err != nil {
		return b.startupLoop(ctx, bin)
	}
	dir, err := b.tempDir()
	if err != nil {
		return benchreport.Series{Error: describeErr(err)}
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "hyperfine.json")
	if _, err := output(ctx, b.user, "/usr/bin/hyperfine", "-N", "--style", "none", "--warmup", "2",
		"--runs", strconv.Itoa(b.cfg.startupRuns), "--export-json", file, cmdline); err != nil {
		return benchreport.Series{Error: describeErr(err)}
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return benchreport.Series{Error: describeErr(err)}
	}
	var rep struct {
		Results []struct {
			Times []float64 `json:"times"`
		} `json:"results"`
	}
	if err := json.Unmarshal(raw, &rep); err != nil || len(rep.Results) != 1 || len(rep.Results[0].Times) == 0 {
		return benchreport.Series{Error: fmt.Sprintf("hyperfine output: %v", err)}
	}
	var s benchreport.Series
	for _, t := range rep.Results[0].Times {
		s.Values = append(s.Values, t*1e3)
	}
	return s
}

func (b *bench) startupLoop(ctx context.Context, bin string) benchreport.Series {
	var s benchreport.Series
	for i := 0; i < b.cfg.startupRuns+2; i++ {
		start := time.Now()
		if _, err := output(ctx, b.user, bin, "--config-net", "--", "true"); err != nil {
			return benchreport.Series{Error: describeErr(err)}
		}
		if i >= 2 { // two warm-up runs, as with hyperfine
			s.Values = append(s.Values, float64(time.Since(start).Microseconds())/1e3)
		}
	}
	return s
}
