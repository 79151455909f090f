#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Install what the test suite needs, when missing: Debian packages (as root,
# with apt-get), rootlesskit (from the Go module proxy), Debian's cloud
# kernel unpacked for the QEMU test, and AppArmor 4.1's parser from Debian
# trixie unpacked for the profile check. Without root it only reports what
# is missing (and the tests that need it fail in CI).
set -eu

need=""
have() { command -v "$1" >/dev/null 2>&1; }
have ip       || need="$need iproute2"
have tcpdump  || need="$need tcpdump"
have ping     || need="$need iputils-ping"
have nsenter  || need="$need util-linux"
have socat    || need="$need socat"
have iperf3   || need="$need iperf3"
have busybox  || need="$need busybox-static"
have setpriv  || need="$need util-linux"
have newuidmap || need="$need uidmap"
have useradd  || need="$need passwd"
have qemu-system-x86_64 || need="$need qemu-system-x86"
have dhclient || need="$need isc-dhcp-client"
# The man page check, and the Debian package build.
have man      || need="$need man-db"
have dpkg-buildpackage || need="$need dpkg-dev"
have dh       || need="$need debhelper"
have dh_apparmor || need="$need dh-apparmor"

kdir=/var/cache/passt-go-test/kernel
kernel=yes
ls "$kdir"/boot/vmlinuz-* >/dev/null 2>&1 || kernel=no

# AppArmor 4.1's apparmor_parser (Debian trixie's build) with trixie's C
# library, unpacked, never installed: apparmor/apparmor_test.go runs it with
# trixie's own loader to validate the profiles.
aadir=/var/cache/passt-go-test/apparmor
aaparser=yes
[ -x "$aadir/usr/sbin/apparmor_parser" ] && [ -d "$aadir/etc/apparmor.d/abi" ] || aaparser=no

# rootlesskit, a client of pasta, from the Go module proxy.
gobin="$(go env GOPATH)/bin"
if ! [ -x "$gobin/rootlesskit" ] && command -v go >/dev/null 2>&1; then
	GOFLAGS= CGO_ENABLED=0 go install github.com/rootless-containers/rootlesskit/v2/cmd/rootlesskit@v2.3.6 ||
		echo "install-deps: could not install rootlesskit" >&2
fi

[ -z "$need" ] && [ "$kernel" = yes ] && [ "$aaparser" = yes ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing:$need $( [ $kernel = no ] && echo kernel) $( [ $aaparser = no ] && echo apparmor_parser) (run as root to install)" >&2
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if [ -n "$need" ]; then
	apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
if [ "$kernel" = no ] && [ "$(dpkg --print-architecture)" = amd64 ]; then
	pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ { print $2; exit }')
	tmp=$(mktemp -d)
	chmod 0755 "$tmp"
	if (cd "$tmp" && apt-get download -qq "$pkg" 2>/dev/null); then
		mkdir -p "$kdir"
		dpkg-deb -x "$tmp"/*.deb "$kdir"
	else
		echo "install-deps: could not download $pkg" >&2
	fi
	rm -rf "$tmp"
fi

# apt-get download from trixie through a temporary sources list and lists
# directory: the system's own sources and package lists stay as they are.
if [ "$aaparser" = no ]; then
	tmp=$(mktemp -d)
	chmod 0755 "$tmp"
	mkdir -p "$tmp/sources" "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/debs"
	cat >"$tmp/sources/trixie.sources" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	set -- -qq -o Dir::Etc::SourceList="$tmp/sources/none.list" \
		-o Dir::Etc::SourceParts="$tmp/sources" \
		-o Dir::State::Lists="$tmp/lists" -o Dir::Cache="$tmp/cache" \
		-o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false \
		-o APT::Sandbox::User=root
	if apt-get "$@" update &&
		(cd "$tmp/debs" && apt-get "$@" download apparmor libc6); then
		rm -rf "$aadir.new"
		mkdir -p "$aadir.new"
		for deb in "$tmp"/debs/*.deb; do
			dpkg-deb -x "$deb" "$aadir.new"
		done
		rm -rf "$aadir"
		mv "$aadir.new" "$aadir"
	else
		echo "install-deps: could not download apparmor from trixie" >&2
	fi
	rm -rf "$tmp"
fi
