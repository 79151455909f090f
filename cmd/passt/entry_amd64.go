// SPDX-License-Identifier: GPL-2.0-or-later

package main

// pastaEntry is implemented in entry_amd64.s; the reference keeps it linked.
func pastaEntry()

var _ = pastaEntry
