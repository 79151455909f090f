// SPDX-License-Identifier: GPL-2.0-or-later

package test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// kernelDir is where make check unpacks Debian's cloud kernel package
// (test/install-deps.sh): boot/vmlinuz-* and lib/modules/*/kernel/....
const kernelDir = "/var/cache/passt-go-test/kernel"

// virtioModules are loaded in this order to get a virtio-net NIC.
var virtioModules = []string{
	"drivers/virtio/virtio_ring.ko",
	"drivers/virtio/virtio.ko",
	"drivers/virtio/virtio_pci_legacy_dev.ko",
	"drivers/virtio/virtio_pci_modern_dev.ko",
	"drivers/virtio/virtio_pci.ko",
	"net/core/failover.ko",
	"drivers/net/net_failover.ko",
	"drivers/net/virtio_net.ko",
}

const guestInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in %s; do insmod /lib/modules/$m; done
ip link set lo up
ip link set eth0 up
udhcpc -f -q -n -t 10 -T 2 -O mtu -i eth0 -s /lease.sh
for arg in $(cat /proc/cmdline); do case "$arg" in passt_url=*) url="${arg#passt_url=}";; esac; done
if [ -n "$url" ]; then
	sum=$(wget -q -O - "$url" | sha256sum)
	echo "DOWNLOAD ${sum%% *}"
fi
nc -l -p 8080 -e /bin/cat &
sleep 1
echo LISTENING
sleep 30
echo PASST-TEST-DONE
poweroff -f
`

const guestLease = `#!/bin/sh
case "$1" in bound)
	echo "LEASE ip=$ip router=$router mtu=$mtu subnet=$subnet"
	ifconfig eth0 "$ip" netmask "$subnet" mtu "$mtu" up
	route add default gw "$router"
	;;
esac
exit 0
`

// cpioNewc writes a "newc" cpio archive of the given files (path -> mode,
// data), with the directories they need.
func cpioNewc(files map[string]struct {
	mode uint32
	data []byte
}) []byte {
	var b bytes.Buffer
	ino := 1
	write := func(name string, mode uint32, data []byte) {
		fmt.Fprintf(&b, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
		ino++
		b.WriteString(name)
		b.WriteByte(0)
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
		b.Write(data)
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	dirs := map[string]bool{}
	for name := range files {
		for d := filepath.Dir(name); d != "." && d != "/"; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	for _, d := range []string{"proc", "sys", "dev", "bin", "sbin", "usr", "usr/bin", "usr/sbin", "lib", "lib/modules"} {
		dirs[d] = true
	}
	// Parents before children, in a stable order.
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		write(d, 0o040755, nil)
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		write(name, files[name].mode, files[name].data)
	}
	write("TRAILER!!!", 0, nil)
	return b.Bytes()
}

// buildInitramfs makes a gzipped initramfs with static busybox, the virtio
// modules and an init that asks for a DHCP lease and powers off.
func buildInitramfs(t *testing.T, modDir string) string {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal(err)
	}
	bbData, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if ef, err := elf.Open(bb); err == nil {
		for _, p := range ef.Progs {
			if p.Type == elf.PT_INTERP {
				t.Fatal("busybox is not static: install busybox-static")
			}
		}
		ef.Close()
	}
	files := map[string]struct {
		mode uint32
		data []byte
	}{
		"bin/busybox": {0o100755, bbData},
		"lease.sh":    {0o100755, []byte(guestLease)},
	}
	var names []string
	for _, m := range virtioModules {
		data, err := os.ReadFile(filepath.Join(modDir, m))
		if err != nil {
			t.Fatalf("kernel module: %v (make check unpacks Debian's kernel into %s)", err, kernelDir)
		}
		name := filepath.Base(m)
		files["lib/modules/"+name] = struct {
			mode uint32
			data []byte
		}{0o100644, data}
		names = append(names, name)
	}
	files["init"] = struct {
		mode uint32
		data []byte
	}{0o100755, []byte(fmt.Sprintf(guestInit, strings.Join(names, " ")))}

	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(cpioNewc(files))
	w.Close()
	path := filepath.Join(t.TempDir(), "initrd.gz")
	if err := os.WriteFile(path, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestQEMU boots a real Linux guest under QEMU (TCG) against passt over
// -netdev stream; the guest's DHCP client gets its lease from passt.
func TestQEMU(t *testing.T) {
	requireCommands(t, "qemu-system-x86_64", "busybox")
	kernels, _ := filepath.Glob(filepath.Join(kernelDir, "boot", "vmlinuz-*"))
	mods, _ := filepath.Glob(filepath.Join(kernelDir, "lib", "modules", "*", "kernel"))
	if len(kernels) == 0 || len(mods) == 0 {
		msg := "no kernel in " + kernelDir + ": make check installs it (test/install-deps.sh)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	initrd := buildInitramfs(t, mods[0])
	fwdPort := lowPort(t)
	sock, s, _ := startPasst(t, "-a", "10.0.2.15", "-n", "24", "-g", "10.0.2.2", "-D", "10.0.2.3",
		"-t", fmt.Sprintf("%d:8080", fwdPort))

	// A 10 MiB file the guest downloads from the host through the
	// gateway address.
	data := randomData(t, 10<<20)
	wantSum := fmt.Sprintf("%x", sha256.Sum256(data))
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(data) }))
	url := fmt.Sprintf("http://10.0.2.2:%d/file", ln.Addr().(*net.TCPAddr).Port)

	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-nographic",
		"-no-reboot", "-kernel", kernels[0], "-initrd", initrd,
		"-append", "console=ttyS0 quiet panic=-1 passt_url="+url,
		"-device", "virtio-net-pci,netdev=s",
		"-netdev", "stream,id=s,server=off,addr.type=unix,addr.path="+sock)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var console strings.Builder
	lease, download, echoed := "", "", false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		console.WriteString(line + "\n")
		if i := strings.Index(line, "LEASE "); i >= 0 {
			lease = line[i:]
		}
		if i := strings.Index(line, "DOWNLOAD "); i >= 0 {
			download = strings.TrimSpace(line[i+len("DOWNLOAD "):])
		}
		if strings.Contains(line, "LISTENING") {
			// A connection to the host's port, forwarded with -t to
			// the guest's echo server.
			echoed = echoThrough(t, fwdPort)
			break
		}
		if strings.Contains(line, "PASST-TEST-DONE") {
			break
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	want := "LEASE ip=10.0.2.15 router=10.0.2.2 mtu=65520 subnet=255.255.255.0"
	if lease != want {
		t.Errorf("guest lease %q, want %q\nconsole:\n%s", lease, want, console.String())
	}
	if !echoed {
		t.Errorf("no echo from the guest through -t\nconsole:\n%s", console.String())
	}
	if download != wantSum {
		t.Errorf("guest's download: sha256 %q, want %s\nconsole:\n%s", download, wantSum, console.String())
	}
	_ = s
}

// echoThrough sends a message to the host's port and expects it back.
func echoThrough(t *testing.T, port int) bool {
	c, err := net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Logf("connect: %v", err)
		return false
	}
	defer c.Close()
	msg := randomData(t, 64<<10)
	go c.Write(msg)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Logf("echo: %v", err)
		return false
	}
	return bytes.Equal(got, msg)
}
