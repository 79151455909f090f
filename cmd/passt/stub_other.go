// SPDX-License-Identifier: GPL-2.0-or-later

//go:build !amd64

package main

// haveEntryStub: no entry point for this architecture yet, so pasta
// refuses to join an existing user namespace with a clear error.
const haveEntryStub = false
