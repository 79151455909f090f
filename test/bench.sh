#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# make bench: this project's passt and pasta against Debian's passt package
# (upstream), slirp4netns and the host's loopback, in one run. It installs
# what it needs (as root, with apt-get), builds the helpers (test/benchrun,
# test/benchrr, test/shim) into a temporary directory with the passt
# binary, and runs test/benchrun, which measures and
# writes bench.json, bench.md and the charts bench-tcp.svg and
# bench-udp.svg. See test/benchrun's package comment for what is measured
# and how.
#
# Knobs (environment or make variables):
#   BENCH_RUNS=5          runs per figure (median, slowest and fastest are
#                         reported; issue 9 judges stability on 5 runs)
#   BENCH_TIME=2          seconds per iperf3 run
#   BENCH_RR_TIME=1       seconds per latency run
#   BENCH_STREAMS=1       iperf3 parallel streams
#   BENCH_STARTUP_RUNS=20 runs of pasta --config-net -- true
#   BENCH_STEADY_BUDGET=900 seconds the bench may spend waiting for the
#                         CPUs to come together and retaking runs taken
#                         while the hypervisor had them apart (see
#                         test/cacheprobe; the report counts them)
#   BENCH_ONLY=REGEXP     only the figures whose name matches (see the output)
#   BENCH_OUT=DIR         where the results go: docs/ for a full run; a
#                         shorter run (fewer than 3 runs, or 1-second runs)
#                         goes to build/bench/ unless BENCH_OUT says otherwise
# Smoke test: make bench BENCH_TIME=1 BENCH_RUNS=1 (about two minutes).
set -eu

if [ "$(id -u)" -ne 0 ]; then
	echo "bench: run as root: it installs packages and runs the tools in namespaces" >&2
	exit 1
fi

need=""
have() { command -v "$1" >/dev/null 2>&1; }
have iperf3      || need="$need iperf3"
{ [ -x /usr/bin/pasta ] && [ -x /usr/bin/passt ]; } || need="$need passt"
have slirp4netns || need="$need slirp4netns"
have hyperfine   || need="$need hyperfine"
have nsenter     || need="$need util-linux"
have ip          || need="$need iproute2"
have ping        || need="$need iputils-ping"
have useradd     || need="$need passwd"
if [ -n "$need" ]; then
	echo "bench: installing$need" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

# The tools run unprivileged, as podman and rootlesskit run them: that
# needs a tun device anyone may open, as on desktop distributions.
chmod 0666 /dev/net/tun
user=passt-test
id "$user" >/dev/null 2>&1 || useradd -m -s /bin/sh "$user"

runs=${BENCH_RUNS:-5}
secs=${BENCH_TIME:-2}
if [ -z "${BENCH_OUT:-}" ]; then
	BENCH_OUT=docs
	if [ "$runs" -lt 3 ] || [ "$secs" -lt 2 ]; then
		BENCH_OUT=build/bench
	fi
fi
export BENCH_OUT
mkdir -p "$BENCH_OUT"

# The unprivileged user runs the binaries: copy them where it can, whatever
# the permissions on the way to this checkout.
bin=$(mktemp -d /tmp/passt-bench-bin.XXXXXX)
trap 'rm -rf "$bin"' EXIT
chmod 0755 "$bin"
export CGO_ENABLED=0
for tool in benchrun benchrr shim; do
	go build -o "$bin/$tool" "./test/$tool"
done
cp passt "$bin/passt"
ln -f "$bin/passt" "$bin/pasta"

"$bin/benchrun" -pasta "$bin/pasta" -passt "$bin/passt" \
	-shim "$bin/shim" -benchrr "$bin/benchrr" -user "$user"
