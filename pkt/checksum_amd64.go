// SPDX-License-Identifier: GPL-2.0-or-later

package pkt

import "golang.org/x/sys/cpu"

// haveVectorSum: sumWordsLE may be used (the CPU and the kernel support
// AVX2).
var haveVectorSum = cpu.X86.HasAVX2

// sumWordsLE returns the sum of the little-endian 16-bit words of b, whose
// length must be a multiple of 32 and at most vectorSumChunk, widened to
// 64 bits without folding. Implemented in checksum_amd64.s with AVX2.
//
//go:noescape
func sumWordsLE(b []byte) uint64
