// SPDX-License-Identifier: GPL-2.0-or-later

// Package apparmor holds the AppArmor policy for passt and pasta; it has no
// Go code, only the profiles and the test that validates them.
//
// Theory of operation. The policy is written for AppArmor's 4.0 feature ABI
// (abi <abi/4.0>): that ABI mediates the creation of user namespaces, and
// both passt and pasta create them (passt detaches into a user namespace of
// its own, pasta creates one for the command it spawns), so the profiles
// allow it explicitly with a userns rule.
//
// The files, installed under /etc/apparmor.d by make install and by the
// Debian package:
//
//   - abstractions/passt: everything passt needs whoever confines it: the
//     re-execution of itself as the engine, the sandbox (mount namespace,
//     pivot_root into an empty tmpfs), host discovery over netlink, the
//     sockets it forwards with, the default socket path
//     /tmp/passt_N.socket. Not the tun device.
//   - abstractions/pasta: abstractions/passt plus what only pasta does: the
//     tun device and netlink configuration of the namespace, the namespaces
//     it attaches to (/proc/PID/ns, /run/netns, $XDG_RUNTIME_DIR), the
//     /proc tables that automatic forwarding scans, the ID maps and /proc
//     mount of a spawned command's namespaces, and the command itself.
//   - usr.bin.passt and usr.bin.pasta: the stand-alone profiles, attached
//     by path (/usr/bin or /usr/local/bin), that include the abstractions
//     and allow files named on the command line in /tmp, the home
//     directory and the runtime directory.
//
// pasta must be a hard link to passt, not a symbolic link: AppArmor resolves
// symbolic links before it attaches a profile by path, so only a hard link
// gives pasta a name, and a profile, of its own. A program that runs passt
// under its own confinement (libvirt) includes abstractions/passt in a
// subprofile; usr.bin.passt shows how, in a comment that the test parses.
//
// The test runs Debian trixie's apparmor_parser (AppArmor 4.1), unpacked by
// test/install-deps.sh and started with trixie's own dynamic loader, with
// -Q -K (compile only: this machine's kernel need not have AppArmor) and
// the 4.0 ABI as kernel features, so that every rule is compiled rather
// than reported as not enforced. Warnings count as errors.
package apparmor
