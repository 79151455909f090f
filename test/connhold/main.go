// SPDX-License-Identifier: GPL-2.0-or-later

// Command connhold is a test helper run inside a network namespace: it
// listens on one or more TCP ports and holds every connection it accepts
// open, echoing what it receives, so that tests can keep tens of thousands
// of idle connections through passt or pasta.
//
// Each connection costs one socket and one goroutine with a small buffer:
// not io.Copy, which between two TCP connections splices through a pipe
// held for as long as the copy waits, two more descriptors per connection.
// The descriptor limit is raised to the hard limit by the Go runtime; the
// caller raises the hard limit for more than it allows.
//
// Usage: connhold PORT[,PORT...]
package main

import (
	"fmt"
	"net"
	"os"
	"strings"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: connhold PORT[,PORT...]")
		os.Exit(2)
	}
	for _, port := range strings.Split(os.Args[1], ",") {
		ln, err := net.Listen("tcp", ":"+port)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		go serve(ln)
	}
	fmt.Println("ready")
	select {}
}

// serve accepts connections on ln and echoes on each until it ends.
func serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		go echo(c)
	}
}

// echo writes back what c receives, until the end of its stream.
func echo(c net.Conn) {
	defer c.Close()
	var buf [512]byte
	for {
		n, err := c.Read(buf[:])
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
