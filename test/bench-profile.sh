#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# A CPU profile of pasta while iperf3 runs through its tap, with perf:
# builds this project's binary with its symbols (make's binary is stripped,
# and perf cannot name Go functions without the symbol table), attaches
# pasta to a fresh namespace as make bench does, records the pasta process
# during the transfer, and prints the functions that took the most CPU.
# See docs/profiling.md for how to read the result.
#
# Usage (as root): test/bench-profile.sh [ns-host|host-ns] [MTU] [SECONDS]
#   defaults: ns-host 65520 5
#   PASTA=/usr/bin/pasta test/bench-profile.sh ...  profiles another pasta
#   (Debian's is stripped: expect addresses instead of names in it).
# Output: build/profile/perf.data, and the top of its report on stdout.
set -eu

dir=${1:-ns-host}
mtu=${2:-65520}
secs=${3:-5}
case $dir in ns-host|host-ns) ;; *) echo "usage: $0 [ns-host|host-ns] [MTU] [SECONDS]" >&2; exit 2 ;; esac
. "$(dirname "$0")/profile-common.sh"
profile_setup bench-profile

out=build/profile
mkdir -p "$out"
if [ -z "${PASTA:-}" ]; then
	profile_build "$out"
	ln -f "$out/passt" "$out/pasta"
	chmod 0755 build "$out"
	PASTA=$(pwd)/$out/pasta
fi

chmod 0666 /dev/net/tun
user=passt-test
id "$user" >/dev/null 2>&1 || useradd -m -s /bin/sh "$user"
as_user() { setpriv --reuid="$user" --regid="$user" --clear-groups --reset-env "$@"; }

tmp=$(mktemp -d)
chown "$user" "$tmp"
port=$(awk 'BEGIN { srand(); print 20000 + int(rand() * 10000) }')
holder="" pasta=""
cleanup() {
	[ -n "$pasta" ] && kill "$pasta" 2>/dev/null
	[ -n "$holder" ] && kill "$holder" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# The namespace: an unprivileged holder, as in make bench.
setpriv --reuid="$user" --regid="$user" --clear-groups --reset-env unshare -Urn sleep 600 &
holder=$!
while [ "$(readlink /proc/$holder/ns/net)" = "$(readlink /proc/self/ns/net)" ]; do sleep 0.05; done
fwd=$port
[ "$dir" = ns-host ] && fwd=none # the host's server listens on $port itself
as_user "$PASTA" --config-net -q -P "$tmp/pid" -m "$mtu" -t "$fwd" -T none -u none -U none "$holder"
pasta=$(cat "$tmp/pid")
gw=$(nsenter -t "$holder" -n ip -4 route show default | awk '{ print $3; exit }')
hostaddr=$(ip -4 -o addr show scope global | awk '{ split($4, a, "/"); print a[1]; exit }')

if [ "$dir" = ns-host ]; then
	iperf3 -s -1 -B 127.0.0.1 -p "$port" >/dev/null &
	server=$!
	sleep 0.5
	nsenter -t "$holder" -n iperf3 -c "$gw" -p "$port" -t "$secs" | grep receiver &
else
	nsenter -t "$holder" -n iperf3 -s -1 -p "$port" >/dev/null &
	server=$!
	sleep 0.5
	iperf3 -c "$hostaddr" -p "$port" -t "$secs" | grep receiver &
fi
client=$!
sleep 0.5
perf record -q -e cpu-clock -g -p "$pasta" -o "$out/perf.data" -- sleep $((secs - 1))
wait "$client" || true
wait "$server" || true

echo "== pasta ($PASTA), $dir through the tap, MTU $mtu: functions by CPU samples (self)"
perf report -i "$out/perf.data" --stdio --no-children --sort dso,symbol -g none --percent-limit 1.5 2>/dev/null |
	grep '%' | head -30
echo "== call chains: perf report -i $out/perf.data --no-children -g caller"
