// SPDX-License-Identifier: GPL-2.0-or-later

package test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"passt/test/pattern"
)

// The robustness tests (issue 8): integrity of long transfers, churn,
// capacity, faults and hostile input. `make soak` runs them with
// PASST_SOAK=1, at full length; `make check` runs short versions.

// soak reports whether the long versions run.
func soak() bool { return os.Getenv("PASST_SOAK") != "" }

// soakOr returns long under `make soak`, short otherwise.
func soakOr[T any](short, long T) T {
	if soak() {
		return long
	}
	return short
}

// stallLimit is the longest a transfer may go without progress.
const stallLimit = time.Second

// streamerProc is a streamer (test/streamer) running in a namespace.
type streamerProc struct {
	cmd    *exec.Cmd
	stdout *bufio.Reader
	stderr bytes.Buffer
	done   chan struct{}
	result string
}

// startStreamer runs streamer with args in ns; a server ("serve-*",
// "echo-serve") is waited for until it listens.
func startStreamer(t *testing.T, ns string, args ...string) *streamerProc {
	t.Helper()
	p := &streamerProc{done: make(chan struct{})}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns, streamerBin, "-stall", stallLimit.String()}, args...)...)
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	p.stdout = bufio.NewReader(out)
	if strings.Contains(args[0], "serve") {
		line, err := p.stdout.ReadString('\n')
		if strings.TrimSpace(line) != "ready" {
			p.cmd.Process.Kill()
			p.cmd.Wait()
			t.Fatalf("streamer %v: not ready: %q %v: %s", args, line, err, p.stderr.String())
		}
	}
	go func() {
		b, _ := io.ReadAll(p.stdout)
		p.cmd.Wait()
		p.result = strings.TrimSpace(string(b))
		close(p.done)
	}()
	return p
}

// wait waits up to limit for the streamer to end and returns its last
// line, or an error with what it said on stderr.
func (p *streamerProc) wait(limit time.Duration) (string, error) {
	select {
	case <-p.done:
	case <-time.After(limit):
		p.cmd.Process.Kill()
		<-p.done
		return "", fmt.Errorf("still running after %v", limit)
	}
	if !p.cmd.ProcessState.Success() {
		return p.result, fmt.Errorf("%v: %s", p.cmd.ProcessState, strings.TrimSpace(p.stderr.String()))
	}
	return p.result, nil
}

// acceptOne listens on a host loopback address and hands over the first
// connection.
func acceptOne(t *testing.T, network, addr string) (int, <-chan *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan *net.TCPConn, 1)
	go func() {
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			close(ch)
			return
		}
		ch <- c.(*net.TCPConn)
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().(*net.TCPAddr).Port, ch
}

// accepted waits for the connection from acceptOne.
func accepted(t *testing.T, ch <-chan *net.TCPConn) *net.TCPConn {
	t.Helper()
	select {
	case c := <-ch:
		if c == nil {
			t.Fatal("accept failed")
		}
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no connection arrived within 10 s")
	}
	return nil
}

// dialHost connects from the host, retrying briefly while pasta's listener
// comes up.
func dialHost(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// hostSend sends the stream from the host side and waits for the guest to
// close; hostReceive receives and checks it.
func hostSend(t *testing.T, c *net.TCPConn, key uint64, size int64) {
	t.Helper()
	start := time.Now()
	if err := pattern.Send(c, key, size, stallLimit); err != nil {
		t.Errorf("host -> guest: %v", err)
		return
	}
	c.CloseWrite()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	io.Copy(io.Discard, c)
	logRate(t, size, time.Since(start))
}

func hostReceive(t *testing.T, c *net.TCPConn, key uint64, size int64) {
	t.Helper()
	start := time.Now()
	n, err := pattern.Receive(c, key, stallLimit, 0, 0)
	if err != nil {
		t.Errorf("guest -> host: %v", err)
		return
	}
	if n != size {
		t.Errorf("guest -> host: %d bytes of %d", n, size)
	}
	c.Close()
	logRate(t, size, time.Since(start))
}

func logRate(t *testing.T, size int64, d time.Duration) {
	t.Logf("%d MiB in %v (%.2f Gbit/s)", size>>20, d.Round(time.Millisecond), float64(size)*8/d.Seconds()/1e9)
}

// checkStreamer checks that a streamer ended with "ok N" for the expected N.
func checkStreamer(t *testing.T, p *streamerProc, what string, size int64, limit time.Duration) {
	t.Helper()
	res, err := p.wait(limit)
	if err != nil {
		t.Errorf("%s: guest side: %v", what, err)
		return
	}
	if res != fmt.Sprintf("ok %d", size) {
		t.Errorf("%s: guest side ended with %q, want ok %d", what, res, size)
	}
}

// TestIntegrity: a keyed pseudo-random stream, checked byte for byte as it
// arrives, in each direction, on connections opened by either side, through
// the tap (MTU 65520 and 1500) and through the splice bypass, with no stall
// longer than a second. 64 MiB each (1 GiB under make soak).
func TestIntegrity(t *testing.T) {
	size := soakOr[int64](64<<20, 1<<30)
	limit := soakOr(2*time.Minute, 20*time.Minute)
	tapPath := func(t *testing.T, mtu string) {
		ns := netns(t)
		port := freePort(t)
		attachPasta(t, ns, "-4", "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2", "-m", mtu,
			"-t", fmt.Sprint(port), "-u", "none", "-T", "none", "-U", "none", "--no-splice")
		t.Run("guest-connects/guest-to-host", func(t *testing.T) {
			hp, ch := acceptOne(t, "tcp4", "127.0.0.1:0")
			p := startStreamer(t, ns, "send", fmt.Sprintf("10.0.2.2:%d", hp), "1", fmt.Sprint(size))
			hostReceive(t, accepted(t, ch), 1, size)
			checkStreamer(t, p, "guest -> host", size, limit)
		})
		t.Run("guest-connects/host-to-guest", func(t *testing.T) {
			hp, ch := acceptOne(t, "tcp4", "127.0.0.1:0")
			p := startStreamer(t, ns, "recv", fmt.Sprintf("10.0.2.2:%d", hp), "2")
			hostSend(t, accepted(t, ch), 2, size)
			checkStreamer(t, p, "host -> guest", size, limit)
		})
		t.Run("host-connects/host-to-guest", func(t *testing.T) {
			p := startStreamer(t, ns, "serve-recv", fmt.Sprint(port), "3")
			hostSend(t, dialHost(t, fmt.Sprintf("127.0.0.1:%d", port)), 3, size)
			checkStreamer(t, p, "host -> guest", size, limit)
		})
		t.Run("host-connects/guest-to-host", func(t *testing.T) {
			p := startStreamer(t, ns, "serve-send", fmt.Sprint(port), "4", fmt.Sprint(size))
			hostReceive(t, dialHost(t, fmt.Sprintf("127.0.0.1:%d", port)), 4, size)
			checkStreamer(t, p, "guest -> host", size, limit)
		})
	}
	t.Run("tap/mtu65520", func(t *testing.T) { tapPath(t, "65520") })
	t.Run("tap/mtu1500", func(t *testing.T) { tapPath(t, "1500") })
	// The splice bypass does not see the MTU: one run covers it.
	t.Run("splice", func(t *testing.T) {
		ns := netns(t)
		in, out := freePort(t), freePort(t)
		attachPasta(t, ns, "-t", fmt.Sprint(in), "-T", fmt.Sprint(out), "-u", "none", "-U", "none")
		t.Run("guest-connects/guest-to-host", func(t *testing.T) {
			_, ch := acceptOne(t, "tcp4", fmt.Sprintf("127.0.0.1:%d", out))
			p := startStreamer(t, ns, "send", fmt.Sprintf("127.0.0.1:%d", out), "5", fmt.Sprint(size))
			hostReceive(t, accepted(t, ch), 5, size)
			checkStreamer(t, p, "guest -> host", size, limit)
		})
		t.Run("guest-connects/host-to-guest", func(t *testing.T) {
			_, ch := acceptOne(t, "tcp4", fmt.Sprintf("127.0.0.1:%d", out))
			p := startStreamer(t, ns, "recv", fmt.Sprintf("127.0.0.1:%d", out), "6")
			hostSend(t, accepted(t, ch), 6, size)
			checkStreamer(t, p, "host -> guest", size, limit)
		})
		t.Run("host-connects/host-to-guest", func(t *testing.T) {
			p := startStreamer(t, ns, "serve-recv", fmt.Sprint(in), "7")
			hostSend(t, dialHost(t, fmt.Sprintf("127.0.0.1:%d", in)), 7, size)
			checkStreamer(t, p, "host -> guest", size, limit)
		})
		t.Run("host-connects/guest-to-host", func(t *testing.T) {
			p := startStreamer(t, ns, "serve-send", fmt.Sprint(in), "8", fmt.Sprint(size))
			hostReceive(t, dialHost(t, fmt.Sprintf("127.0.0.1:%d", in)), 8, size)
			checkStreamer(t, p, "guest -> host", size, limit)
		})
	})
}

var _ = sync.Mutex{}
var _ = syscall.Kill
var _ = strconv.Itoa
