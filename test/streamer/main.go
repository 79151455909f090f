// SPDX-License-Identifier: GPL-2.0-or-later

// Command streamer is the guest side of the robustness tests, run inside a
// network namespace: it sends or receives a keyed pseudo-random stream
// (package passt/test/pattern), checking every byte on the fly and failing
// on a stall, and it makes or serves short request-reply connections for
// churn tests.
//
// Usage:
//
//	streamer send ADDR KEY SIZE          connect, send SIZE bytes, half-close, wait for EOF
//	streamer recv ADDR KEY [AT PAUSE]    connect, receive and check until EOF
//	streamer serve-send PORT KEY SIZE    accept one connection, then as send
//	streamer serve-recv PORT KEY [AT PAUSE] accept one connection, then as recv
//	streamer churn ADDR[,ADDR...] N [P]  N connections (P at a time): 1-byte request, reply, close
//	streamer echo-serve PORT[,PORT...]   answer each connection's byte, then close
//	streamer same-port LOCAL ADDR N      N churn connections one after the other, all
//	                                     from LOCAL (host:port); prints "ok SLOWEST"
//
// AT and PAUSE make the receiver stop reading for PAUSE (a Go duration)
// once AT bytes have arrived. A transfer with no progress for longer than
// the -stall duration (1s) fails. Servers print "ready" once listening;
// every command prints a last line "ok N" (N bytes or connections) or
// exits with status 1 and the reason on stderr.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"passt/test/churn"
	"passt/test/pattern"
)

var stall = flag.Duration("stall", time.Second, "longest time without progress")

func main() {
	flag.Parse()
	args := flag.Args()
	if len(args) < 2 {
		fail("usage: streamer send|recv|serve-send|serve-recv|churn|echo-serve ...")
	}
	switch args[0] {
	case "send", "serve-send":
		if len(args) != 4 {
			fail("%s: ADDR|PORT KEY SIZE", args[0])
		}
		c := open(args[0] == "serve-send", args[1])
		size, err := strconv.ParseInt(args[3], 10, 64)
		check(err)
		if err := pattern.Send(c, key(args[2]), size, *stall); err != nil {
			fail("send: %v", err)
		}
		pattern.CloseWrite(c)
		// Wait for the peer to close, so nothing is in flight when we exit.
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, _ = io.Copy(io.Discard, c)
		fmt.Println("ok", size)
	case "recv", "serve-recv":
		if len(args) != 3 && len(args) != 5 {
			fail("%s: ADDR|PORT KEY [AT PAUSE]", args[0])
		}
		c := open(args[0] == "serve-recv", args[1])
		var at int64
		var pause time.Duration
		if len(args) == 5 {
			var err error
			at, err = strconv.ParseInt(args[3], 10, 64)
			check(err)
			pause, err = time.ParseDuration(args[4])
			check(err)
		}
		n, err := pattern.Receive(c, key(args[2]), *stall, at, pause)
		if err != nil {
			fail("receive: %v", err)
		}
		c.Close()
		fmt.Println("ok", n)
	case "churn":
		n, err := strconv.Atoi(args[2])
		check(err)
		par := 1
		if len(args) > 3 {
			par, err = strconv.Atoi(args[3])
			check(err)
		}
		if err := churn.Churn(strings.Split(args[1], ","), n, par); err != nil {
			fail("%v", err)
		}
		fmt.Println("ok", n)
	case "same-port":
		if len(args) != 4 {
			fail("same-port: LOCAL ADDR N")
		}
		n, err := strconv.Atoi(args[3])
		check(err)
		slowest, err := churn.SamePort(args[1], args[2], n)
		check(err)
		fmt.Println("ok", slowest)
	case "echo-serve":
		for _, p := range strings.Split(args[1], ",") {
			ln := listen(p)
			go func() {
				if err := churn.EchoServe(ln); err != nil {
					fail("%v", err)
				}
			}()
		}
		fmt.Println("ready")
		select {}
	default:
		fail("unknown command %q", args[0])
	}
}

// open connects to addr, or listens on port addr and accepts one
// connection.
func open(serve bool, addr string) *net.TCPConn {
	if !serve {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		check(err)
		return c.(*net.TCPConn)
	}
	ln := listen(addr)
	fmt.Println("ready")
	c, err := ln.Accept()
	check(err)
	ln.Close()
	return c.(*net.TCPConn)
}

func listen(port string) net.Listener {
	ln, err := net.Listen("tcp", ":"+port)
	check(err)
	return ln
}

func key(s string) uint64 {
	k, err := strconv.ParseUint(s, 10, 64)
	check(err)
	return k
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "streamer: "+format+"\n", a...)
	os.Exit(1)
}
