#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# make bench: iperf3 throughput through pasta, for this project and, in the
# same run, Debian's passt package (upstream), with the host's loopback as
# the ceiling. Paths: namespace to host and host to namespace through the
# tap (at MTU 65520 and 1500), and through the splice bypass (loopback).
# Each figure is the median of RUNS runs of SECS seconds, in Gbit/s; the
# spread (slowest and fastest) follows in brackets. Results go to
# bench-out/results.md. Needs root (for apt-get and a world-usable
# /dev/net/tun).
set -eu

RUNS=${RUNS:-3}
SECS=${SECS:-3}
OUT=bench-out
mkdir -p "$OUT"

need=""
command -v iperf3 >/dev/null || need="$need iperf3"
[ -x /usr/bin/pasta ] || need="$need passt"
if [ -n "$need" ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
chmod 0666 /dev/net/tun
# Both implementations run as an unprivileged user, as podman and
# rootlesskit run them (and as Debian's 2023 pasta needs).
user=passt-test
id "$user" >/dev/null 2>&1 || useradd -m -s /bin/sh "$user"
as_user() { setpriv --reuid="$user" --regid="$user" --clear-groups --reset-env "$@"; }

ours="$(pwd)/pasta"
upstream=/usr/bin/pasta
gw=$(ip -4 route show default | awk '{ print $3; exit }')
hostaddr=$(ip -4 -o addr show scope global | awk '{ split($4, a, "/"); print a[1]; exit }')
port=5201

# gbps FILE: the receiver's rate from iperf3's JSON output, in Gbit/s.
gbps() {
	awk -F: '/"sum_received"/ { s = 1 } s && /"bits_per_second"/ { gsub(/[ ,]/, "", $2); printf "%.2f\n", $2 / 1e9; exit }' "$1"
}

# median of the numbers on stdin, with min and max.
stats() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit }
		printf "%.2f [%.2f-%.2f]", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

# run IMPL PATH MTU: one measurement, printed in Gbit/s.
run() {
	impl=$1 path=$2 mtu=$3 f=$(mktemp)
	case $path in
	ns-host-tap)
		iperf3 -s -1 -B 127.0.0.1 -p $port >/dev/null 2>&1 &
		sleep 0.3
		as_user "$impl" --config-net -m "$mtu" -t none -u none -T none -U none -- \
			iperf3 -c "$gw" -p $port -t "$SECS" -J >"$f" 2>/dev/null || true
		wait ;;
	host-ns-tap)
		as_user "$impl" --config-net -m "$mtu" -t $port -u none -T none -U none -- \
			iperf3 -s -1 -p $port >/dev/null 2>&1 &
		sleep 1.5
		iperf3 -c "$hostaddr" -p $port -t "$SECS" -J >"$f" 2>/dev/null || true
		wait ;;
	host-ns-splice)
		as_user "$impl" --config-net -m "$mtu" -t $port -u none -T none -U none -- \
			iperf3 -s -1 -p $port >/dev/null 2>&1 &
		sleep 1.5
		iperf3 -c 127.0.0.1 -p $port -t "$SECS" -J >"$f" 2>/dev/null || true
		wait ;;
	ns-host-splice)
		iperf3 -s -1 -B 127.0.0.1 -p $((port + 1)) >/dev/null 2>&1 &
		sleep 0.3
		as_user "$impl" --config-net -m "$mtu" -t none -u none -T $((port + 1)) -U none -- \
			iperf3 -c 127.0.0.1 -p $((port + 1)) -t "$SECS" -J >"$f" 2>/dev/null || true
		wait ;;
	loopback)
		iperf3 -s -1 -B 127.0.0.1 -p $port >/dev/null 2>&1 &
		sleep 0.3
		iperf3 -c 127.0.0.1 -p $port -t "$SECS" -J >"$f" 2>/dev/null || true
		wait ;;
	esac
	gbps "$f"
	rm -f "$f"
}

measure() {
	i=0
	while [ $i -lt "$RUNS" ]; do run "$@"; i=$((i + 1)); done | stats
}

{
	echo "# Throughput, Gbit/s (median [min-max] of $RUNS runs of ${SECS}s)"
	echo
	echo "Host loopback ceiling: $(measure "$ours" loopback 0)"
	echo
	echo "| path | MTU | passt-go pasta | Debian pasta | ratio |"
	echo "| --- | --- | --- | --- | --- |"
	for path in ns-host-tap host-ns-tap; do
		for mtu in 65520 1500; do
			a=$(measure "$ours" $path $mtu)
			b=$(measure "$upstream" $path $mtu)
			r=$(echo "$a $b" | awk '{ if ($3 + 0 > 0) printf "%.2f", $1 / $3; else print "-" }')
			echo "| $path | $mtu | $a | $b | $r |"
		done
	done
	for path in host-ns-splice ns-host-splice; do
		a=$(measure "$ours" $path 65520)
		b=$(measure "$upstream" $path 65520)
		r=$(echo "$a $b" | awk '{ if ($3 + 0 > 0) printf "%.2f", $1 / $3; else print "-" }')
		echo "| $path | - | $a | $b | $r |"
	done
} | tee "$OUT/results.md"
