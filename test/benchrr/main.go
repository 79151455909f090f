// SPDX-License-Identifier: GPL-2.0-or-later

// Command benchrr measures request-response latency for make bench, the way
// neper's tcp_rr, udp_rr and tcp_crr do, without neper (which Debian does
// not package).
//
// Theory of operation: one side runs "benchrr serve", which answers every
// request of -size bytes with a response of the same size, over TCP and over
// UDP on the same port. The other side runs one of three clients for -time:
//
//   - tcp-rr: one connection; a transaction is writing a request and reading
//     the whole response.
//   - udp-rr: one socket; a transaction is sending a datagram and receiving
//     the reply. A reply that does not come within -wait counts as lost and
//     the next request is sent.
//   - tcp-crr: a transaction is connect, request, response, and the
//     server's close. A CRR request starts with the byte 'C', which tells
//     the server to close once it has answered: the server closes first,
//     so the client leaves no TIME_WAIT behind and thousands of
//     transactions do not run out of ephemeral ports.
//
// Both sides run on one OS thread at a time (GOMAXPROCS 1), like neper's
// single-threaded default: transactions are sequential anyway, and a Go
// scheduler free to wake a goroutine on another thread adds a cross-CPU
// wake-up (tens of microseconds in a VM) to some transactions and not to
// others (benchrun also pins the client and the server to different CPUs).
//
// Transactions run back to back, one at a time, so the mean time per
// transaction is the round-trip latency (neper reports 10^6 / transactions
// per second, in microseconds: the same figure). The client prints one line
// of JSON: {"transactions":N,"seconds":S,"us_per_transaction":U,"p50_us":..,
// "p99_us":..,"lost":L}, and exits non-zero if no transaction completed.
//
// Usage:
//
//	benchrr serve ADDR:PORT [-size N]
//	benchrr tcp-rr|udp-rr|tcp-crr ADDR:PORT [-size N] [-time D] [-wait D]
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"time"
)

func main() {
	runtime.GOMAXPROCS(1)
	if len(os.Args) < 3 {
		usage()
	}
	mode, addr := os.Args[1], os.Args[2]
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	size := fs.Int("size", 1, "request and response size in bytes")
	dur := fs.Duration("time", time.Second, "how long the client runs")
	wait := fs.Duration("wait", 200*time.Millisecond, "udp-rr: how long to wait for a reply before counting it lost")
	_ = fs.Parse(os.Args[3:])
	if *size < 1 || *size > 65000 {
		fatal("size %d out of range 1-65000", *size)
	}

	var err error
	switch mode {
	case "serve":
		err = serve(addr, *size)
	case "tcp-rr", "udp-rr", "tcp-crr":
		var r result
		r, err = runClient(mode, addr, *size, *dur, *wait)
		if err == nil {
			err = json.NewEncoder(os.Stdout).Encode(r)
		}
	default:
		usage()
	}
	if err != nil {
		fatal("%s %s: %v", mode, addr, err)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: benchrr serve|tcp-rr|udp-rr|tcp-crr ADDR:PORT [-size N] [-time D] [-wait D]")
	os.Exit(2)
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchrr: "+format+"\n", args...)
	os.Exit(1)
}

// serve answers requests over TCP and UDP on addr until killed.
func serve(addr string, size int) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("listen udp: %w", err)
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				fatal("udp read: %v", err)
			}
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("accept: %w", err)
		}
		go answer(c.(*net.TCPConn), size)
	}
}

// crrMark starts a CRR request: the server answers it and closes.
const crrMark = 'C'

// answer serves one TCP connection: it answers requests until the client
// closes, or closes itself after answering a CRR request.
func answer(c *net.TCPConn, size int) {
	defer c.Close()
	_ = c.SetNoDelay(true)
	buf := make([]byte, size)
	for {
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		if _, err := c.Write(buf); err != nil {
			return
		}
		if buf[0] == crrMark {
			return
		}
	}
}

// result is what a client prints.
type result struct {
	Transactions int     `json:"transactions"`
	Seconds      float64 `json:"seconds"`
	USPerTxn     float64 `json:"us_per_transaction"`
	P50US        float64 `json:"p50_us"`
	P99US        float64 `json:"p99_us"`
	Lost         int     `json:"lost"`
}

// maxSamples bounds the per-transaction samples kept for percentiles, so
// that a long fast run does not grow without bound.
const maxSamples = 1 << 20

func runClient(mode, addr string, size int, dur, wait time.Duration) (result, error) {
	req := make([]byte, size)
	resp := make([]byte, 65536)
	samples := make([]time.Duration, 0, 4096)
	var r result
	var txn func() error

	switch mode {
	case "tcp-rr":
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			return r, fmt.Errorf("connect: %w", err)
		}
		defer c.Close()
		_ = c.(*net.TCPConn).SetNoDelay(true)
		txn = func() error {
			_ = c.SetDeadline(time.Now().Add(3 * time.Second))
			if _, err := c.Write(req); err != nil {
				return err
			}
			_, err := io.ReadFull(c, resp[:size])
			return err
		}
	case "tcp-crr":
		req[0] = crrMark
		d := net.Dialer{Timeout: 3 * time.Second}
		txn = func() error {
			c, err := d.Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer c.Close()
			tc := c.(*net.TCPConn)
			_ = tc.SetNoDelay(true)
			_ = c.SetDeadline(time.Now().Add(3 * time.Second))
			if _, err := c.Write(req); err != nil {
				return err
			}
			if _, err := io.ReadFull(c, resp[:size]); err != nil {
				return err
			}
			if n, err := c.Read(resp); n != 0 || !errors.Is(err, io.EOF) {
				return fmt.Errorf("no close from the server (%d bytes, %v)", n, err)
			}
			return nil
		}
	case "udp-rr":
		c, err := net.Dial("udp", addr)
		if err != nil {
			return r, fmt.Errorf("dial: %w", err)
		}
		defer c.Close()
		txn = func() error {
			if _, err := c.Write(req); err != nil {
				return err
			}
			_ = c.SetReadDeadline(time.Now().Add(wait))
			n, err := c.Read(resp)
			if err != nil {
				return err
			}
			if n != size {
				return fmt.Errorf("reply of %d bytes, want %d", n, size)
			}
			return nil
		}
	}

	start := time.Now()
	end := start.Add(dur)
	var lastErr error
	for now := start; now.Before(end); {
		err := txn()
		after := time.Now()
		if err != nil {
			var ne net.Error
			if mode == "udp-rr" && errors.As(err, &ne) && ne.Timeout() {
				r.Lost++
				lastErr = err
				// Nothing at all after a while: the path does not work.
				if r.Transactions == 0 && after.Sub(start) > 2*time.Second {
					break
				}
				now = after
				continue
			}
			return r, fmt.Errorf("after %d transactions: %w", r.Transactions, err)
		}
		r.Transactions++
		if len(samples) < maxSamples {
			samples = append(samples, after.Sub(now))
		}
		now = after
	}
	elapsed := time.Since(start)
	if r.Transactions == 0 {
		return r, fmt.Errorf("no transaction completed (%d lost, last error: %v)", r.Lost, lastErr)
	}
	r.Seconds = elapsed.Seconds()
	r.USPerTxn = float64(elapsed.Microseconds()) / float64(r.Transactions)
	// Lost UDP requests waited for -wait each: take them out of the mean.
	if r.Lost > 0 {
		busy := elapsed - time.Duration(r.Lost)*wait
		r.USPerTxn = float64(busy.Microseconds()) / float64(r.Transactions)
	}
	slices.Sort(samples)
	r.P50US = float64(samples[len(samples)/2].Nanoseconds()) / 1e3
	r.P99US = float64(samples[len(samples)*99/100].Nanoseconds()) / 1e3
	return r, nil
}
