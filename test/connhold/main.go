// SPDX-License-Identifier: GPL-2.0-or-later

// Command connhold is a test helper run inside a network namespace: it
// listens on a TCP port and holds every connection it accepts open,
// echoing what it receives, so that tests can keep thousands of idle
// connections through passt or pasta.
//
// Usage: connhold PORT
package main

import (
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: connhold PORT")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", ":"+os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("ready")
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
		}()
	}
}
