// SPDX-License-Identifier: GPL-2.0-or-later

package test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The DNS tests need a resolver on the "host" that nothing else uses: they
// run pasta (or rootlesskit) in a network namespace of their own standing
// for the host, with a veth pair carrying a default route (the template
// interface), a private /etc/resolv.conf, and udptool's DNS server on the
// host loopback addresses given.

// dnsHostScript prepares such a host namespace and runs the command given
// as its arguments there; $RESOLV, $UDPTOOL, $DNSLOG and $DNSADDRS come
// from the environment.
const dnsHostScript = `set -e
ip link set lo up
ip link add hv0 type veth peer name hv1
ip link set hv1 up
ip link set hv0 up
ip addr add 10.77.0.1/24 dev hv0
ip route add default via 10.77.0.254
ip -6 addr add fd77::1/64 dev hv0 nodad
ip -6 route add default via fd77::fe dev hv0
mount --bind "$RESOLV" /etc/resolv.conf
"$UDPTOOL" dnsd $DNSADDRS >"$DNSLOG" 2>&1 &
dnsd=$!
trap 'kill $dnsd' EXIT
i=0
while ! grep -q ready "$DNSLOG"; do
	i=$((i + 1)); [ $i -lt 200 ] || { cat "$DNSLOG" >&2; exit 1; }
	sleep 0.05
done
set +e
"$@"
`

// inDNSHost runs args in a fresh host namespace with resolv as its
// resolv.conf and the test resolver on addrs; it returns the command's
// combined output and the resolver's log.
func inDNSHost(t *testing.T, resolv string, addrs []string, args ...string) (string, string, error) {
	t.Helper()
	requireRoot(t)
	requireCommands(t, "unshare", "ip", "mount")
	dir := tempDirFor(t, 65534)
	rc := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(rc, []byte(resolv), 0o644); err != nil {
		t.Fatal(err)
	}
	dnslog := filepath.Join(dir, "dns.log")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", append([]string{"--net", "--mount", "--", "sh", "-c", dnsHostScript, "dnshost"}, args...)...)
	cmd.Env = append(os.Environ(), "RESOLV="+rc, "UDPTOOL="+udptoolBin, "DNSLOG="+dnslog,
		"DNSADDRS="+strings.Join(addrs, " "))
	out, err := cmd.CombinedOutput()
	log, _ := os.ReadFile(dnslog)
	return string(out), string(log), err
}

// TestDNSForward: queries from the namespace to the --dns-forward
// addresses reach the --dns-host resolvers on host loopback, over UDP and
// TCP, IPv4 and IPv6, and the answers come back from the forward address
// (udptool's sockets are connected to it: nothing else would be read).
func TestDNSForward(t *testing.T) {
	testUser(t)
	script := fmt.Sprintf(`%[1]s dns udp 10.0.2.3 a.test && %[1]s dns tcp 10.0.2.3 b.test &&
%[1]s dns udp fd00:abcd::3 c.test6 && %[1]s dns tcp fd00:abcd::3 d.test6`, udptoolBin)
	out, log, err := inDNSHost(t, "nameserver 192.0.2.1\n", []string{"127.0.0.1", "::1"},
		pastaBin(t), "--config-net", "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2",
		"-a", "fd00:abcd::2", "-g", "fd00:abcd::1",
		"--dns-forward", "10.0.2.3", "--dns-forward", "fd00:abcd::3",
		"--dns-host", "127.0.0.1", "--dns-host", "::1", "--", "sh", "-c", script)
	if err != nil {
		t.Fatalf("%v: %s\nresolver: %s", err, out, log)
	}
	if strings.Count(out, "A 192.0.2.53\n") != 2 || strings.Count(out, "AAAA 2001:db8::53\n") != 2 {
		t.Errorf("answers: %s", out)
	}
	for _, q := range []string{"query udp a.test 1", "query tcp b.test 1", "query udp c.test6 28", "query tcp d.test6 28"} {
		if !strings.Contains(log, q) {
			t.Errorf("resolver did not see %q: %s", q, log)
		}
	}
}

// TestDNSLoopbackResolver: with a loopback resolver in resolv.conf (as
// systemd-resolved's 127.0.0.53) and no DNS options, queries to the
// gateway address reach that resolver (contract §6.9), over UDP and TCP.
func TestDNSLoopbackResolver(t *testing.T) {
	testUser(t)
	script := fmt.Sprintf(`%[1]s dns udp 10.0.2.2 e.test && %[1]s dns tcp 10.0.2.2 f.test`, udptoolBin)
	out, log, err := inDNSHost(t, "nameserver 127.0.0.53\n", []string{"127.0.0.53"},
		pastaBin(t), "--config-net", "-4", "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2", "--", "sh", "-c", script)
	if err != nil {
		t.Fatalf("%v: %s\nresolver: %s", err, out, log)
	}
	if strings.Count(out, "A 192.0.2.53\n") != 2 || !strings.Contains(log, "query udp e.test 1") || !strings.Contains(log, "query tcp f.test 1") {
		t.Errorf("answers: %s\nresolver: %s", out, log)
	}
}

// rootlesskitCmd returns the arguments that run rootlesskit as the test
// user with pasta first in PATH (through setpriv, to be usable inside
// another command).
func rootlesskitCmd(t *testing.T, args ...string) []string {
	t.Helper()
	requireCommands(t, "newuidmap", "newgidmap", "setpriv")
	rk := rootlesskitBin(t)
	uid, gid := testUser(t)
	bin := filepath.Join(tempDirFor(t, 65534), "rootlesskit")
	data, err := os.ReadFile(rk)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Dir(pastaBin(t)) + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	return append([]string{"setpriv", fmt.Sprintf("--reuid=%d", uid), fmt.Sprintf("--regid=%d", gid), "--clear-groups",
		"env", "-i", "PATH=" + path, "HOME=/home/" + testUserName, "USER=" + testUserName, "SHELL=/bin/sh",
		"sh", "-c", `cd /tmp && exec "$0" "$@"`, bin}, args...)
}

// TestRootlesskitDNS: in rootlesskit --net=pasta, busybox nslookup
// through 10.0.2.3 (the --dns-forward address rootlesskit gives pasta and
// writes into the namespace's resolv.conf) gets its answer from the host's
// resolver.
func TestRootlesskitDNS(t *testing.T) {
	requireCommands(t, "busybox")
	args := rootlesskitCmd(t, "--net=pasta", "--port-driver=none", "--copy-up=/etc",
		"sh", "-c", "cat /etc/resolv.conf; busybox nslookup host.test")
	out, log, err := inDNSHost(t, "nameserver 127.0.0.1\n", []string{"127.0.0.1"}, args...)
	if err != nil {
		t.Fatalf("rootlesskit: %v: %s\nresolver: %s", err, out, log)
	}
	if !strings.Contains(out, "nameserver 10.0.2.3") || !strings.Contains(out, "192.0.2.53") {
		t.Errorf("nslookup through 10.0.2.3: %s", out)
	}
	if !strings.Contains(log, "query udp host.test") {
		t.Errorf("the host's resolver saw no query: %s", log)
	}
}

// TestRootlesskitImplicitPorts: rootlesskit --net=pasta
// --port-driver=implicit (pasta with -t auto -u auto): a TCP port bound
// inside becomes reachable from the host's 127.0.0.1 within 2 s, so does a
// UDP port, and a connection from the child to the host through 10.0.2.2
// works.
func TestRootlesskitImplicitPorts(t *testing.T) {
	requireCommands(t, "socat")
	tcpPort, udpP := udpPort(t), udpPort(t)
	host := hostServer(t, "tcp4", "127.0.0.1:0", hashReply)
	got := filepath.Join(tempDirFor(t, 65534), "got")
	script := fmt.Sprintf(`socat -u TCP-LISTEN:%d,reuseaddr - | sha256sum >%s &
sum=$!
%s echo [::]:%d >/dev/null 2>&1 &
echo=$!
echo started
echo hello | socat -t 10 - TCP:10.0.2.2:%d; echo
read x
kill $echo
wait $sum
cat %s`, tcpPort, got, udptoolBin, udpP, host, got)
	args := rootlesskitCmd(t, "--net=pasta", "--port-driver=implicit", "--copy-up=/etc", "sh", "-c", script)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.WaitDelay = 5 * time.Second
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	r := bufio.NewReader(stdout)
	if line, err := readLine(r, 30*time.Second); err != nil || line != "started" {
		t.Fatalf("rootlesskit: %q %v: %s", line, err, stderr.String())
	}
	want := fmt.Sprintf("%x", sha256.Sum256([]byte("hello\n")))
	if line, err := readLine(r, 15*time.Second); err != nil || line != want {
		t.Errorf("child -> host through 10.0.2.2: %q (%v), want the host's hash %s", line, err, want)
	}

	start := time.Now()
	var c net.Conn
	for {
		var err error
		c, err = net.Dial("tcp4", hostPort("127.0.0.1", tcpPort))
		if err == nil {
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("TCP port %d bound in the child not reachable from the host within 2 s: %v", tcpPort, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	data := randomData(t, 1<<20)
	c.Write(data)
	c.Close()

	u, err := net.Dial("udp4", hostPort("127.0.0.1", udpP))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	buf := make([]byte, 100)
	for {
		u.Write([]byte("probe"))
		u.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, err := u.Read(buf); err == nil && string(buf[:n]) == "probe" {
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("UDP port %d bound in the child not forwarded within 2 s", udpP)
		}
	}
	stdin.Close()
	rest, _ := io.ReadAll(r)
	if want := fmt.Sprintf("%x", sha256.Sum256(data)); !strings.Contains(string(rest), want) {
		t.Errorf("host -> child through the implicit port: child's hash %q, want %s", rest, want)
	}
}
