# SPDX-License-Identifier: GPL-2.0-or-later
#
# What the profiling scripts (test/bench-profile.sh, test/bench-passt-profile.sh)
# share; sourced, POSIX sh.

# profile_setup NAME: checks that we run as root (perf, namespaces) and
# installs perf and iperf3 if they are missing.
profile_setup() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "$1: run as root (perf, namespaces)" >&2
		exit 1
	fi
	need=""
	command -v perf >/dev/null 2>&1 || need="$need linux-perf"
	command -v iperf3 >/dev/null 2>&1 || need="$need iperf3"
	if [ -n "$need" ]; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
	fi
}

# profile_build OUT: builds OUT/passt with its symbol table (make's binary
# is stripped, and perf cannot name Go functions without it).
profile_build() {
	ldflags=""
	[ "$(go env GOARCH)" = amd64 ] && ldflags="-E main.pastaEntry"
	CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$1/passt" ./cmd/passt
}
