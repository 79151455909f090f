// SPDX-License-Identifier: GPL-2.0-or-later

//go:build !amd64

package pkt

// haveVectorSum: no vector sum on this architecture; Checksum is scalar.
const haveVectorSum = false

func sumWordsLE([]byte) uint64 { panic("pkt: no vector checksum on this architecture") }
