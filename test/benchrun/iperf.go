// SPDX-License-Identifier: GPL-2.0-or-later

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// iperfResult is what a run of iperf3 -J measured at the receiver.
type iperfResult struct {
	bitsPerSecond float64
	bytes         float64
}

// parseIperf reads the receiver's rate from iperf3's JSON output:
// end.sum_received (TCP, and UDP since iperf3 3.12), or end.sum for the
// UDP of older versions. A report of an error, or of nothing received, is
// an error.
func parseIperf(b []byte) (iperfResult, error) {
	var rep struct {
		Error string `json:"error"`
		End   struct {
			SumReceived *struct {
				Bytes         float64 `json:"bytes"`
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
			Sum *struct {
				Bytes         float64 `json:"bytes"`
				BitsPerSecond float64 `json:"bits_per_second"`
				LostPackets   float64 `json:"lost_packets"`
				Packets       float64 `json:"packets"`
			} `json:"sum"`
		} `json:"end"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return iperfResult{}, fmt.Errorf("iperf3 output: %w", err)
	}
	if rep.Error != "" {
		return iperfResult{}, fmt.Errorf("iperf3: %s", rep.Error)
	}
	var r iperfResult
	switch {
	case rep.End.SumReceived != nil:
		r = iperfResult{rep.End.SumReceived.BitsPerSecond, rep.End.SumReceived.Bytes}
	case rep.End.Sum != nil && rep.End.Sum.Packets > 0:
		s := rep.End.Sum
		frac := 1 - s.LostPackets/s.Packets
		r = iperfResult{s.BitsPerSecond * frac, s.Bytes * frac}
	default:
		return iperfResult{}, errors.New("iperf3 output without a receiver's sum")
	}
	if math.IsNaN(r.bitsPerSecond) || math.IsInf(r.bitsPerSecond, 0) || r.bitsPerSecond < 0 {
		return iperfResult{}, fmt.Errorf("iperf3: bad rate %v", r.bitsPerSecond)
	}
	if r.bitsPerSecond == 0 || r.bytes <= 0 {
		return iperfResult{}, errors.New("iperf3: nothing received")
	}
	return r, nil
}

// flowSpec is what one iperf3 run sends.
type flowSpec struct {
	proto   string // "tcp" or "udp"
	length  int    // UDP payload per datagram
	seconds int
	streams int
}

func (f flowSpec) clientArgs(target string, port int) []string {
	args := []string{"iperf3", "-c", target, "-p", strconv.Itoa(port), "-t", strconv.Itoa(f.seconds),
		"-J", "-i", "0", "--connect-timeout", "3000", "-P", strconv.Itoa(f.streams)}
	if f.proto == "udp" {
		args = append(args, "-u", "-b", "0", "-l", strconv.Itoa(f.length))
	}
	return args
}

// pathCheck is what the interface counters of the guest's namespace
// should show for a run.
type pathCheck int

const (
	viaNothing pathCheck = iota // the loopback: no namespace
	viaTap                      // the bytes cross the guest's interface
	viaSplice                   // they do not: loopback to loopback
)

// iperfNsToHost sends from the guest to an iperf3 server on the host's
// loopback: through the gateway address (tap), or to the guest's own
// loopback, forwarded with -T (splice).
func (b *bench) iperfNsToHost(ctx context.Context, e *env, splice bool, f flowSpec) (float64, string, error) {
	port, target, check := e.hostPort, e.gateway, viaTap
	if splice {
		port, target, check = e.nsFwdPort, "127.0.0.1", viaSplice
	}
	if e.holder == nil {
		check = viaNothing
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(f.seconds+20)*time.Second)
	defer cancel()
	server := command(ctx, nil, "iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", strconv.Itoa(port))
	client := e.guest(ctx, f.clientArgs(target, port)...)
	return b.iperf(ctx, e, server, 0, port, client, check)
}

// iperfHostToNs sends from the host to an iperf3 server in the guest,
// through the -t port: at the host's address (tap; the shim guest's passt
// at 127.0.0.1, passt has no splice), or at 127.0.0.1 (pasta's splice).
func (b *bench) iperfHostToNs(ctx context.Context, e *env, splice bool, f flowSpec) (float64, string, error) {
	port, target, check := e.fwdPort, e.hostTarget, viaTap
	if splice {
		target, check = "127.0.0.1", viaSplice
	}
	if e.holder == nil {
		check = viaNothing
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(f.seconds+20)*time.Second)
	defer cancel()
	server := e.guest(ctx, "iperf3", "-s", "-1", "-p", strconv.Itoa(port))
	client := command(ctx, nil, f.clientArgs(target, port)...)
	return b.iperf(ctx, e, server, e.nsPID(), port, client, check)
}

// iperf runs one measurement: the server until it listens (in the network
// namespace of serverNS, if not 0), then the client; it returns the
// receiver's rate in Gbit/s and a warning if the bytes did not take the
// path they were meant to.
func (b *bench) iperf(ctx context.Context, e *env, server *exec.Cmd, serverNS, port int, client *exec.Cmd, check pathCheck) (float64, string, error) {
	var serverOut bytes.Buffer
	server.Stdout, server.Stderr = &serverOut, &serverOut
	if err := server.Start(); err != nil {
		return 0, "", fmt.Errorf("iperf3 server: %w", err)
	}
	reaped := false
	defer func() {
		if !reaped {
			kill(server)
		}
	}()
	if err := waitListening(server, serverNS, "tcp", port, 5*time.Second); err != nil {
		return 0, "", fmt.Errorf("iperf3 server: %w%s", err, lastLine(serverOut.String()))
	}
	var before int64
	if check != viaNothing {
		before, _ = linkBytes(e.nsPID())
	}
	var out, stderr bytes.Buffer
	client.Stdout, client.Stderr = &out, &stderr
	busy0, busyErr := machineBusy()
	b.transfer.from = time.Now()
	runErr := client.Run()
	b.transfer.to = time.Now()
	busy1, busyErr1 := machineBusy()
	res, err := parseIperf(out.Bytes())
	if err != nil {
		if ctx.Err() != nil {
			return 0, "", errors.New("iperf3 client: timed out")
		}
		if runErr != nil && out.Len() == 0 {
			return 0, "", fmt.Errorf("iperf3 client: %w%s", runErr, lastLine(stderr.String()))
		}
		return 0, "", err
	}
	// The server exits after its one test.
	waitTimeout(server, 3*time.Second)
	reaped = true
	if busyErr == nil && busyErr1 == nil && busy1 > busy0 {
		b.transfer.bytes, b.transfer.cpuSeconds = res.bytes, (busy1 - busy0).Seconds()
	}

	warning := ""
	if check != viaNothing {
		after, err := linkBytes(e.nsPID())
		if err == nil {
			share := float64(after-before) / res.bytes
			switch {
			case check == viaTap && share < 0.5:
				warning = fmt.Sprintf("%s: only %.0f%% of the bytes crossed the namespace's interface (not the tap path?)",
					e, 100*share)
			case check == viaSplice && share > 0.1:
				warning = fmt.Sprintf("%s: %.0f%% of the bytes crossed the namespace's interface (not spliced?)",
					e, 100*share)
			}
		}
	}
	return res.bitsPerSecond / 1e9, warning, nil
}

// describeErr keeps an error to one line for the report.
func describeErr(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
