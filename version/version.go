// SPDX-License-Identifier: GPL-2.0-or-later

// Package version holds the program version, set at link time by the Makefile
// (-X passt/version.Version=...), in upstream's YYYY_MM_DD.<shorthash> format.
package version

// Version is the version string printed by --version and in the log header.
var Version = "unknown"
