#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Install the packages the test suite needs, when missing. Needs root for
# apt-get; without root it only reports what is missing (and the tests that
# need it fail in CI).
set -eu

need=""
have() { command -v "$1" >/dev/null 2>&1; }
have ip      || need="$need iproute2"
have tcpdump || need="$need tcpdump"
have ping    || need="$need iputils-ping"
have nsenter || need="$need util-linux"
have socat   || need="$need socat"
have iperf3  || need="$need iperf3"
have busybox || need="$need busybox-static"
have setpriv || need="$need util-linux"
have newuidmap || need="$need uidmap"
have useradd || need="$need passwd"

# rootlesskit, a client of pasta, from the Go module proxy.
gobin="$(go env GOPATH)/bin"
if ! [ -x "$gobin/rootlesskit" ] && command -v go >/dev/null 2>&1; then
	GOFLAGS= CGO_ENABLED=0 go install github.com/rootless-containers/rootlesskit/v2/cmd/rootlesskit@v2.3.6 ||
		echo "install-deps: could not install rootlesskit" >&2
fi

[ -z "$need" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$need (run as root to install)" >&2
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $need >/dev/null
