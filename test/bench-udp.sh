#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# UDP throughput through pasta (iperf3 -u, unlimited rate), for this project
# and, in the same run, Debian's passt package, with the host's loopback as
# the ceiling: namespace to host and host to namespace through the tap, and
# host to namespace and namespace to host through the loopback bypass, with
# 1472-byte datagrams (MTU 1500 and 65520) and 65000-byte ones (MTU 65520:
# at 1500 they would be IP fragments, which neither implementation
# forwards). Each figure is the rate the receiver got, median of RUNS runs of
# SECS seconds, in Gbit/s, with the spread (slowest and fastest) in
# brackets. Results go to bench-out/udp.md. Needs root (for apt-get and a
# world-usable /dev/net/tun) and ./pasta (make). Meant to be called by
# make bench (test/bench.sh) or on its own.
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
# Both run as an unprivileged user, as podman and rootlesskit run them.
user=passt-test
id "$user" >/dev/null 2>&1 || useradd -m -s /bin/sh "$user"
as_user() { setpriv --reuid="$user" --regid="$user" --clear-groups --reset-env "$@"; }

ours="$(pwd)/pasta"
upstream=/usr/bin/pasta
gw=$(ip -4 route show default | awk '{ print $3; exit }')
hostaddr=$(ip -4 -o addr show scope global | awk '{ split($4, a, "/"); print a[1]; exit }')
port=5211

# gbps FILE: the receiver's rate from iperf3's JSON output, in Gbit/s.
gbps() {
	awk -F: '/"sum_received"/ { s = 1 } s && /"bits_per_second"/ { gsub(/[ ,]/, "", $2); printf "%.2f\n", $2 / 1e9; exit }' "$1"
}

# median of the numbers on stdin, with min and max.
stats() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit }
		printf "%.2f [%.2f-%.2f]", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

# run IMPL PATH MTU LEN: one measurement, printed in Gbit/s. iperf3 needs
# its TCP control connection on the same port as the UDP data.
run() {
	impl=$1 path=$2 mtu=$3 len=$4 f=$(mktemp)
	client="-u -b 0 -l $len -t $SECS -J"
	case $path in
	ns-host-tap)
		iperf3 -s -1 -B 127.0.0.1 -p $port >/dev/null 2>&1 &
		sleep 0.3
		as_user "$impl" --config-net -m "$mtu" -t none -u none -T none -U none -- \
			iperf3 -c "$gw" -p $port $client >"$f" 2>/dev/null || true
		wait ;;
	host-ns-tap)
		as_user "$impl" --config-net -m "$mtu" -t $port -u $port -T none -U none -- \
			iperf3 -s -1 -p $port >/dev/null 2>&1 &
		sleep 1.5
		iperf3 -c "$hostaddr" -p $port $client >"$f" 2>/dev/null || true
		wait ;;
	host-ns-splice)
		as_user "$impl" --config-net -m "$mtu" -t $port -u $port -T none -U none -- \
			iperf3 -s -1 -p $port >/dev/null 2>&1 &
		sleep 1.5
		iperf3 -c 127.0.0.1 -p $port $client >"$f" 2>/dev/null || true
		wait ;;
	ns-host-splice)
		iperf3 -s -1 -B 127.0.0.1 -p $((port + 1)) >/dev/null 2>&1 &
		sleep 0.3
		as_user "$impl" --config-net -m "$mtu" -t none -u none -T $((port + 1)) -U $((port + 1)) -- \
			iperf3 -c 127.0.0.1 -p $((port + 1)) $client >"$f" 2>/dev/null || true
		wait ;;
	loopback)
		iperf3 -s -1 -B 127.0.0.1 -p $port >/dev/null 2>&1 &
		sleep 0.3
		iperf3 -c 127.0.0.1 -p $port $client >"$f" 2>/dev/null || true
		wait ;;
	esac
	gbps "$f"
	rm -f "$f"
}

measure() {
	i=0
	while [ $i -lt "$RUNS" ]; do run "$@"; i=$((i + 1)); done | stats
}

ratio() { echo "$1 $2" | awk '{ if ($3 + 0 > 0) printf "%.2f", $1 / $3; else print "-" }'; }

{
	echo "# UDP throughput, Gbit/s received (median [min-max] of $RUNS runs of ${SECS}s, iperf3 -u -b 0)"
	echo
	echo "Host loopback ceiling: $(measure "$ours" loopback 0 1472) (1472-byte datagrams)," \
		"$(measure "$ours" loopback 0 65000) (65000)"
	echo
	echo "| path | MTU | datagram | passt-go pasta | Debian pasta | ratio |"
	echo "| --- | --- | --- | --- | --- | --- |"
	for path in ns-host-tap host-ns-tap host-ns-splice ns-host-splice; do
		for cfg in "65520 1472" "65520 65000" "1500 1472"; do
			set -- $cfg
			case $path in *splice) [ "$1" = 1500 ] && continue ;; esac
			a=$(measure "$ours" $path "$1" "$2")
			b=$(measure "$upstream" $path "$1" "$2")
			echo "| $path | $1 | $2 | $a | $b | $(ratio "$a" "$b") |"
		done
	done
} | tee "$OUT/udp.md"
