#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Where passt spends its time with the shim guest (test/shim, the stand-in
# for QEMU), as make bench measures it: one iperf3 run between the shim's
# namespace and the host's loopback, with the CPU each party used per GB
# moved, how idle the machine was, and on request the system calls passt
# made (perf stat) or a CPU profile (perf record). Builds passt with its
# symbols (make's binary is stripped). See docs/profiling.md.
#
# Usage (as root): test/bench-passt-profile.sh [g2h|h2g] [MTU] [SECONDS]
#   defaults: g2h 1500 4 (g2h: guest to host; h2g: host to guest)
#   PASST=/usr/bin/passt ...   measures another passt (Debian's, say)
#   SYSCALLS=1 ...             counts passt's system calls for 2 s
#   PROFILE=1 ...              records passt for 2 s into build/profile/passt.perf
#   SS=1 ...                   prints ss -ti of the guest's side mid-run
#   SHIM_GRO=0 ...             the plain shim (no -gro, no -gso): one tap
#                              write per frame to the guest, one tap read
#                              per frame from it
# Output: one line of figures, then what was asked for.
set -eu

dir=${1:-g2h}
mtu=${2:-1500}
secs=${3:-4}
case $dir in g2h|h2g) ;; *) echo "usage: $0 [g2h|h2g] [MTU] [SECONDS]" >&2; exit 2 ;; esac
. "$(dirname "$0")/profile-common.sh"
profile_setup bench-passt-profile

out=build/profile
mkdir -p "$out"
CGO_ENABLED=0 go build -o "$out/shim" ./test/shim
if [ -z "${PASST:-}" ]; then
	profile_build "$out"
	PASST=$out/passt
fi

port=${PORT:-5301}
tmp=$(mktemp -d)
chmod 0777 "$tmp" # passt started as root runs as nobody
pids=""
cleanup() { kill $pids 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

unshare -n sleep infinity &
holder=$!
pids="$pids $holder"
in_guest() { nsenter -t "$holder" -n -- "$@"; }
"$PASST" -f -q -s "$tmp/sock" -4 -a 10.0.2.15 -n 24 -g 10.0.2.2 -m "$mtu" \
	-t $((port + 1)) -u none >"$tmp/passt.log" 2>&1 &
passt=$!
pids="$pids $passt"
for _ in $(seq 100); do [ -S "$tmp/sock" ] && break; sleep 0.05; done
gro="-gro -gso"
[ "${SHIM_GRO:-1}" = 0 ] && gro=
nsenter -t "$holder" -n -- "$out/shim" $gro "$tmp/sock" tap0 "$mtu" >"$tmp/shim.log" 2>&1 &
shim=$!
pids="$pids $shim"
for _ in $(seq 100); do grep -q ready "$tmp/shim.log" && break; sleep 0.05; done
grep -q ready "$tmp/shim.log" || { cat "$tmp/shim.log" "$tmp/passt.log" >&2; exit 1; }
in_guest ip link set tap0 up
in_guest ip addr add 10.0.2.15/24 dev tap0
in_guest ip route add default via 10.0.2.2
in_guest ping -c 1 -W 1 10.0.2.2 >/dev/null || true # teaches passt the MAC

calls="raw_syscalls:sys_enter"
for c in read recvfrom recvmsg sendmsg writev getsockopt epoll_pwait epoll_wait epoll_ctl; do
	calls="$calls,syscalls:sys_enter_$c"
done
observe() { # mid-run, in the background
	sleep 1
	if [ -n "${SYSCALLS:-}" ]; then
		perf stat -e "$calls" -p "$passt" -- sleep 2 >"$tmp/syscalls" 2>&1
	fi
	if [ -n "${PROFILE:-}" ]; then
		perf record -e cpu-clock -F 2000 -g -o "$out/passt.perf" -p "$passt" -- sleep 2 >/dev/null 2>&1
	fi
	if [ -n "${SS:-}" ]; then
		in_guest ss -tin >"$tmp/ss"
	fi
}
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }

if [ "$dir" = g2h ]; then
	iperf3 -s -1 -p "$port" -B 127.0.0.1 >/dev/null 2>&1 &
	pids="$pids $!"
	client=(in_guest iperf3 -c 10.0.2.2 -p "$port")
else
	in_guest iperf3 -s -1 -p $((port + 1)) >/dev/null 2>&1 &
	pids="$pids $!"
	client=(iperf3 -c 127.0.0.1 -p $((port + 1)))
fi
sleep 0.3
observe &
watcher=$!
p0=$(cpu "$passt") s0=$(cpu "$shim") t0=$(head -1 /proc/stat)
"${client[@]}" -t "$secs" -J >"$tmp/iperf.json"
p1=$(cpu "$passt") s1=$(cpu "$shim") t1=$(head -1 /proc/stat)
wait "$watcher"

python3 - "$tmp/iperf.json" "$p0 $p1 $s0 $s1" "$t0" "$t1" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
gb = j['end']['sum_received']['bytes'] / 1e9
p0, p1, s0, s1 = map(int, sys.argv[2].split())
t0 = [int(x) for x in sys.argv[3].split()[1:]]
t1 = [int(x) for x in sys.argv[4].split()[1:]]
d = [b - a for a, b in zip(t0, t1)]
idle = d[3] + d[4]
hz = 100  # clock ticks per second in /proc
print('%.2f Gbit/s; CPU-ms per GB: passt %.0f, shim %.0f, machine %.0f; machine idle %.0f%%' % (
    j['end']['sum_received']['bits_per_second'] / 1e9,
    (p1 - p0) * 1000 / hz / gb, (s1 - s0) * 1000 / hz / gb,
    (sum(d) - idle) * 1000 / hz / gb, 100 * idle / sum(d)))
EOF
[ -s "$tmp/syscalls" ] && grep sys_enter "$tmp/syscalls" | awk '$1 != "0" && $1 != "<not"'
[ -s "$tmp/ss" ] && cat "$tmp/ss"
if [ -n "${PROFILE:-}" ]; then
	perf report -i "$out/passt.perf" --no-children --sort dso,symbol -g none --stdio 2>/dev/null |
		grep -v '^#' | grep -v '^$' | head -30
fi
