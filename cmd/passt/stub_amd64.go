// SPDX-License-Identifier: GPL-2.0-or-later

package main

// haveEntryStub: this architecture has the entry point that joins a user
// namespace before the runtime starts (entry_amd64.s).
const haveEntryStub = true
